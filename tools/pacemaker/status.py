"""The cluster's status as ``crm_mon --output-as xml`` (and crm_simulate) describe it:
nodes, resource instances and failed actions. Pure parsing, no I/O."""

from __future__ import annotations

import html
from dataclasses import dataclass, fields

from havirt.tools.userinput import parse_xml
from lxml import etree


def _flags(cls: type, el: etree._Element) -> dict[str, bool]:
    """Every bool field of the dataclass ``cls``, from the attribute of its name."""
    return {f.name: el.get(f.name) == "true" for f in fields(cls) if f.type == "bool"}


@dataclass(frozen=True)
class NodeStatus:
    name: str
    id: str
    online: bool
    standby: bool
    standby_onfail: bool
    maintenance: bool
    pending: bool
    unclean: bool
    shutdown: bool
    is_dc: bool
    resources_running: int
    type: str  # member | remote | ping

    @classmethod
    def from_xml(cls, el: etree._Element) -> NodeStatus:
        return cls(
            name=el.get("name", ""),
            id=el.get("id", ""),
            **_flags(cls, el),
            resources_running=int(el.get("resources_running", "0")),
            type=el.get("type", "member"),
        )


@dataclass(frozen=True)
class ResourceStatus:
    """One resource instance: a primitive, or one instance of a clone (``parent``)."""

    id: str
    agent: str  # ocf:havirt:VirtualDomain, stonith:fence_xvm
    role: str  # Started, Stopped, Promoted, Unpromoted, Starting, Migrating, ...
    active: bool
    managed: bool
    failed: bool
    blocked: bool
    orphaned: bool
    nodes: tuple[str, ...]  # where it runs (more than one is a problem for a guest)
    parent: str | None = None  # the clone or group it belongs to
    pending: str | None = None  # an action in flight (record-pending): Migrating, Starting, ...

    @classmethod
    def from_xml(cls, el: etree._Element, parent: str | None) -> ResourceStatus:
        return cls(
            id=el.get("id", ""),
            agent=el.get("resource_agent", ""),
            role=el.get("role", ""),
            **_flags(cls, el),
            nodes=tuple(n.get("name", "") for n in el.findall("node")),
            parent=parent,
            pending=el.get("pending") or None,
        )


@dataclass(frozen=True)
class FailedAction:
    resource: str
    task: str  # start, stop, monitor, migrate_to, ...
    node: str
    interval_ms: int
    exitcode: int
    exitstatus: str  # "not running", "error", ...
    exitreason: str
    status: str  # complete, Timed Out, ...
    last_rc_change: str

    @classmethod
    def from_xml(cls, el: etree._Element) -> FailedAction:
        op_key = el.get("op_key", "")
        task = el.get("task", "")
        interval = int(el.get("interval", "0") or 0)
        # op_key is RESOURCE_TASK_INTERVAL; resource ids may contain "_".
        suffix = f"_{task}_{interval}"
        resource = op_key[: -len(suffix)] if op_key.endswith(suffix) else op_key
        return cls(
            resource=resource,
            task=task,
            node=el.get("node", ""),
            interval_ms=interval,
            exitcode=int(el.get("exitcode", "0") or 0),
            exitstatus=el.get("exitstatus", ""),
            exitreason=html.unescape(el.get("exitreason", "")),  # crm_mon escapes it twice
            status=el.get("status", ""),
            last_rc_change=el.get("last-rc-change", ""),
        )


@dataclass(frozen=True)
class ClusterStatus:
    nodes: tuple[NodeStatus, ...]
    resources: tuple[ResourceStatus, ...]
    failed_actions: tuple[FailedAction, ...]
    dc: str | None  # the designated controller's name, None when there is none
    quorum: bool | None  # None when crm_mon does not say (no DC)
    stonith_enabled: bool
    maintenance_mode: bool

    def node(self, name: str) -> NodeStatus | None:
        return next((n for n in self.nodes if n.name == name), None)

    @property
    def online(self) -> tuple[str, ...]:
        """The names of the nodes online."""
        return tuple(n.name for n in self.nodes if n.online)

    def resource(self, resource_id: str) -> ResourceStatus | None:
        """A primitive's status (its first instance), None if crm_mon does not list it."""
        return next(iter(self.instances(resource_id)), None)

    def instances(self, resource_id: str) -> tuple[ResourceStatus, ...]:
        """Every instance of a primitive or clone (by the primitive's or the clone's id)."""
        return tuple(r for r in self.resources if resource_id in (r.id, r.parent))

    def where(self, resource_id: str) -> tuple[str, ...]:
        """The nodes a resource (every instance of it) is active on, sorted."""
        nodes = {n for r in self.instances(resource_id) if r.active for n in r.nodes}
        return tuple(sorted(nodes))

    def running_on(self, node: str) -> tuple[ResourceStatus, ...]:
        return tuple(r for r in self.resources if r.active and node in r.nodes)


def _resources(parent_el: etree._Element) -> list[ResourceStatus]:
    out: list[ResourceStatus] = []
    for el in parent_el:
        if el.tag == "resource":
            out.append(ResourceStatus.from_xml(el, None))
        elif el.tag in ("clone", "group", "bundle"):
            out += [ResourceStatus.from_xml(r, el.get("id")) for r in el.iter("resource")]
    return out


def parse_status(xml: str) -> ClusterStatus:
    """A ClusterStatus from ``crm_mon --output-as xml`` (or crm_simulate's cluster_status)."""
    root = parse_xml(xml, "crm_mon's status")
    return status_from(root, root.find("summary"))


def status_from(section: etree._Element, summary: etree._Element | None) -> ClusterStatus:
    """The status in one section of a tool's result (crm_mon's whole result, or
    crm_simulate's cluster_status); ``summary`` has the DC and cluster options."""
    dc = summary.find("current_dc") if summary is not None else None
    options = summary.find("cluster_options") if summary is not None else None
    nodes_el = section.find("nodes")
    resources_el = section.find("resources")
    failures_el = section.find("failures")
    present = dc is not None and dc.get("present") == "true"
    return ClusterStatus(
        nodes=tuple(NodeStatus.from_xml(n) for n in (nodes_el if nodes_el is not None else [])),
        resources=tuple(_resources(resources_el) if resources_el is not None else []),
        failed_actions=tuple(
            FailedAction.from_xml(f) for f in (failures_el if failures_el is not None else [])
        ),
        dc=dc.get("name") if present and dc is not None else None,
        quorum=(dc.get("with_quorum") == "true") if present and dc is not None else None,
        stonith_enabled=options is not None and options.get("stonith-enabled") == "true",
        maintenance_mode=options is not None and options.get("maintenance-mode") == "true",
    )
