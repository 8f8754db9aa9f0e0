"""The checked inventory as plain, immutable values.

Every object keeps ``path``, its place in the inventory file, so that a rule
checked later (and ``havirt generate``) can point at the line that caused it.
Sizes are bytes, durations milliseconds. The Pacemaker ids that ``havirt
generate`` gives each object are defined here, once, so the loader can refuse
clashes before anything is generated.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from havirt.tools.inventory.kinds import Address
from havirt.tools.inventory.locate import Path

MIB = 1 << 20


def duration_text(ms: int) -> str:
    """Milliseconds as Pacemaker reads them: whole seconds as '10s', else '1500ms'."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def size_text(size: int) -> str:
    """Bytes as the largest whole binary unit: '2GiB', '1536MiB'."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


@dataclass(frozen=True)
class Fence:
    agent: str
    options: dict[str, str]
    path: Path = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Node:
    name: str
    nodeid: int  # corosync's nodeid, also the node's id in the CIB: its place in the list
    addresses: tuple[Address, ...]
    memory: int
    vcpus: int
    fence: Fence
    path: Path = field(default=(), compare=False, repr=False)

    @property
    def fence_id(self) -> str:
        return f"fence-{self.name}"

    @property
    def memory_mib(self) -> int:
        return self.memory // MIB


@dataclass(frozen=True)
class Storage:
    name: str
    type: str  # nfs | dir
    target: str
    server: str | None
    export: str | None
    mount_options: tuple[str, ...]
    managed: bool
    path: Path = field(default=(), compare=False, repr=False)

    @property
    def clustered(self) -> bool:
        """Whether Pacemaker keeps it mounted (a StoragePool clone)."""
        return self.type == "nfs" and self.managed

    @property
    def resource_id(self) -> str:
        return f"pool-{self.name}"

    @property
    def clone_id(self) -> str:
        return f"{self.resource_id}-clone"


@dataclass(frozen=True)
class Network:
    name: str
    bridge: str
    forward: str  # bridge | nat | route | isolated
    address: Address | None
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    domain: str | None
    path: Path = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Disk:
    size: int | None
    base_image: str | None
    pool: str | None


@dataclass(frozen=True)
class Guest:
    name: str
    vcpus: int
    memory: int
    config: str
    hypervisor: str
    disk: Disk | None
    mac: str | None
    ip: Address | None
    network: str | None
    hostgroups: tuple[str, ...]
    preferred_nodes: tuple[str, ...]
    anti_affinity: tuple[str, ...]
    storage: tuple[str, ...]  # names of the clustered storage it is ordered after
    migrate: bool
    params: dict[str, str]
    path: Path = field(default=(), compare=False, repr=False)

    @property
    def resource_id(self) -> str:
        return self.name

    @property
    def memory_mib(self) -> int:
        return -(-self.memory // MIB)  # rounded up: never claim less than the guest has


@dataclass(frozen=True)
class Policies:
    migration_transport: str
    ssh_user: str
    stickiness: int
    placement_strategy: str
    monitor_interval: int
    monitor_timeout: int
    start_timeout: int
    stop_timeout: int
    migrate_to_timeout: int
    migrate_from_timeout: int
    anti_affinity_score: str
    preferred_node_score: str
    fence_timeout: int | None = None  # seconds; None: Pacemaker's default


@dataclass(frozen=True)
class Cluster:
    name: str
    token: int | None
    properties: dict[str, str]
    # {property: {"value": ..., "reason": ...}}: set despite havirt's refusal.
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)

    def effective_properties(self) -> dict[str, str]:
        """The properties as the CIB gets them: ``properties`` then the overrides."""
        out = dict(self.properties)
        out.update({name: o["value"] for name, o in self.overrides.items()})
        return out


@dataclass(frozen=True)
class Inventory:
    source: str  # the file name, for messages and generated headers
    cluster: Cluster
    policies: Policies
    nodes: tuple[Node, ...]
    storage: tuple[Storage, ...]
    networks: tuple[Network, ...]
    guests: tuple[Guest, ...]
    definitions: str = ""  # the definition store's directory ([definitions] path)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def network(self, name: str) -> Network:
        return next(n for n in self.networks if n.name == name)

    @property
    def clustered_storage(self) -> tuple[Storage, ...]:
        return tuple(s for s in self.storage if s.clustered)

    def anti_affinity_groups(self) -> dict[str, tuple[Guest, ...]]:
        """Group name -> its guests, in inventory order; groups sorted by name."""
        groups: dict[str, list[Guest]] = {}
        for guest in self.guests:
            for group in guest.anti_affinity:
                groups.setdefault(group, []).append(guest)
        return {name: tuple(groups[name]) for name in sorted(groups)}

    def to_dict(self) -> dict[str, Any]:
        """The inventory with every default filled in, as JSON-ready data."""

        def plain(value: Any) -> Any:
            if isinstance(value, Address | ipaddress.IPv4Network | ipaddress.IPv6Network):
                return str(value)
            if isinstance(value, tuple | list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if hasattr(value, "__dataclass_fields__"):
                return {
                    k: plain(getattr(value, k)) for k in value.__dataclass_fields__ if k != "path"
                }
            return value

        data: dict[str, Any] = plain(self)
        return data
