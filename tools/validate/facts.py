"""What validate knows about one node, parsed from libvirt's XML and other
machine-readable output (pure functions: text in, values out).

A value that could not be read is None, and the reason is a
:class:`~havirt.tools.findings.Finding` in ``NodeFacts.problems`` (its code: the
check it prevents; its node is set by the engine); the checks skip None values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from havirt.tools.findings import Finding

POOL_FS_NS = "http://libvirt.org/schemas/storagepool/fs/1.0"


@dataclass(frozen=True)
class Network:
    name: str
    bridge: str | None
    forward: str  # forward mode; "isolated" without <forward>
    active: bool
    autostart: bool


@dataclass(frozen=True)
class Pool:
    name: str
    type: str
    source: tuple[tuple[str, str], ...]  # sorted (key, value) pairs
    target: str | None
    active: bool
    autostart: bool
    # The iSCSI initiator IQN the pool logs in with (<source><initiator><iqn name=...>); it
    # may differ per node, so the pools check does not compare it.
    initiator: str | None = None


ISCSI_POOL_TYPES = ("iscsi", "iscsi-direct")


@dataclass(frozen=True)
class Lun:
    """One data LUN of an iSCSI pool as a node sees it (libvirt volume ``unit:B:T:LUN``)."""

    number: int
    capacity: int | None  # bytes, as libvirt reports it (None: unreadable)
    key: str | None = None  # libvirt's volume key (a path naming portal, target and LUN)
    serial: str | None = None  # VPD page 0x80 (None: not read, e.g. no iscsi-inq)


@dataclass(frozen=True)
class Cpu:
    arch: str
    vendor: str | None
    model: str | None
    features: frozenset[str]
    xml: str  # the <cpu> element, for cpu-baseline

    @property
    def signature(self) -> tuple[Any, ...]:
        return (self.arch, self.vendor, self.model, tuple(sorted(self.features)))


@dataclass(frozen=True)
class GuestArch:
    """What a node's libvirt can run for one guest architecture (``virsh capabilities``)."""

    emulators: frozenset[str]
    machines: frozenset[str]  # names and their aliases ("pc" and "pc-i440fx-7.2")
    domain_types: frozenset[str]  # "qemu", and "kvm" where KVM is usable


@dataclass(frozen=True)
class GuestCpus:
    """The guest CPUs a node's hypervisor can give for one domain type and its host's
    architecture (``virsh domcapabilities --virttype TYPE``)."""

    arch: str
    usable: frozenset[str]  # custom mode's models usable here (their names and aliases)
    unsure: frozenset[str]  # models libvirt cannot tell (usable='unknown')
    known: frozenset[str]  # every model it names, usable or not
    modes: frozenset[str]  # the supported modes: "custom", "host-model", "host-passthrough"
    host_model: str | None = None  # the model host-model gives here


@dataclass(frozen=True)
class LockConfig:
    manager: str  # "none" when qemu.conf sets no lock_manager
    settings: tuple[tuple[str, str], ...]  # the lock driver's settings that must agree
    host_id: str | None = None  # sanlock's, must differ per node


@dataclass(frozen=True)
class Memory:
    total_kib: int
    available_kib: int
    guests_kib: tuple[tuple[str, int], ...]  # running guests' current memory

    @property
    def guests_total_kib(self) -> int:
        return sum(kib for _, kib in self.guests_kib)


@dataclass(frozen=True)
class Trust:
    """Whether this node reached ``peer`` non-interactively (qemu+ssh, then plain ssh)."""

    peer: str
    ok: bool
    answered: str | None = None  # the hostname the peer's libvirt gave
    libvirt_error: str | None = None
    ssh_ok: bool | None = None  # None when not tried (libvirt over SSH worked)
    ssh_error: str | None = None


@dataclass
class NodeFacts:
    name: str
    hostname: str | None = None
    host_uuid: str | None = None
    cpu: Cpu | None = None
    networks: dict[str, Network] | None = None
    pools: dict[str, Pool] | None = None
    versions: dict[str, str | None] | None = None  # None value: not installed
    resolution: dict[str, tuple[str, ...]] | None = None  # name -> addresses
    clock_offset: float | None = None  # seconds, node clock minus the controller's
    clock_uncertainty: float | None = None
    lock: LockConfig | None = None
    memory: Memory | None = None
    trust: dict[str, Trust] | None = None
    # guest -> the XML of its persistent definition (virsh dumpxml --inactive)
    definitions: dict[str, str] | None = None
    guest_arches: dict[str, GuestArch] | None = None  # arch -> what runs
    guest_cpus: dict[str, GuestCpus] | None = None  # domain type -> the CPUs it gives
    running: dict[str, str] | None = None  # running guests: UUID -> name
    bridges: frozenset[str] | None = None  # network bridges (interface type='bridge')
    paths: dict[str, bool] | None = None  # asked-for path -> exists on the node
    # iSCSI pool -> the data LUNs this node sees (active iscsi/iscsi-direct pools only)
    luns: dict[str, dict[int, Lun]] | None = None
    problems: list[Finding] = field(default_factory=list)  # what could not be read


# ---------------------------------------------------------------- parsers


def xml(text: str) -> Any:
    """Parse libvirt's XML (no entities, no network) into an lxml element; raises ValueError."""
    from lxml import etree  # here: `havirt --help` imports this module's types, not lxml

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        return etree.fromstring(text.strip().encode(), parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"malformed XML: {exc}") from None


def _tostring(element: Any) -> str:
    from lxml import etree

    return etree.tostring(element, encoding="unicode")


def names(text: str) -> list[str]:
    """Names printed one per line by ``virsh *-list --name``."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_network(text: str, active: bool, autostart: bool) -> Network:
    root = xml(text)
    forward = root.find("forward")
    mode = "isolated" if forward is None else forward.get("mode", "nat")
    bridge = root.find("bridge")
    return Network(
        name=root.findtext("name", "").strip(),
        bridge=bridge.get("name") if bridge is not None else None,
        forward=mode,
        active=active,
        autostart=autostart,
    )


def parse_pool(text: str, active: bool, autostart: bool) -> Pool:
    root = xml(text)
    source: dict[str, str] = {}
    src = root.find("source")
    if src is not None:
        hosts = [
            h.get("name", "") + (f":{h.get('port')}" if h.get("port") else "")
            for h in src.findall("host")
        ]
        if hosts:
            source["host"] = ",".join(hosts)
        devices = [d.get("path", "") for d in src.findall("device")]
        if devices:
            source["device"] = ",".join(devices)
        for tag, attr in (("dir", "path"), ("format", "type"), ("protocol", "ver")):
            element = src.find(tag)
            if element is not None and element.get(attr):
                source[tag if tag != "protocol" else "protocol_ver"] = element.get(attr)
        if src.findtext("name"):
            source["name"] = src.findtext("name").strip()
        adapter = src.find("adapter")
        if adapter is not None:
            source["adapter"] = ",".join(f"{k}={v}" for k, v in sorted(adapter.attrib.items()))
    options = root.findall(f"{{{POOL_FS_NS}}}mount_opts/{{{POOL_FS_NS}}}option")
    if options:
        source["mount_opts"] = ",".join(o.get("name", "") for o in options)
    iqn = root.find("source/initiator/iqn")
    return Pool(
        name=root.findtext("name", "").strip(),
        type=root.get("type", ""),
        source=tuple(sorted(source.items())),
        target=(root.findtext("target/path") or "").strip() or None,
        active=active,
        autostart=autostart,
        initiator=(iqn.get("name") or None) if iqn is not None else None,
    )


def iscsi_portal(pool: Pool) -> str | None:
    """``host:port`` of an iSCSI pool's first source host (port 3260 when none is set)."""
    host = dict(pool.source).get("host", "").split(",")[0]
    if not host:
        return None
    return host if ":" in host.rpartition("]")[2] else f"{host}:3260"


def iscsi_target(pool: Pool) -> str | None:
    """The target IQN of an iSCSI pool (its source device path)."""
    return dict(pool.source).get("device") or None


_UNIT = re.compile(r"^unit:\d+:\d+:(\d+)$")
_SERIAL = re.compile(r"Unit Serial Number:\[(.*)\]")


def lun_number(volume: str) -> int | None:
    """The LUN of an iSCSI pool's volume name ``unit:BUS:TARGET:LUN``, else None."""
    match = _UNIT.match(volume.strip())
    return int(match.group(1)) if match else None


def parse_lun_volume(text: str, serial_text: str | None = None) -> Lun | None:
    """A data LUN from ``virsh vol-dumpxml`` of an iSCSI pool's volume, and the serial
    from ``iscsi-inq -e 1 -c 128`` (VPD 0x80) when given; None for LUN 0 (the target's
    controller) and for volumes that are not LUNs. Raises ValueError on bad XML."""
    root = xml(text)
    number = lun_number(root.findtext("name") or "")
    if number is None or number == 0:
        return None
    capacity_text = (root.findtext("capacity") or "").strip()
    serial = None
    if serial_text:
        match = _SERIAL.search(serial_text)
        serial = match.group(1).strip() or None if match else None
    return Lun(
        number=number,
        capacity=int(capacity_text) if capacity_text.isdigit() else None,
        key=(root.findtext("key") or "").strip() or None,
        serial=serial,
    )


def parse_capabilities(text: str) -> tuple[str | None, Cpu | None]:
    """(host UUID, host CPU) from ``virsh capabilities``."""
    root = xml(text)
    uuid = (root.findtext("host/uuid") or "").strip() or None
    cpu_el = root.find("host/cpu")
    if cpu_el is None:
        return uuid, None
    cpu = Cpu(
        arch=(cpu_el.findtext("arch") or "").strip(),
        vendor=(cpu_el.findtext("vendor") or "").strip() or None,
        model=(cpu_el.findtext("model") or "").strip() or None,
        features=frozenset(f.get("name", "") for f in cpu_el.findall("feature")),
        xml=_tostring(cpu_el),
    )
    return uuid, cpu


def parse_guest_arches(text: str) -> dict[str, GuestArch]:
    """Each guest architecture's emulators, machine types and domain types from
    ``virsh capabilities`` (its ``<guest>`` elements; an arch may come in several)."""
    found: dict[str, tuple[set[str], set[str], set[str]]] = {}
    for arch in xml(text).findall("guest/arch"):
        emulators, machines, types = found.setdefault(arch.get("name", ""), (set(), set(), set()))
        for scope in (arch, *arch.findall("domain")):
            emulators.update(e.text.strip() for e in scope.findall("emulator") if e.text)
            for machine in scope.findall("machine"):
                machines.update(
                    m for m in ((machine.text or "").strip(), machine.get("canonical")) if m
                )
        types.update(d.get("type", "") for d in arch.findall("domain"))
    return {
        name: GuestArch(frozenset(e), frozenset(m), frozenset(t))
        for name, (e, m, t) in found.items()
    }


def parse_domcapabilities(text: str) -> tuple[str, GuestCpus]:
    """(domain type, the guest CPUs it gives) from ``virsh domcapabilities``."""
    root = xml(text)
    usable: set[str] = set()
    unsure: set[str] = set()
    known: set[str] = set()
    for model in root.findall("cpu/mode[@name='custom']/model"):
        # A model's name, and QEMU's versioned name of it where libvirt gives one.
        names = {n for n in ((model.text or "").strip(), model.get("canonical")) if n}
        known |= names
        chosen = {"yes": usable, "unknown": unsure}.get(model.get("usable", "unknown"))
        if chosen is not None:
            chosen |= names
    modes = {m.get("name", "") for m in root.findall("cpu/mode[@supported='yes']")}
    host_model = (root.findtext("cpu/mode[@name='host-model']/model") or "").strip() or None
    cpus = GuestCpus(
        arch=(root.findtext("arch") or "").strip(),
        usable=frozenset(usable),
        unsure=frozenset(unsure),
        known=frozenset(known),
        modes=frozenset(modes),
        host_model=host_model if "host-model" in modes else None,
    )
    return (root.findtext("domain") or "").strip(), cpus


def parse_uuid_names(text: str) -> dict[str, str]:
    """UUID -> name from ``virsh list --uuid --name`` ("UUID NAME" per line)."""
    found = {}
    for line in text.splitlines():
        uuid, _, name = line.strip().partition(" ")
        if uuid and name.strip():
            found[uuid.lower()] = name.strip()
    return found


def parse_present(text: str) -> dict[str, bool]:
    """``y PATH`` / ``n PATH`` lines (the probe's path test) -> path: exists."""
    return {line[2:]: line[0] == "y" for line in text.splitlines() if line[1:2] == " "}


_VIRSH_VERSION = {
    "libvirt": re.compile(r"^Using library: libvirt (\S+)", re.MULTILINE),
    "qemu": re.compile(r"^Running hypervisor: QEMU (\S+)", re.MULTILINE),
}


def parse_virsh_version(text: str) -> dict[str, str | None]:
    """libvirt and QEMU versions from ``virsh version`` (fixed English lines, LC_ALL=C)."""
    found = {}
    for key, pattern in _VIRSH_VERSION.items():
        match = pattern.search(text)
        found[key] = match.group(1) if match else None
    return found


def parse_pacemaker_version(text: str) -> str | None:
    """From ``pacemakerd --version --output-as=xml`` (or the plain text of older ones)."""
    if text.lstrip().startswith("<"):
        try:
            root = xml(text)
        except ValueError:
            return None
        element = root.find(".//version[@program='Pacemaker']")
        return element.get("version") if element is not None else None
    match = re.search(r"^Pacemaker (\S+)", text, re.MULTILINE)
    return match.group(1) if match else None


def parse_corosync_version(text: str) -> str | None:
    match = re.search(r"version '([^']+)'", text)
    return match.group(1) if match else None


def parse_getent_ahosts(text: str) -> tuple[str, ...]:
    """The addresses ``getent ahosts NAME`` printed, in order, each once."""
    seen: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] not in seen:
            seen.append(fields[0])
    return tuple(seen)


# Between the names given to one ``getent ahosts``: an address no host can have (0.0.0.0/8
# is "this network"), numeric, so that it always answers without a lookup; on an
# IPv6-only host getaddrinfo gives it back v4-mapped.
GETENT_SEPARATOR = "0.0.0.1"
_SEPARATOR_ANSWERS = (GETENT_SEPARATOR, "::ffff:" + GETENT_SEPARATOR)


def getent_keys(names: Sequence[str]) -> list[str]:
    """The keys of one ``getent ahosts`` resolving ``names``: each between separators."""
    keys = [GETENT_SEPARATOR]
    for name in names:
        keys += [name, GETENT_SEPARATOR]
    return keys


def parse_getent_keys(text: str, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each name's addresses from ``getent ahosts`` run on :func:`getent_keys`.

    getent prints nothing for a name it cannot resolve, so the answers are told
    apart by the separator's own answers around them: each starts with a line
    naming it (``0.0.0.1  STREAM 0.0.0.1``, its canonical name). Raises
    ValueError when the separators do not come back once per name plus one.
    """
    blocks: list[list[str]] = []  # what came after each separator
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] in _SEPARATOR_ANSWERS:
            if len(fields) >= 3:  # the canonical name: the separator's answer starts
                blocks.append([])
            continue
        if blocks:
            blocks[-1].append(line)
    if len(blocks) != len(names) + 1:
        raise ValueError(f"getent gave {len(blocks)} separator answers for {len(names)} names")
    answers = zip(names, blocks[:-1], strict=True)  # the last separator has nothing after it
    return {name: parse_getent_ahosts("\n".join(block)) for name, block in answers}


def parse_meminfo(text: str) -> tuple[int, int]:
    """(MemTotal, MemAvailable) in KiB from /proc/meminfo."""
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key.strip()] = int(parts[0])
    if "MemTotal" not in values or "MemAvailable" not in values:
        raise ValueError("no MemTotal/MemAvailable in /proc/meminfo")
    return values["MemTotal"], values["MemAvailable"]


def parse_domstats_balloon(text: str) -> tuple[tuple[str, int], ...]:
    """Running guests' ``balloon.current`` (KiB) from ``virsh domstats --balloon``."""
    guests: list[tuple[str, int]] = []
    current: str | None = None
    for line in text.splitlines():
        line = line.strip()
        match = re.match(r"^Domain: '(.*)'$", line)
        if match:
            current = match.group(1)
        elif current is not None and line.startswith("balloon.current="):
            value = line.partition("=")[2]
            if value.isdigit():
                guests.append((current, int(value)))
    return tuple(guests)


def parse_libvirt_conf(text: str) -> dict[str, str]:
    """``key = value`` settings of a libvirt config file (qemu.conf and friends).

    Strings lose their quotes; lists (possibly over several lines) are kept as
    their text. Commented-out settings are not settings.
    """
    settings: dict[str, str] = {}
    pending: tuple[str, list[str]] | None = None
    for raw in text.splitlines():
        line = _strip_comment(raw).strip()
        if pending is not None:
            pending[1].append(line)
            if "]" in line:
                settings[pending[0]] = " ".join(pending[1])
                pending = None
            continue
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", line)
        if not match:
            continue
        key, value = match.groups()
        if value.startswith("[") and "]" not in value:
            pending = (key, [value])
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        settings[key] = value
    return settings


def _strip_comment(line: str) -> str:
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:i]
    return line


# Settings of each lock driver that every node must share (sanlock's host_id must not).
LOCK_SETTINGS = {
    "lockd": (
        "auto_disk_leases",
        "require_lease_for_disks",
        "file_lockspace_dir",
        "lvm_lockspace_dir",
        "scsi_lockspace_dir",
    ),
    "sanlock": ("auto_disk_leases", "require_lease_for_disks", "disk_lease_dir", "user", "group"),
}


def lock_config(qemu_conf: str, driver_conf: str | None) -> LockConfig:
    """The lock manager of qemu.conf and the settings of its driver's config file."""
    manager = parse_libvirt_conf(qemu_conf).get("lock_manager", "") or "none"
    driver = parse_libvirt_conf(driver_conf or "")
    keys = LOCK_SETTINGS.get(manager, ())
    settings = tuple((key, driver[key]) for key in keys if key in driver)
    host_id = driver.get("host_id") if manager == "sanlock" else None
    return LockConfig(manager, settings, host_id)


def last_line(text: str) -> str:
    """The last non-empty line of a command's error output (its message)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
