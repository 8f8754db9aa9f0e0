"""The cluster as placement sees it: hosts with capacity, guests with their load.

Read from Pacemaker's own records, nothing else: the node and primitive
``utilization`` of the CIB configuration (the names ``havirt generate`` writes:
``cpu`` and ``hv_memory``, in vCPUs and MiB) and where crm_mon says each guest
runs. A guest is a primitive of type ``VirtualDomain``, whatever its provider
(``ocf:havirt:`` or the stock ``ocf:heartbeat:``), as tools/pacemaker/cib.py reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

from havirt.tools.errors import BadRequest
from havirt.tools.pacemaker import ClusterStatus, PacemakerAdapter
from havirt.tools.pacemaker.cib import parse_config

T = TypeVar("T")

DIMENSIONS = ("cpu", "hv_memory")  # what havirt generate declares, in this order


def _integers(values: Mapping[str, str]) -> dict[str, int]:
    """The integer utilization values (Pacemaker ignores the others too)."""
    out = {}
    for name, value in values.items():
        try:
            out[name] = int(value)
        except ValueError:
            continue
    return out


@dataclass(frozen=True)
class Host:
    name: str
    capacity: Mapping[str, int]  # empty when the node declares none
    online: bool
    standby: bool
    maintenance: bool

    @property
    def eligible(self) -> bool:
        """Pacemaker may place guests here."""
        return self.online and not self.standby and not self.maintenance


@dataclass(frozen=True)
class Guest:
    id: str
    utilization: Mapping[str, int]
    node: str | None  # where it runs; None when stopped (or running on several nodes)
    nodes: tuple[str, ...] = ()  # every node crm_mon lists it on
    managed: bool = True
    failed: bool = False

    @property
    def movable(self) -> bool:
        """Running on exactly one node, managed and healthy: a candidate for a move."""
        return self.node is not None and self.managed and not self.failed


@dataclass(frozen=True)
class Layout:
    hosts: tuple[Host, ...]
    guests: tuple[Guest, ...]
    attributes: Mapping[str, Mapping[str, str]] = field(
        default_factory=dict
    )  # node -> name -> value

    def host(self, name: str) -> Host | None:
        return next((h for h in self.hosts if h.name == name), None)

    def guest(self, guest_id: str) -> Guest | None:
        return next((g for g in self.guests if g.id == guest_id), None)

    def guests_on(self, node: str) -> tuple[Guest, ...]:
        return tuple(g for g in self.guests if node in g.nodes)

    def used(self, node: str) -> dict[str, int]:
        used = dict.fromkeys(DIMENSIONS, 0)
        for guest in self.guests_on(node):
            for name, value in guest.utilization.items():
                used[name] = used.get(name, 0) + value
        return used

    def free(self, node: str) -> dict[str, int]:
        host = self.host(node)
        capacity = host.capacity if host else {}
        used = self.used(node)
        return {name: capacity[name] - used.get(name, 0) for name in capacity}

    def fits(self, guest: Guest, node: str) -> bool:
        """The guest's declared load fits in the node's free capacity (as Pacemaker's
        utilization check: a dimension the node does not declare is not limited)."""
        free = self.free(node)
        return all(free.get(k, value) >= value for k, value in guest.utilization.items())

    def load(self, node: str) -> float:
        """The node's busiest dimension, as a share of its capacity (0.0 when none declared)."""
        host = self.host(node)
        if host is None or not host.capacity:
            return 0.0
        used = self.used(node)
        return max(used.get(k, 0) / cap if cap > 0 else 1.0 for k, cap in host.capacity.items())

    def moved(self, guest_id: str, node: str) -> Layout:
        """This layout with one guest running on ``node`` instead."""
        guests = tuple(
            replace(g, node=node, nodes=(node,)) if g.id == guest_id else g for g in self.guests
        )
        return replace(self, guests=guests)

    def require_host(self, name: str) -> Host:
        """The node of that name, or the BadRequest that lists the nodes."""
        return _found(self.host(name), "node", name, [h.name for h in self.hosts])

    def require_guest(self, name: str) -> Guest:
        """The guest of that id, or the BadRequest that lists the guests."""
        return _found(self.guest(name), "guest", name, [g.id for g in self.guests])

    @property
    def eligible(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts if h.eligible)


def layout_from(status: ClusterStatus, configuration_xml: str) -> Layout:
    """A Layout from crm_mon's status and the CIB's configuration section (or whole CIB)."""
    config = parse_config(configuration_xml)
    hosts = tuple(
        Host(
            name=n.name,
            capacity=_integers(config.node_capacity.get(n.name, {})),
            online=n.online,
            standby=n.standby,
            maintenance=n.maintenance,
        )
        for n in status.nodes
        if n.type == "member"
    )
    guests = []
    for prim in config.guests:
        where = status.where(prim.id)
        rsc = status.resource(prim.id)
        guests.append(
            Guest(
                id=prim.id,
                utilization=_integers(prim.utilization),
                node=where[0] if len(where) == 1 else None,
                nodes=where,
                managed=rsc.managed if rsc else True,
                failed=any(r.failed for r in status.instances(prim.id)),
            )
        )
    return Layout(hosts, tuple(sorted(guests, key=lambda g: g.id)), config.node_attributes)


def read_layout(pm: PacemakerAdapter) -> Layout:
    """The live (or CIB_file) cluster's layout: one crm_mon and one cibadmin call."""
    return layout_from(pm.status(), pm.cib_xml("configuration"))


def describe_load(values: Mapping[str, int]) -> str:
    """``cpu 2, hv_memory 512`` in a stable order."""
    names = [*[k for k in DIMENSIONS if k in values], *sorted(set(values) - set(DIMENSIONS))]
    return ", ".join(f"{k} {values[k]}" for k in names) or "nothing declared"


def _found(thing: T | None, kind: str, name: str, known: list[str]) -> T:
    """``thing``, the ``kind`` called ``name``; when there is none, the BadRequest that
    lists the ``known`` ones."""
    if thing is None:
        names = ", ".join(known) or "none"
        raise BadRequest(f"no {kind} {name!r} in the cluster", f"{kind}s: {names}")
    return thing
