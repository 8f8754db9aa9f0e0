"""Each cluster node as the records show it: its state in one word, its guests, what its
resources use of its capacity, and its libvirt's answer (pure, like :mod:`.join`)."""

from __future__ import annotations

from havirt.tools.pacemaker import NodeStatus
from havirt.tools.records.join import guest_resources
from havirt.tools.records.model import NodeRecord, Sources, Usage
from havirt.tools.records.scan import NodeScan


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
    guest_ids = {rid for rid, _ in guest_resources(sources)}
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
