"""The rules spanning an inventory's tables, checked on a well-typed document while it
becomes model objects: duplicate names/MACs/IPs, references to unknown nodes/networks/
storage, guests larger than any node, clashing Pacemaker ids, refused cluster options."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any

from havirt.ocf.errors import OcfError
from havirt.tools.inventory import model
from havirt.tools.inventory.cluster_options import (
    MAINTAINED_BY_PACEMAKER,
    PACEMAKER_CLUSTER_OPTIONS,
    SET_BY_HAVIRT,
    weakens_safety,
)
from havirt.tools.inventory.kinds import Address, Problems, did_you_mean
from havirt.tools.inventory.locate import Path, render_path
from havirt.tools.inventory.model import size_text
from havirt.tools.userinput import quote

# Set by havirt from the inventory itself; a guest's params may not override them.
GENERATED_PARAMS = {
    "config": "set config on the guest or in [guest_defaults]",
    "hypervisor": "set hypervisor on the guest or in [guest_defaults]",
    "migration_transport": "set migration_transport in [policies]",
}


def duplicates(
    problems: Problems,
    items: Iterable[tuple[Path, Any]],
    what: str,
) -> None:
    """Report every value seen before, naming where it was first."""
    seen: dict[Any, Path] = {}
    for path, value in items:
        if value is None:
            continue
        if value in seen:
            problems.error(path, f"duplicate {what} {value} (also at {render_path(seen[value])})")
        else:
            seen[value] = path


class Builder:
    """Turns the typed document into model objects, checking the cross-table rules."""

    def __init__(self, values: dict[str, Any], source: str, problems: Problems) -> None:
        self.v = values
        self.source = source
        self.problems = problems

    def build(self) -> model.Inventory:
        cluster = model.Cluster(**self.v["cluster"])
        policies = model.Policies(**self.v["policies"])
        nodes = self.nodes()
        storage = self.storage()
        networks = self.networks()
        guests = self.guests(nodes, storage, networks)
        self.capacity(nodes, guests)
        self.ids(nodes, storage, guests)
        self.cluster_properties(cluster, len(nodes))
        return model.Inventory(
            self.source,
            cluster,
            policies,
            nodes,
            storage,
            networks,
            guests,
            definitions=self.v["definitions"]["path"],
        )

    # -- nodes ---------------------------------------------------------------------------

    def nodes(self) -> tuple[model.Node, ...]:
        nodes = []
        for i, raw in enumerate(self.v["nodes"]):
            path = ("nodes", i)
            fence = model.Fence(raw["fence"]["agent"], raw["fence"]["options"], (*path, "fence"))
            nodes.append(
                model.Node(
                    raw["name"],
                    i + 1,
                    tuple(raw["addresses"]),
                    raw["memory"],
                    raw["vcpus"],
                    fence,
                    path,
                )
            )
        duplicates(self.problems, (((*n.path, "name"), n.name) for n in nodes), "node name")
        links = len(nodes[0].addresses)
        for node in nodes[1:]:
            if len(node.addresses) != links:
                self.problems.error(
                    (*node.path, "addresses"),
                    f"{len(node.addresses)} address(es) but {nodes[0].name} has {links}: "
                    "every node needs one address per corosync link",
                )
        if len(nodes) == 1:
            self.problems.warning(("nodes",), "one node only: nothing to fail over to")
        return tuple(nodes)

    # -- storage and networks ------------------------------------------------------------

    def storage(self) -> tuple[model.Storage, ...]:
        out = []
        for i, raw in enumerate(self.v["storage"]):
            path = ("storage", i)
            if raw["type"] == "nfs":
                for key in ("server", "export"):
                    if raw[key] is None:
                        self.problems.error(path, f"missing key '{key}': type nfs needs it")
            else:
                for key in ("server", "export"):
                    if raw[key] is not None:
                        self.problems.error((*path, key), f"'{key}' is only for type nfs")
                if raw["mount_options"]:
                    self.problems.error((*path, "mount_options"), "only for type nfs")
            out.append(
                model.Storage(
                    raw["name"],
                    raw["type"],
                    raw["target"],
                    raw["server"],
                    raw["export"],
                    tuple(raw["mount_options"]),
                    raw["managed"],
                    path,
                )
            )
        duplicates(self.problems, (((*s.path, "name"), s.name) for s in out), "storage name")
        duplicates(self.problems, (((*s.path, "target"), s.target) for s in out), "target")
        return tuple(out)

    def networks(self) -> tuple[model.Network, ...]:
        out = []
        for i, raw in enumerate(self.v["networks"]):
            path = ("networks", i)
            address: Address | None = raw["address"]
            subnet = raw["subnet"]
            if raw["forward"] == "bridge":
                if address is not None:
                    self.problems.error(
                        (*path, "address"),
                        "only for nat/route/isolated networks (the host's address on a "
                        "bridge network is the host's own business)",
                    )
            elif address is None or address.prefix is None:
                self.problems.error(
                    path if address is None else (*path, "address"),
                    f"a {raw['forward']} network needs address = 'HOST-IP/PREFIX'",
                )
            elif subnet is None:
                subnet = address.network
            elif address.ip not in subnet:
                self.problems.error((*path, "address"), f"{address.ip} is not in {subnet}")
            out.append(
                model.Network(
                    raw["name"], raw["bridge"], raw["forward"], address, subnet, raw["domain"], path
                )
            )
        duplicates(self.problems, (((*n.path, "name"), n.name) for n in out), "network name")
        duplicates(self.problems, (((*n.path, "bridge"), n.bridge) for n in out), "bridge")
        return tuple(out)

    # -- guests --------------------------------------------------------------------------

    def guests(
        self,
        nodes: tuple[model.Node, ...],
        storage: tuple[model.Storage, ...],
        networks: tuple[model.Network, ...],
    ) -> tuple[model.Guest, ...]:
        defaults = self.v["guest_defaults"]
        template = defaults["config"]
        store = self.v["definitions"]["path"]
        if template is not None and "{name}" not in template and len(self.v["guests"]) > 1:
            self.problems.error(
                ("guest_defaults", "config"),
                "needs {name} in it, or every guest would share one domain XML",
            )
        node_names = [n.name for n in nodes]
        networks_by_name = {n.name: n for n in networks}
        clustered = [s.name for s in storage if s.clustered]
        storage_names = [s.name for s in storage]
        out = []
        for i, raw in enumerate(self.v["guests"]):
            path = ("guests", i)
            config = raw["config"]
            if config is None and template is not None:
                config = template.replace("{name}", raw["name"])
            if config is None:  # the definition store's current file ([definitions] path)
                config = posixpath.join(store, raw["name"], "domain.xml")
            network = raw["network"]
            if network is None and networks and (raw["mac"] or raw["ip"]):
                network = networks[0].name
            self.refs(path, "preferred_nodes", raw["preferred_nodes"], node_names, "node")
            self.refs(path, "storage", raw["storage"], clustered, "managed NFS storage")
            if network is not None and raw["network"] is not None:
                self.refs(
                    path, "network", [network], list(networks_by_name), "network", index=False
                )
            if raw["ip"] is not None and network in networks_by_name:
                subnet = networks_by_name[network].subnet
                if subnet is not None and raw["ip"].ip not in subnet:
                    self.problems.error(
                        (*path, "ip"), f"{raw['ip']} is not in network {network} ({subnet})"
                    )
            disk = None
            if any(v is not None for v in raw["disk"].values()):
                disk = model.Disk(**raw["disk"])
                if disk.pool is not None:
                    self.refs(
                        (*path, "disk"), "pool", [disk.pool], storage_names, "storage", index=False
                    )
            self.params(path, raw["params"])
            out.append(
                model.Guest(
                    name=raw["name"],
                    vcpus=raw["vcpus"],
                    memory=raw["memory"],
                    config=config or "",
                    hypervisor=raw["hypervisor"] or defaults["hypervisor"],
                    disk=disk,
                    mac=raw["mac"],
                    ip=raw["ip"],
                    network=network,
                    hostgroups=tuple(raw["hostgroups"]),
                    preferred_nodes=tuple(raw["preferred_nodes"]),
                    anti_affinity=tuple(sorted(set(raw["anti_affinity"]))),
                    storage=tuple(raw["storage"]) if raw["storage"] else tuple(clustered),
                    migrate=raw["migrate"],
                    params=raw["params"],
                    path=path,
                )
            )
        p = self.problems
        duplicates(p, (((*g.path, "name"), g.name) for g in out), "guest name")
        duplicates(p, (((*g.path, "mac"), g.mac) for g in out), "MAC")
        duplicates(p, (((*g.path, "config"), g.config or None) for g in out), "domain XML")
        ips: list[tuple[Path, Any]] = [
            ((*n.path, "addresses", j), a.ip) for n in nodes for j, a in enumerate(n.addresses)
        ]
        ips += [((*n.path, "address"), n.address.ip) for n in networks if n.address]
        ips += [((*g.path, "ip"), g.ip.ip if g.ip else None) for g in out]
        duplicates(p, ips, "IP address")  # nodes, networks and guests share one space
        for group, members in self.groups(out).items():
            if len(members) == 1:
                p.error(
                    (*members[0].path, "anti_affinity"),
                    f"anti-affinity group {quote(group)} has only this guest: a typo? "
                    "(a group keeps its guests on different nodes)",
                )
        return tuple(out)

    @staticmethod
    def groups(guests: list[model.Guest]) -> dict[str, list[model.Guest]]:
        groups: dict[str, list[model.Guest]] = {}
        for guest in guests:
            for group in guest.anti_affinity:
                groups.setdefault(group, []).append(guest)
        return groups

    def refs(
        self,
        path: Path,
        key: str,
        names: Iterable[str],
        known: list[str],
        what: str,
        index: bool = True,
    ) -> None:
        for j, name in enumerate(names):
            if name not in known:
                where = (*path, key, j) if index else (*path, key)
                choices = ", ".join(known) or "none"
                self.problems.error(
                    where,
                    f"unknown {what} {quote(name)}{did_you_mean(name, known)} (known: {choices})",
                )

    def params(self, path: Path, params: dict[str, str]) -> None:
        from havirt.agents.guest.params import PARAMETERS

        by_name = {p.name: p for p in PARAMETERS}
        for name, value in params.items():
            where = (*path, "params", name)
            if name in GENERATED_PARAMS:
                self.problems.error(where, f"set by havirt: {GENERATED_PARAMS[name]}")
            elif name not in by_name:
                self.problems.error(
                    where,
                    f"ocf:havirt:VirtualDomain has no parameter {quote(name)}"
                    f"{did_you_mean(name, list(by_name))}",
                )
            else:
                try:
                    by_name[name].parse(value)
                except OcfError as exc:
                    self.problems.error(where, str(exc))

    # -- whole-cluster rules ---------------------------------------------------------------

    def capacity(self, nodes: tuple[model.Node, ...], guests: tuple[model.Guest, ...]) -> None:
        biggest_memory = max(nodes, key=lambda n: n.memory)
        biggest_cpus = max(nodes, key=lambda n: n.vcpus)
        for guest in guests:
            if guest.memory > biggest_memory.memory:
                self.problems.error(
                    (*guest.path, "memory"),
                    f"{size_text(guest.memory)} is more than any node offers "
                    f"(largest: {biggest_memory.name} with {size_text(biggest_memory.memory)})",
                )
            if guest.vcpus > biggest_cpus.vcpus:
                self.problems.error(
                    (*guest.path, "vcpus"),
                    f"{guest.vcpus} vCPUs are more than any node offers "
                    f"(largest: {biggest_cpus.name} with {biggest_cpus.vcpus})",
                )
        if len(nodes) < 2 or not guests:
            return
        need = sum(g.memory for g in guests)
        left = sum(n.memory for n in nodes) - biggest_memory.memory
        if need > left:
            self.problems.warning(
                ("guests",),
                f"the guests need {size_text(need)} but with {biggest_memory.name} down "
                f"the other nodes offer {size_text(left)}: not every guest can run after "
                "a node failure",
            )

    def cluster_properties(self, cluster: model.Cluster, node_count: int) -> None:
        """Refuse properties that would turn fencing or quorum off, or that havirt or
        Pacemaker set; accept them in [cluster.overrides] with a reason, and warn."""
        for name, value in cluster.properties.items():
            path = ("cluster", "properties", name)
            if name in SET_BY_HAVIRT:
                self.problems.error(path, f"{name} is set by havirt: {SET_BY_HAVIRT[name]}")
            elif name in MAINTAINED_BY_PACEMAKER:
                self.problems.error(path, f"{name} is maintained by Pacemaker: remove it")
            elif name not in PACEMAKER_CLUSTER_OPTIONS:
                known = sorted(PACEMAKER_CLUSTER_OPTIONS)
                self.problems.error(
                    path,
                    f"{quote(name)} is not a Pacemaker 2.1 cluster option"
                    f"{did_you_mean(name, known)}; "
                    "if your Pacemaker has it, set it in [cluster.overrides] with a reason",
                )
            elif danger := weakens_safety(name, value, node_count):
                self.problems.error(
                    path,
                    f"{name} = {quote(value)} refused: {danger}; if this cluster really needs it, "
                    f"set it in [cluster.overrides.{name}] with value and reason",
                )
        for name, override in cluster.overrides.items():
            path = ("cluster", "overrides", name)
            if name in cluster.properties:
                self.problems.error(
                    path, f"{name} is also in [cluster.properties]: keep one of the two"
                )
            elif name == "placement-strategy" or name in MAINTAINED_BY_PACEMAKER:
                why = SET_BY_HAVIRT.get(name, "it is maintained by Pacemaker")
                self.problems.error(path, f"{name} cannot be overridden: {why}")
            else:
                value = override["value"]
                danger = weakens_safety(name, value, node_count)
                what = danger or (
                    "not a Pacemaker 2.1 option"
                    if name not in PACEMAKER_CLUSTER_OPTIONS
                    else "set though havirt would refuse it"
                )
                self.problems.warning(
                    path,
                    f"OVERRIDE {name} = {value!r}: {what} (reason given: {override['reason']})",
                )

    def ids(
        self,
        nodes: tuple[model.Node, ...],
        storage: tuple[model.Storage, ...],
        guests: tuple[model.Guest, ...],
    ) -> None:
        """Pacemaker ids must be unique across guests, fence devices and pool clones."""
        taken: dict[str, str] = {}
        for node in nodes:
            taken[node.fence_id] = f"the fence device of node {node.name}"
        for s in storage:
            if s.clustered:
                taken[s.resource_id] = f"the pool resource of storage {s.name}"
                taken[s.clone_id] = f"the pool clone of storage {s.name}"
        for guest in guests:
            if guest.resource_id in taken:
                self.problems.error(
                    (*guest.path, "name"),
                    f"'{guest.name}' is the Pacemaker id of {taken[guest.resource_id]}: "
                    "rename the guest",
                )
