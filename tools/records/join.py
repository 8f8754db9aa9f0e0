"""Pacemaker's view and libvirt's, joined guest by guest.

Pure functions of :class:`~.model.Sources` (what :func:`havirt.tools.records.gather`
read): no I/O, no printing. A guest is a VirtualDomain resource (any provider)
with the libvirt domain its ``config`` file names, or a domain some node's
libvirt lists that no resource describes; each carries its flags (:mod:`.flags`).
"""

from __future__ import annotations

from dataclasses import replace

from havirt.tools.pacemaker import ResourceStatus
from havirt.tools.records.flags import loose_flags, resource_flags
from havirt.tools.records.model import (
    DomainListing,
    Guest,
    GuestIdentity,
    GuestLocation,
    RecordsError,
    Sources,
)
from havirt.tools.records.scan import LibvirtDomain


def guest_resources(sources: Sources) -> list[tuple[str, str]]:
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
    for rid, agent in guest_resources(sources):
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
        out.append(_loose_guest(name, loose[name]))
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
    unverified = tuple(n for n in pcmk if not sources.answered(n))
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
    return replace(guest, flags=resource_flags(sources, guest))


def _loose_guest(name: str, found: dict[str, LibvirtDomain]) -> Guest:
    guest = Guest(name=name, resource=None, uuid=next(iter(found.values())).uuid, libvirt=found)
    return replace(guest, flags=loose_flags(guest))


def guests_on(listing: DomainListing, node: str) -> DomainListing:
    """Only the guests Pacemaker or libvirt places on ``node`` (running or defined)."""
    if node not in listing.scans:
        raise RecordsError(
            f"no cluster node named {node}",
            hint=f"the cluster's nodes: {', '.join(listing.scans) or 'none'}",
        )
    kept = tuple(g for g in listing.guests if g.on(node))
    return DomainListing(kept, listing.scans, listing.maintenance_mode)


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
