"""Can every node run this guest? A domain XML judged against the facts validate's probe
collected on each node (pure: XML and facts in, findings out).

What is judged, per node:

- **hypervisor**: the domain type (``kvm`` needs KVM on the node), the architecture,
  the machine type and the emulator, against ``virsh capabilities``;
- **networks**: each ``<interface type='network'>``'s libvirt network is defined, and
  each ``<interface type='bridge'>``'s bridge exists;
- **disks**: a file disk lies inside a storage pool that every node defines at the same
  target path, and exists on the node; a block device exists on the node; a volume's
  pool is defined on the node (network disks are the storage server's business);
- **CPU**: a custom CPU model is usable on the node for the guest's domain type (``virsh
  domcapabilities``), a host-model or host-passthrough CPU supported there; a
  host-passthrough CPU across nodes whose CPUs differ is a warning (live migration);
- **memory**: the guest fits on at least one node, after the host's reserve;
- **identity**: no guest of that name or UUID runs on any node.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate.facts import GuestCpus, NodeFacts
from lxml import etree

UNITS = {
    "b": 1,
    "bytes": 1,
    "kb": 1000,
    "k": 1024,
    "kib": 1024,
    "mb": 1000**2,
    "m": 1024**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "g": 1024**3,
    "gib": 1024**3,
    "tb": 1000**4,
    "t": 1024**4,
    "tib": 1024**4,
}


@dataclass(frozen=True)
class Needs:
    """What a guest needs of a node, read from its domain XML."""

    name: str
    uuid: str
    domain_type: str
    arch: str | None
    machine: str | None
    emulator: str | None
    memory_kib: int
    vcpus: int = 1
    networks: tuple[str, ...] = ()
    bridges: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # file disks
    devices: tuple[str, ...] = ()  # block disks
    volume_pools: tuple[str, ...] = ()
    cpu_mode: str | None = None  # <cpu mode=...> ("custom" by default); None: no <cpu>
    cpu_model: str | None = None  # a custom CPU's <model>
    cpu_fallback: str = "allow"  # its fallback: "forbid" refuses any other model
    paths: tuple[str, ...] = field(init=False)  # what the probe must test on each node

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", self.files + self.devices)


def memory_kib(element: etree._Element | None) -> int:
    """A libvirt memory element in KiB (its unit, KiB by default); 0 when absent."""
    text = (element.text or "").strip() if element is not None else ""
    if element is None or not text:
        return 0
    factor = UNITS.get(element.get("unit", "KiB").lower())
    if factor is None:
        raise ValueError(f"unknown memory unit {element.get('unit')!r}")
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a whole number")
    return int(text) * factor // 1024


def read_needs(root: etree._Element) -> Needs:
    """What the (already checked) domain ``root`` needs of a node; ValueError when a
    value is unreadable."""
    os_type = root.find("os/type")
    try:
        memory = max(memory_kib(root.find("memory")), memory_kib(root.find("currentMemory")))
    except ValueError as exc:
        raise ValueError(f"<memory>: {exc}") from None

    def sources(kind: str, tag: str, attribute: str) -> tuple[str, ...]:
        found = []
        for device in root.findall(f"devices/{tag}"):
            source = device.find("source")
            if device.get("type") == kind and source is not None and source.get(attribute):
                found.append(source.get(attribute, ""))
        return tuple(dict.fromkeys(found))

    cpu_mode, cpu_model, cpu_fallback = _cpu(root)
    return Needs(
        name=(root.findtext("name") or "").strip(),
        uuid=(root.findtext("uuid") or "").strip().lower(),
        domain_type=root.get("type", ""),
        arch=os_type.get("arch") if os_type is not None else None,
        machine=os_type.get("machine") if os_type is not None else None,
        emulator=(root.findtext("devices/emulator") or "").strip() or None,
        memory_kib=memory,
        vcpus=_vcpus(root),
        networks=sources("network", "interface", "network"),
        bridges=sources("bridge", "interface", "bridge"),
        files=sources("file", "disk", "file"),
        devices=sources("block", "disk", "dev"),
        volume_pools=sources("volume", "disk", "pool"),
        cpu_mode=cpu_mode,
        cpu_model=cpu_model,
        cpu_fallback=cpu_fallback,
    )


def _cpu(root: etree._Element) -> tuple[str | None, str | None, str]:
    """The guest's CPU mode (None without <cpu>), a custom CPU's model and its fallback."""
    cpu = root.find("cpu")
    if cpu is None:
        return None, None, "allow"
    mode = cpu.get("mode", "custom")
    model = cpu.find("model")
    name = (model.text or "").strip() if model is not None else ""
    fallback = model.get("fallback", "allow") if model is not None else "allow"
    return mode, (name or None) if mode == "custom" else None, fallback


def _vcpus(root: etree._Element) -> int:
    text = (root.findtext("vcpu") or "1").strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"<vcpu>: {text!r} is not a whole number of at least 1")
    return int(text)


def shared_targets(facts: Mapping[str, NodeFacts]) -> dict[str, str]:
    """Pools every node defines with the same target path: name -> that path."""
    pools = [f.pools or {} for f in facts.values()]
    if not pools:
        return {}
    found = {}
    for name, pool in pools[0].items():
        targets = {p[name].target if name in p else None for p in pools}
        if len(targets) == 1 and pool.target:
            found[name] = pool.target
    return found


def _inside(path: str, directory: str) -> bool:
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    return os.path.commonpath([path, directory]) == directory


class _Found:
    """The findings about one guest, as they are made."""

    def __init__(self, guest: str) -> None:
        self.guest = guest
        self.findings: list[Finding] = []

    def __call__(
        self, code: str, node: str, item: str, message: str, fix: str, severity: str = ERROR
    ) -> None:
        self.findings.append(
            Finding(code, severity, message, fix, node=node, guest=self.guest, item=item)
        )


def judge_fit(
    needs: Needs,
    facts: Mapping[str, NodeFacts],
    reserve_mib: int = 1024,
    storage: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every reason a node cannot run the guest, each naming the node, what and the fix.
    ``storage``: the cluster's shared storage (name -> where every node mounts it, as
    the inventory says), shared as a libvirt pool every node defines is."""
    guest = needs.name
    finding = _Found(guest)
    shared = {**shared_targets(facts), **(storage or {})}
    for file in needs.files:
        if not any(_inside(file, target) for target in shared.values()):
            where = ", ".join(f"{n} at {t}" for n, t in sorted(shared.items())) or "none"
            finding(
                "disks",
                "*",
                f"disk {file}",
                f"{guest}'s disk {file} is outside the storage every node shares (shared: {where})",
                "move the disk into shared storage (the inventory's [[storage]], or a "
                "libvirt pool defined alike on every node)",
            )
    for node, f in facts.items():
        _judge_hypervisor(needs, node, f, finding)
        _judge_devices(needs, node, f, finding)
        for uuid, name in (f.running or {}).items():
            if name == guest or uuid == needs.uuid:
                what = f"a guest named {name}" if name == guest else f"the guest {name}"
                finding(
                    "identity",
                    node,
                    f"guest '{name}'",
                    f"{what} (UUID {uuid}) already runs on {node}",
                    "import a running guest (havirt domain import) instead of adding it, "
                    "or give the new guest another name and UUID",
                )
    _judge_cpu(needs, facts, finding)
    _judge_memory(needs, facts, reserve_mib, finding)
    return finding.findings


def _judge_hypervisor(needs: Needs, node: str, f: NodeFacts, finding: _Found) -> None:
    if f.guest_arches is None:
        return
    arch = needs.arch or (f.cpu.arch if f.cpu else None)
    caps = f.guest_arches.get(arch or "")
    if caps is None:
        finding(
            "hypervisor",
            node,
            f"arch {arch}",
            f"{node} runs no {arch} guests (it offers: {', '.join(sorted(f.guest_arches))})",
            f"install QEMU for {arch} on {node}, or change <os><type arch=...>",
        )
        return
    if needs.domain_type not in caps.domain_types:
        kvm = needs.domain_type == "kvm"
        finding(
            "hypervisor",
            node,
            f"domain type {needs.domain_type}",
            f"{node} cannot run domain type '{needs.domain_type}'"
            + (" (no KVM there)" if kvm else ""),
            f"enable KVM on {node}, or write <domain type='qemu'>"
            if kvm
            else f"write one of: {', '.join(sorted(caps.domain_types))}",
        )
    if needs.machine and needs.machine not in caps.machines:
        finding(
            "hypervisor",
            node,
            f"machine {needs.machine}",
            f"QEMU on {node} has no machine type '{needs.machine}'",
            "choose a machine type every node has (virsh capabilities), e.g. 'pc' or 'q35'",
        )
    if needs.emulator and needs.emulator not in caps.emulators:
        finding(
            "hypervisor",
            node,
            f"emulator {needs.emulator}",
            f"{node} has no emulator {needs.emulator}",
            f"use {', '.join(sorted(caps.emulators))}, or leave <emulator> out",
        )


# What a guest's devices name that a node must have: (code, the guest's names, the
# node's, the item, the message, the fix); {x} is the name, {node} the node.
_NAMED = (
    ("networks", "networks", "networks", "network '{x}'", "{node} has no libvirt network '{x}'",
     "define '{x}' on {node} as on the others (virsh net-define)"),
    ("networks", "bridges", "bridges", "bridge '{x}'", "{node} has no bridge '{x}'",
     "create the bridge '{x}' on {node}, or change the guest's interface"),
    ("disks", "volume_pools", "pools", "pool '{x}'", "{node} has no storage pool '{x}'",
     "define the pool '{x}' on {node} as on the others"),
)  # fmt: skip


def _judge_devices(needs: Needs, node: str, f: NodeFacts, finding: _Found) -> None:
    for code, wanted, present, item, message, fix in _NAMED:
        have = getattr(f, present)
        for x in getattr(needs, wanted):
            if have is not None and x not in have:
                texts = (t.format(x=x, node=node) for t in (item, message, fix))
                finding(code, node, *texts)
    for path in needs.paths:
        if f.paths is not None and not f.paths.get(path, True):
            finding(
                "disks",
                node,
                f"disk {path}",
                f"{needs.name}'s disk {path} does not exist on {node}",
                f"make {path} reachable on {node} (shared storage, the same device path)",
            )


# Common x86 CPU models, each vendor's most capable first: the ones named first, and the
# cluster's baseline the first of them that every node can give.
COMMON_MODELS = (
    "Icelake-Server",
    "Cascadelake-Server",
    "Skylake-Server",
    "Skylake-Client",
    "Broadwell",
    "Haswell",
    "IvyBridge",
    "SandyBridge",
    "Westmere",
    "Nehalem",
    "EPYC-Milan",
    "EPYC-Rome",
    "EPYC",
    "Opteron_G5",
    "Opteron_G4",
    "qemu64",
    "kvm64",
)
# Modes that give the guest the host's own CPU: a live migration needs alike CPUs.
HOST_CPU_MODES = ("host-passthrough", "maximum")


def _ordered(models: frozenset[str]) -> list[str]:
    return [m for m in COMMON_MODELS if m in models] + sorted(models - set(COMMON_MODELS))


def _few(models: frozenset[str], count: int = 5) -> str:
    ordered = _ordered(models)
    return (", ".join(ordered[:count]) + (", ..." if len(ordered) > count else "")) or "none"


def _guest_cpus(needs: Needs, f: NodeFacts) -> GuestCpus | None:
    """The CPUs the node gives guests of this domain type and architecture (None: unknown)."""
    cpus = (f.guest_cpus or {}).get(needs.domain_type)
    if cpus is None or (needs.arch is not None and cpus.arch != needs.arch):
        return None
    return cpus


def _baseline(offered: Mapping[str, GuestCpus]) -> str | None:
    """The models every node can give, the most capable first (None: none)."""
    common = frozenset.intersection(*(c.usable for c in offered.values()))
    if not common:
        return None
    first, *others = _ordered(common)
    also = f" (or: {_few(frozenset(others), 4)})" if others else ""
    return f"e.g. the cluster baseline {first}{also}"


def _judge_cpu(needs: Needs, facts: Mapping[str, NodeFacts], finding: _Found) -> None:
    offered = {node: c for node, f in facts.items() if (c := _guest_cpus(needs, f))}
    mode, model = needs.cpu_mode, needs.cpu_model
    if mode is None or (mode == "custom" and model is None) or not offered:
        return
    baseline = _baseline(offered)
    for node, cpus in offered.items():
        if mode == "custom" and model is not None:
            if model in cpus.usable | cpus.unsure:
                continue
            # A model QEMU does not know at all is replaced when the guest allows it; a
            # known one the host lacks features for fails to start either way.
            falls_back = model not in cpus.known and needs.cpu_fallback == "allow"
            finding(
                "cpu",
                node,
                f"CPU model {model}",
                f"{node} cannot give the guest CPU model {model} (usable here: "
                f"{_few(cpus.usable)})"
                + ("; libvirt may give another model instead" if falls_back else ""),
                f"choose a model every node has: {baseline}"
                if baseline
                else "no CPU model is usable on every node: use host-model",
                WARNING if falls_back else ERROR,
            )
        elif mode not in cpus.modes:
            finding(
                "cpu",
                node,
                f"CPU mode {mode}",
                f"{node} cannot give {needs.domain_type} guests the CPU mode {mode}",
                f"give the guest a CPU model every node has (<cpu mode='custom'>): {baseline}"
                if baseline
                else f"choose a CPU mode every node gives {needs.domain_type} guests",
            )
    if mode in HOST_CPU_MODES:
        _judge_host_cpus(needs, facts, finding)


def _judge_host_cpus(needs: Needs, facts: Mapping[str, NodeFacts], finding: _Found) -> None:
    """A guest given the host's CPU migrates live only between nodes with alike CPUs."""
    cpus = {node: f.cpu for node, f in facts.items() if f.cpu is not None}
    if len({c.signature for c in cpus.values()}) <= 1:
        return
    models = {c.model for c in cpus.values()}
    differ = (
        ", ".join(f"{node}: {c.model}" for node, c in sorted(cpus.items()))
        if len(models) > 1
        else f"all {next(iter(models))} with other features"
    )
    finding(
        "cpu",
        "*",
        f"CPU mode {needs.cpu_mode}",
        f"{needs.name}'s CPU mode {needs.cpu_mode} gives it each node's own CPU, and the "
        f"nodes' CPUs differ ({differ}): a live migration between them may fail",
        "give the guest a CPU model every node has (<cpu mode='custom'>), or host-model",
        WARNING,
    )


def _judge_memory(
    needs: Needs, facts: Mapping[str, NodeFacts], reserve_mib: int, finding: _Found
) -> None:
    room = {
        node: f.memory.total_kib - reserve_mib * 1024
        for node, f in facts.items()
        if f.memory is not None
    }
    if not room or needs.memory_kib <= max(room.values()):
        return
    largest = max(room, key=lambda n: room[n])
    finding(
        "memory",
        "*",
        "memory",
        f"{needs.name} needs {needs.memory_kib // 1024} MiB; the largest node, {largest}, has "
        f"{max(0, room[largest]) // 1024} MiB after the {reserve_mib} MiB reserve",
        "give the guest less memory (<memory>), or add a larger node",
    )
