"""Pacemaker's view and libvirt's, joined guest by guest and node by node; the flags.

Pure functions of :class:`Sources` (what :func:`havirt.tools.records.gather` read):
no I/O, no printing. A guest is a VirtualDomain resource (any provider) with the
libvirt domain its ``config`` file names, or a domain some node's libvirt lists
that no resource describes. What is wrong is said by :class:`Flag` values:

* ``two-nodes`` (error): libvirt runs the guest on more than one node (outside a
  live migration), or Pacemaker itself sees it active on more than one;
* ``outside-pacemaker`` (error): a domain runs that no cluster resource describes;
* ``disagree`` (error): Pacemaker has it started on a node whose libvirt does not
  run it, or libvirt runs it where Pacemaker does not know it;
* ``failed`` / ``blocked`` (error): Pacemaker marks the resource so;
* ``migrating`` (note): two copies, one of them the end of a live migration;
* ``unverified`` (note): Pacemaker has it on a node whose libvirt did not answer;
* ``failed-actions`` (note): failed operations Pacemaker still records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from havirt.tools.errors import HavirtError
from havirt.tools.pacemaker import ClusterStatus, NodeStatus, ResourceStatus
from havirt.tools.pacemaker.cib import CibConfig, Location
from havirt.tools.records.scan import LibvirtDomain, NodeScan

ERROR, NOTE = "error", "note"
TWO_NODES = "two-nodes"
OUTSIDE = "outside-pacemaker"
DISAGREE = "disagree"
FAILED = "failed"
BLOCKED = "blocked"
MIGRATING = "migrating"
UNVERIFIED = "unverified"
FAILED_ACTIONS = "failed-actions"


class RecordsError(HavirtError):
    """The records cannot answer (an unknown guest or node, a cluster that does not answer)."""


@dataclass(frozen=True)
class Flag:
    code: str
    severity: str  # ERROR or NOTE
    message: str
    hint: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


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
    flags: tuple[Flag, ...] = ()
    identity_problem: str | None = None

    @property
    def running_on(self) -> tuple[str, ...]:
        return tuple(n for n, d in self.libvirt.items() if d.active)

    @property
    def defined_on(self) -> tuple[str, ...]:
        return tuple(n for n, d in self.libvirt.items() if d.persistent)

    @property
    def errors(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.severity == ERROR)

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
            "flags": [f.to_dict() for f in self.flags],
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
            "nodes": [_scan_summary(s) for s in self.scans.values()],
            "flagged": len(self.flagged),
            "complete": self.complete,
            "maintenance_mode": self.maintenance_mode,
        }


def _scan_summary(scan: NodeScan) -> dict[str, object]:
    data = scan.to_dict()
    del data["domains"]
    return data


# -- guests -------------------------------------------------------------------------------


def _guest_resources(sources: Sources) -> list[tuple[str, str]]:
    """(resource id, agent) of every guest resource: configured, or orphaned in crm_mon."""
    found = [(p.id, p.agent) for p in sources.config.guests]
    known = {rid for rid, _ in found}
    for r in sources.status.resources:
        if r.agent.endswith(":VirtualDomain") and r.id not in known:
            found.append((r.id, r.agent))
            known.add(r.id)
    return found


def _matches(domain: LibvirtDomain, ident: GuestIdentity) -> bool:
    if ident.uuid:
        return domain.uuid == ident.uuid
    return domain.name == ident.domain


def guests(sources: Sources) -> DomainListing:
    """Every guest: the cluster's guest resources, then the domains libvirt runs or defines
    that no resource describes, each with its flags."""
    claimed: set[tuple[str, str]] = set()  # (node, uuid) of the domains resources describe
    out: list[Guest] = []
    for rid, agent in _guest_resources(sources):
        ident = sources.identities.get(rid) or GuestIdentity(rid, rid)
        found = {
            node: d
            for node, scan in sources.scans.items()
            if scan.ok
            for d in scan.domains
            if _matches(d, ident)
        }
        claimed.update((node, d.uuid) for node, d in found.items())
        out.append(_resource_guest(sources, rid, agent, ident, found))
    loose: dict[str, dict[str, LibvirtDomain]] = {}
    for node, scan in sources.scans.items():
        for d in scan.domains if scan.ok else ():
            if (node, d.uuid) not in claimed:
                loose.setdefault(d.name, {})[node] = d
    for name in sorted(loose):
        out.append(_loose_guest(sources, name, loose[name]))
    return DomainListing(tuple(out), sources.scans, sources.status.maintenance_mode)


def _resource_guest(
    sources: Sources,
    rid: str,
    agent: str,
    ident: GuestIdentity,
    found: dict[str, LibvirtDomain],
) -> Guest:
    status = sources.status
    rsc: ResourceStatus | None = status.resource(rid)
    pcmk = status.where(rid)
    role = rsc.role if rsc else "Stopped"
    unverified = tuple(n for n in pcmk if not _answered(sources, n))
    guest = Guest(
        name=ident.domain,
        resource=rid,
        agent=agent,
        config=ident.config,
        uuid=ident.uuid or next((d.uuid for d in found.values()), None),
        role=role,
        pacemaker_nodes=pcmk,
        managed=rsc.managed if rsc else None,
        failed=bool(rsc and any(i.failed for i in status.instances(rid))),
        blocked=bool(rsc and rsc.blocked),
        libvirt=found,
        unverified=unverified,
        identity_problem=ident.problem,
    )
    return _replace_flags(guest, _resource_flags(sources, guest))


def _answered(sources: Sources, node: str) -> bool:
    scan = sources.scans.get(node)
    return scan is not None and scan.ok


def _nodes(names: tuple[str, ...] | list[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def _resource_flags(sources: Sources, g: Guest) -> list[Flag]:
    flags: list[Flag] = []
    rid = g.resource or g.name
    running = g.running_on
    pcmk = g.pacemaker_nodes
    migrating = g.role == "Migrating" or (
        len(running) > 1 and any(g.libvirt[n].migrating for n in running)
    )
    if len(pcmk) > 1:
        flags.append(
            Flag(
                TWO_NODES,
                ERROR,
                f"Pacemaker sees it active on {_nodes(pcmk)}",
                "Pacemaker recovers a multiply-active resource by its multiple-active policy "
                "(default: stop every copy, start one); follow it with crm_mon",
            )
        )
    if migrating and len(running) > 1:
        states = ", ".join(f"{n} ({g.libvirt[n].state}/{g.libvirt[n].reason})" for n in running)
        flags.append(Flag(MIGRATING, NOTE, f"live migration in progress: {states}"))
    elif len(running) > 1:
        known = [n for n in running if n in pcmk]
        behind = f"; Pacemaker knows only the copy on {_nodes(known)}" if known else ""
        rogue = [n for n in running if n not in pcmk]
        flags.append(
            Flag(
                TWO_NODES,
                ERROR,
                f"libvirt runs it on {_nodes(running)}{behind}",
                f"two copies write the same disks: stop the one Pacemaker does not manage "
                f"now (on {_nodes(rogue or running)}: virsh destroy {g.name}), then "
                f"'crm_resource --refresh -r {rid}'",
            )
        )
    if not migrating:
        for node in pcmk:
            if _answered(sources, node) and node not in running:
                there = g.libvirt.get(node)
                what = f"has it {there.state}" if there else "does not know it"
                flags.append(
                    Flag(
                        DISAGREE,
                        ERROR,
                        f"Pacemaker has it started on {node}, but libvirt there {what}",
                        f"let Pacemaker look again: crm_resource --refresh -r {rid} "
                        f"(pcs resource refresh {rid})",
                    )
                )
        if len(running) == 1 and running[0] not in pcmk:
            where = f"on {_nodes(pcmk)}" if pcmk else f"{(g.role or 'stopped').lower()}"
            flags.append(
                Flag(
                    DISAGREE,
                    ERROR,
                    f"libvirt runs it on {running[0]}, but Pacemaker has it {where}",
                    f"let Pacemaker look again: crm_resource --refresh -r {rid} "
                    f"(pcs resource refresh {rid})",
                )
            )
    for node in g.unverified:
        flags.append(
            Flag(UNVERIFIED, NOTE, f"Pacemaker has it on {node}, whose libvirt did not answer")
        )
    if g.failed:
        flags.append(
            Flag(
                FAILED,
                ERROR,
                "Pacemaker marks the resource failed",
                f"fix the cause (crm_mon --failcounts), then pcs resource cleanup {rid}",
            )
        )
    if g.blocked:
        flags.append(
            Flag(
                BLOCKED,
                ERROR,
                "Pacemaker cannot act on the resource (blocked: a stop failed without fencing)",
                "see crm_mon; fix the node, then pcs resource cleanup " + rid,
            )
        )
    failures = [f for f in sources.status.failed_actions if f.resource == rid]
    if failures:
        text = "; ".join(
            f"{f.task} on {f.node}: {f.exitstatus or f.exitcode}"
            + (f" ({f.exitreason})" if f.exitreason else "")
            for f in failures
        )
        flags.append(
            Flag(FAILED_ACTIONS, NOTE, f"failed actions: {text}", f"pcs resource cleanup {rid}")
        )
    return flags


def _loose_guest(sources: Sources, name: str, found: dict[str, LibvirtDomain]) -> Guest:
    guest = Guest(name=name, resource=None, uuid=next(iter(found.values())).uuid, libvirt=found)
    running = guest.running_on
    flags: list[Flag] = []
    if running:
        flags.append(
            Flag(
                OUTSIDE,
                ERROR,
                f"runs on {_nodes(running)} outside Pacemaker's knowledge (no cluster "
                "resource describes this domain)",
                f"make it a cluster resource (pcs resource create {name} "
                "ocf:havirt:VirtualDomain config=FILE ...) or stop it; if a resource "
                "runs it under another name, that resource's config file names another domain",
            )
        )
    if len(running) > 1:
        flags.append(Flag(TWO_NODES, ERROR, f"libvirt runs it on {_nodes(running)}"))
    return _replace_flags(guest, flags)


def _replace_flags(guest: Guest, flags: list[Flag]) -> Guest:
    from dataclasses import replace

    return replace(guest, flags=tuple(flags))


def guests_on(listing: DomainListing, node: str) -> DomainListing:
    """Only the guests Pacemaker or libvirt places on ``node`` (running or defined)."""
    if node not in listing.scans:
        raise RecordsError(
            f"no cluster node named {node}",
            hint=f"the cluster's nodes: {', '.join(listing.scans) or 'none'}",
        )
    kept = tuple(g for g in listing.guests if g.on(node))
    return DomainListing(kept, listing.scans, listing.maintenance_mode)


# -- one guest ----------------------------------------------------------------------------


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
            "nodes": [_scan_summary(s) for s in self.scans.values()],
        }


def locate(sources: Sources, name: str) -> GuestLocation:
    """Where one guest (a resource id, a domain name or a UUID) runs and is defined."""
    listing = guests(sources)
    wanted = name.lower()
    guest = next(
        (
            g
            for g in listing.guests
            if name in (g.resource, g.name) or (g.uuid is not None and g.uuid == wanted)
        ),
        None,
    )
    if guest is None:
        silent = [s.node for s in sources.unreachable]
        unheard = f" (not asked: libvirt of {', '.join(silent)} did not answer)" if silent else ""
        raise RecordsError(
            f"no guest named {name}: no VirtualDomain resource has that id or domain name, "
            f"and no node's libvirt knows a domain of that name{unheard}",
            hint="'havirt domain list' shows every guest",
        )
    locations = sources.config.locations_of(guest.resource) if guest.resource else ()
    return GuestLocation(guest, locations, sources.scans)


# -- nodes --------------------------------------------------------------------------------


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
        return {
            "name": self.name,
            "id": self.id,
            "state": self.state,
            "is_dc": self.is_dc,
            "guests": list(self.guests),
            "resources_running": self.resources_running,
            "utilization": {
                k: {"capacity": u.capacity, "used": u.used} for k, u in self.utilization.items()
            },
            "libvirt": {**_scan_summary(self.libvirt), "running": list(self.libvirt_running)},
        }


def node_state(node: NodeStatus) -> str:
    """One word for the state an admin acts on, the most serious first."""
    if node.unclean:
        return "unclean"
    if not node.online:
        return "pending" if node.pending else "offline"
    if node.maintenance:
        return "maintenance"
    if node.standby:
        return "standby (on-fail)" if node.standby_onfail else "standby"
    if node.shutdown:
        return "shutting down"
    return "online"


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def nodes(sources: Sources) -> tuple[NodeRecord, ...]:
    """Each cluster node: state, guests, capacity and what its resources use, libvirt."""
    status, config = sources.status, sources.config
    guest_ids = {rid for rid, _ in _guest_resources(sources)}
    names = sorted({k for p in config.primitives.values() for k in p.utilization})
    names += sorted({k for c in config.node_capacity.values() for k in c} - set(names))
    records = []
    for node in status.nodes:
        running = status.running_on(node.name)
        used = {k: 0 for k in names}
        for r in running:
            primitive = config.primitives.get(r.id)
            for key, value in (primitive.utilization if primitive else {}).items():
                used[key] += _int(value) or 0
        capacity = config.node_capacity.get(node.name, {})
        records.append(
            NodeRecord(
                name=node.name,
                id=node.id,
                state=node_state(node),
                is_dc=node.is_dc,
                guests=tuple(r.id for r in running if r.id in guest_ids),
                resources_running=node.resources_running,
                utilization={k: Usage(_int(capacity.get(k)), used[k]) for k in names},
                libvirt=sources.scans.get(node.name) or NodeScan(node.name, "", asked=False),
            )
        )
    return tuple(records)
