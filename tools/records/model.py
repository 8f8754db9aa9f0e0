"""What the records are made of and what they answer: the sources read once, each
guest as Pacemaker and libvirt see it, each node, and their JSON forms (no logic
beyond properties; the joining is :mod:`.join` and :mod:`.nodes`, the flags
:mod:`.flags`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from havirt.tools.errors import HavirtError
from havirt.tools.findings import ERROR, Finding, of_severity
from havirt.tools.json_fields import fields_dict
from havirt.tools.pacemaker import ClusterStatus
from havirt.tools.pacemaker.cib import CibConfig, Location
from havirt.tools.records.scan import LibvirtDomain, NodeScan


class RecordsError(HavirtError):
    """The records cannot answer (an unknown guest or node, a cluster that does not answer)."""


@dataclass(frozen=True)
class GuestIdentity:
    """Which libvirt domain a resource runs: from its config file, else its id."""

    resource: str
    domain: str
    uuid: str | None = None
    config: str | None = None
    problem: str | None = None  # why the config file could not tell (the id is used)


@dataclass(frozen=True)
class Sources:
    """Everything the records are made of, read once."""

    status: ClusterStatus
    config: CibConfig
    identities: Mapping[str, GuestIdentity]  # resource id -> identity
    scans: Mapping[str, NodeScan]  # every cluster node, asked or not
    local: str | None = None  # the node this runs on

    @property
    def unreachable(self) -> tuple[NodeScan, ...]:
        return tuple(s for s in self.scans.values() if s.asked and not s.ok)

    @property
    def not_asked(self) -> tuple[NodeScan, ...]:
        return tuple(s for s in self.scans.values() if not s.asked)

    def answered(self, node: str) -> bool:
        """Whether ``node``'s libvirt was asked and answered."""
        scan = self.scans.get(node)
        return scan is not None and scan.ok


@dataclass(frozen=True)
class Guest:
    name: str  # the libvirt domain name
    resource: str | None  # None: no cluster resource describes it
    agent: str | None = None
    config: str | None = None
    uuid: str | None = None
    role: str | None = None  # Pacemaker's (Started, Stopped, Migrating, ...)
    pacemaker_nodes: tuple[str, ...] = ()
    managed: bool | None = None
    failed: bool = False
    blocked: bool = False
    libvirt: Mapping[str, LibvirtDomain] = field(default_factory=dict)  # node -> its domain
    unverified: tuple[str, ...] = ()  # nodes whose libvirt did not answer
    flags: tuple[Finding, ...] = ()  # what is wrong (ERROR) or worth knowing (NOTE)
    identity_problem: str | None = None

    @property
    def running_on(self) -> tuple[str, ...]:
        return tuple(n for n, d in self.libvirt.items() if d.active)

    @property
    def defined_on(self) -> tuple[str, ...]:
        return tuple(n for n, d in self.libvirt.items() if d.persistent)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return of_severity(self.flags, ERROR)

    def on(self, node: str) -> bool:
        return node in self.pacemaker_nodes or node in self.libvirt

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "resource": self.resource,
            "agent": self.agent,
            "config": self.config,
            "uuid": self.uuid,
            "pacemaker": None
            if self.resource is None
            else {
                "role": self.role,
                "nodes": list(self.pacemaker_nodes),
                "managed": self.managed,
                "failed": self.failed,
                "blocked": self.blocked,
            },
            "libvirt": {
                "running_on": list(self.running_on),
                "defined_on": list(self.defined_on),
                "unverified_on": list(self.unverified),
                "nodes": {n: d.to_dict() for n, d in self.libvirt.items()},
            },
            "flags": [f.to_dict("code", "severity", "message") for f in self.flags],
            "identity_problem": self.identity_problem,
        }


@dataclass(frozen=True)
class DomainListing:
    guests: tuple[Guest, ...]
    scans: Mapping[str, NodeScan]
    maintenance_mode: bool = False

    @property
    def flagged(self) -> tuple[Guest, ...]:
        return tuple(g for g in self.guests if g.errors)

    @property
    def unreachable(self) -> tuple[NodeScan, ...]:
        return tuple(s for s in self.scans.values() if s.asked and not s.ok)

    @property
    def complete(self) -> bool:
        """Every node asked answered (offline nodes are not asked unless --all-nodes)."""
        return not self.unreachable

    def to_dict(self) -> dict[str, object]:
        return {
            "guests": [g.to_dict() for g in self.guests],
            "nodes": [scan_summary(s) for s in self.scans.values()],
            "flagged": len(self.flagged),
            "complete": self.complete,
            "maintenance_mode": self.maintenance_mode,
        }


def scan_summary(scan: NodeScan) -> dict[str, object]:
    data = scan.to_dict()
    del data["domains"]
    return data


@dataclass(frozen=True)
class GuestLocation:
    guest: Guest
    locations: tuple[Location, ...]
    scans: Mapping[str, NodeScan]

    def to_dict(self) -> dict[str, object]:
        return {
            **self.guest.to_dict(),
            "location_constraints": [
                {
                    "id": c.id,
                    "resource": c.rsc,
                    "node": c.node,
                    "score": c.score,
                    "rule": c.rule,
                    "role": c.role,
                    "origin": c.origin,
                }
                for c in self.locations
            ],
            "nodes": [scan_summary(s) for s in self.scans.values()],
        }


@dataclass(frozen=True)
class Usage:
    capacity: int | None  # from the node's utilization in the CIB; None: not declared
    used: int  # the sum of the utilization of the resources active on the node


@dataclass(frozen=True)
class NodeRecord:
    name: str
    id: str
    state: str  # online, standby, maintenance, offline, unclean, pending, ...
    is_dc: bool
    guests: tuple[str, ...]  # guest resources Pacemaker has active here
    resources_running: int
    utilization: Mapping[str, Usage]
    libvirt: NodeScan

    @property
    def libvirt_running(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.libvirt.domains if d.active)

    def to_dict(self) -> dict[str, object]:
        utilization = {k: asdict(u) for k, u in self.utilization.items()}
        libvirt = {**scan_summary(self.libvirt), "running": list(self.libvirt_running)}
        return fields_dict(self, values={"utilization": utilization, "libvirt": libvirt})
