"""A fake node behind the validate session seam.

:class:`FakeNode` answers the scripts :mod:`havirt.tools.validate.probe` sends
as a real node's ``sh`` would: it reads the sections (``s KEY SNIPPET``) and the
trust probes (``j I URI DEST &``) out of the script, answers each from its
state, and frames the answers with the script's own boundary. Tests change the
state (networks, resolution, ...) to plant a mismatch.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass, field

from havirt.ocf.runner import CommandResult
from havirt.tools.validate.facts import GETENT_SEPARATOR
from havirt.tools.validate.targets import Target

CPU_XML = """<cpu>
  <arch>x86_64</arch>
  <model>{model}</model>
  <vendor>Intel</vendor>
  {features}
</cpu>"""

FEATURES = ("vmx", "avx2", "aes")


GUEST_XML = """<guest><os_type>hvm</os_type><arch name='x86_64'>
  <emulator>/usr/bin/qemu-system-x86_64</emulator>
  <machine maxCpus='255'>pc-i440fx-7.2</machine>
  <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>
  <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>
  <machine maxCpus='288'>pc-q35-7.2</machine>
  <domain type='qemu'/>{kvm}
</arch></guest>"""


def caps_xml(uuid: str, model: str = "Skylake-Client", features=FEATURES, kvm: bool = True) -> str:
    cpu = CPU_XML.format(
        model=model, features="\n  ".join(f"<feature name='{f}'/>" for f in features)
    )
    guest = GUEST_XML.format(kvm="<domain type='kvm'/>" if kvm else "")
    return f"<capabilities><host><uuid>{uuid}</uuid>{cpu}</host>{guest}</capabilities>"


def domcaps_xml(
    domain: str, usable=("qemu64",), unusable=(), modes=("custom",), arch: str = "x86_64"
) -> str:
    """``virsh domcapabilities``, its CPUs only: ``modes`` supported, ``usable`` models."""
    host_passthrough, host_model, custom = (
        f"<mode name='{m}' supported='{'yes' if m in modes else 'no'}'/>"
        for m in ("host-passthrough", "host-model", "custom")
    )
    models = "".join(f"<model usable='yes'>{m}</model>" for m in usable) + "".join(
        f"<model usable='no'>{m}</model>" for m in unusable
    )
    custom = custom.replace("/>", f">{models}</mode>")
    return (
        f"<domainCapabilities><domain>{domain}</domain><arch>{arch}</arch>"
        f"<cpu>{host_passthrough}{host_model}{custom}</cpu></domainCapabilities>"
    )


def net_xml(name: str, bridge: str = "br0", mode: str | None = "bridge") -> str:
    forward = f"<forward mode='{mode}'/>" if mode else ""
    return f"<network><name>{name}</name>{forward}<bridge name='{bridge}'/></network>"


def pool_xml(name: str, target: str = "/srv/pool", host: str = "nfs1", opts=()) -> str:
    mount = ""
    if opts:
        options = "".join(f"<fs:option name='{o}'/>" for o in opts)
        mount = f"<fs:mount_opts>{options}</fs:mount_opts>"
    return (
        "<pool type='netfs' xmlns:fs='http://libvirt.org/schemas/storagepool/fs/1.0'>"
        f"<name>{name}</name><source><host name='{host}'/><dir path='/export'/>"
        f"<format type='nfs'/></source><target><path>{target}</path></target>{mount}</pool>"
    )


VIRSH_VERSION = """Compiled against library: libvirt 9.0.0
Using library: libvirt {libvirt}
Using API: QEMU 9.0.0
Running hypervisor: QEMU {qemu}
"""


@dataclass
class FakeNode:
    """One node's state, as the commands validate runs would see it."""

    name: str
    address: str
    uuid: str
    hostname: str | None = None
    libvirt_up: bool = True
    libvirt: str = "9.0.0"
    qemu: str = "7.2.0"
    pacemaker: str | None = "2.1.5"
    corosync: str | None = "3.1.7"
    cpu_model: str = "Skylake-Client"
    cpu_features: tuple[str, ...] = FEATURES
    networks: dict[str, tuple[str, bool, bool]] = field(default_factory=dict)  # xml, act, auto
    pools: dict[str, tuple[str, bool, bool]] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)  # name -> address (resolution)
    qemu_conf: str | None = "# defaults\n"  # None: permission denied
    lockd_conf: str = ""
    meminfo_kib: tuple[int, int] = (16 * 1024 * 1024, 12 * 1024 * 1024)
    guests: dict[str, int] = field(default_factory=dict)  # running guest -> KiB
    clock_skew: float = 0.0
    unreachable_peers: dict[str, str] = field(default_factory=dict)  # peer -> ssh error
    libvirt_only_fails: set[str] = field(default_factory=set)  # peers: ssh ok, libvirt not
    answers_as: dict[str, str] = field(default_factory=dict)  # peer -> hostname answering
    baseline: str | None = None  # what virsh cpu-baseline prints
    domains: dict[str, str] = field(default_factory=dict)  # persistent guest -> its XML
    running: dict[str, str] = field(default_factory=dict)  # running guest -> its UUID
    kvm: bool = True  # whether libvirt offers domain type 'kvm'
    # The guest CPUs each domain type gives (virsh domcapabilities); None: no answer.
    cpu_models: tuple[str, ...] | None = ("qemu64", "kvm64", "Nehalem", "Skylake-Client")
    cpu_modes: tuple[str, ...] = ("custom", "host-model", "host-passthrough")
    bridges: tuple[str, ...] = ("br0",)
    files: tuple[str, ...] = ()  # paths that exist (the probe's path test)
    commands: list[str] = field(default_factory=list)

    # -- virsh

    def virsh(self, command: str) -> tuple[str, str]:
        """(stdout, stderr) of one virsh batch command."""
        if not self.libvirt_up:
            return "", "error: failed to connect to the hypervisor\n"
        verb, *args = command.split()
        if verb == "echo":
            return " ".join(args) + "\n", ""
        listings = {"net-list": self.networks, "pool-list": self.pools}
        if verb in listings:
            objects = listings[verb]
            if "--autostart" in args:
                chosen = [n for n, (_, _, auto) in objects.items() if auto]
            elif "--all" in args:
                chosen = list(objects)
            else:
                chosen = [n for n, (_, act, _) in objects.items() if act]
            return "".join(f"{n}\n" for n in chosen) + "\n", ""
        dumps = {"net-dumpxml": self.networks, "pool-dumpxml": self.pools}
        if verb in dumps:
            name = shlex.split(command.split(" ", 1)[1])[0]
            if name in dumps[verb]:
                return dumps[verb][name][0] + "\n", ""
            return "", f"error: no such object '{name}'\n"
        if verb == "list" and "--uuid" in args:
            return "".join(f"{u} {n}\n" for n, u in self.running.items()) + "\n", ""
        if verb == "list" and "--persistent" in args:
            return "".join(f"{n}\n" for n in self.domains) + "\n", ""
        if verb == "dumpxml" and args[:1] == ["--inactive"]:
            name = shlex.split(command.split(" ", 2)[2])[0]
            if name in self.domains:
                return self.domains[name] + "\n", ""
            return "", f"error: failed to get domain '{name}'\n"
        if verb == "capabilities":
            return caps_xml(self.uuid, self.cpu_model, self.cpu_features, self.kvm), ""
        if verb == "domcapabilities":
            virttype = args[args.index("--virttype") + 1]
            if self.cpu_models is None or (virttype == "kvm" and not self.kvm):
                return "", "error: unsupported configuration: virttype not supported\n"
            return domcaps_xml(virttype, self.cpu_models, ("Skylake-Server",), self.cpu_modes), ""
        if verb == "hostname":
            return (self.hostname or self.name) + "\n", ""
        if verb == "version":
            return VIRSH_VERSION.format(libvirt=self.libvirt, qemu=self.qemu), ""
        if verb == "domstats":
            text = "".join(
                f"Domain: '{g}'\n  balloon.current={kib}\n\n" for g, kib in self.guests.items()
            )
            return text, ""
        return "", f"error: unknown command '{verb}'\n"

    def virsh_batch(self, batch: str) -> tuple[str, str]:
        out, err = [], []
        for command in batch.split("; "):
            o, e = self.virsh(command)
            out.append(o)
            err.append(e)
        return "".join(out), "".join(err)

    # -- shell snippets

    def snippet(self, text: str) -> tuple[str, int, str]:
        """(stdout, rc, stderr) of one section's snippet."""
        if text.startswith("timeout "):  # bounded(...): the command after the limit
            text = text.split(" ", 4)[4]
            if text.startswith("sh -c "):
                text = shlex.split(text)[2]
        if text.startswith("cd /sys/class/net"):
            return "".join(f"{b}\n" for b in self.bridges), 0, ""
        if text.startswith("for p in "):
            asked = shlex.split(text[len("for p in ") : text.index("; do")])
            return "".join(f"{'y' if p in self.files else 'n'} {p}\n" for p in asked), 0, ""
        words = shlex.split(text)
        if words[:3] == ["virsh", "-c", "qemu:///system"]:
            out, err = self.virsh_batch(words[3])
            return out, 0 if self.libvirt_up else 1, err
        if words[:2] == ["getent", "ahosts"]:  # as glibc's: nothing for an unknown name
            out, rc = "", 0
            for key in words[2:]:
                address = key if key == GETENT_SEPARATOR else self.hosts.get(key)
                if address is None:
                    rc = 2
                    continue
                out += f"{address}      STREAM {key}\n{address}      DGRAM  \n"
            return out, rc, ""
        if words[:2] == ["cat", "/proc/meminfo"]:
            total, available = self.meminfo_kib
            return f"MemTotal: {total} kB\nMemFree: 1 kB\nMemAvailable: {available} kB\n", 0, ""
        if words[:2] == ["cat", "/etc/libvirt/qemu.conf"]:
            if self.qemu_conf is None:
                denied = "cat: /etc/libvirt/qemu.conf: Permission denied\nsudo: not found\n"
                return "", 127, denied
            return self.qemu_conf, 0, ""
        if words[:2] == ["cat", "/etc/libvirt/qemu-lockd.conf"]:
            return self.lockd_conf, 0, ""
        if words[0] == "cat":
            return "", 1, f"cat: {words[1]}: No such file or directory\n"
        if words[0] == "pacemakerd":
            if self.pacemaker is None:
                return "", 127, "sh: 1: pacemakerd: not found\n"
            return (
                f'<pacemaker-result><version program="Pacemaker" version="{self.pacemaker}"/>'
                "</pacemaker-result>\n",
                0,
                "",
            )
        if words[0] == "corosync":
            if self.corosync is None:
                return "", 127, "sh: 1: corosync: not found\n"
            return f"Corosync Cluster Engine, version '{self.corosync}'\n", 0, ""
        return "", 127, f"sh: 1: {words[0]}: not found\n"

    # -- trust probes

    def probe(self, uri: str) -> tuple[tuple[str, int, str], tuple[str, int, str] | None]:
        peer = uri.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
        if peer in self.unreachable_peers:
            error = self.unreachable_peers[peer]
            return ("", 1, f"error: Cannot recv data: {error}\n"), ("", 255, error + "\n")
        if peer in self.libvirt_only_fails:
            return ("", 1, "error: failed to connect to the hypervisor\n"), ("", 0, "")
        return (self.answers_as.get(peer, peer) + "\n", 0, ""), None


def frame(boundary: str, key: str, out: str, rc: int, err: str) -> str:
    return f"{boundary} out {key}\n{out}\n{boundary} end {key} {rc}\n{err}\n"


class FakeSession:
    """Runs probe's scripts against a FakeNode (the validate session seam)."""

    def __init__(self, node: FakeNode, user: str = "root", now=lambda: 1000.0) -> None:
        self.node = node
        self.user = user
        self.port = 22
        self.now = now
        self.closed = False

    def run(self, command: str, timeout: float) -> CommandResult:
        self.node.commands.append(command)
        argv = (command,)
        if command == "date +%s.%N":
            return CommandResult(argv, 0, f"{self.now() + self.node.clock_skew:.6f}\n", "")
        script = shlex.split(command)[2] if command.startswith("sh -c ") else ""
        lines = script.split("\n")
        if "cpu-baseline" in script:
            if self.node.baseline is None:
                return CommandResult(argv, 1, "", "error: no baseline\n")
            return CommandResult(argv, 0, self.node.baseline, "")
        boundary = next((shlex.split(line)[0][2:] for line in lines if line.startswith("b=")), None)
        if boundary is None:
            return CommandResult(argv, 127, "", "fake: unknown command\n")
        out = []
        for line in lines:
            if line.startswith("s "):
                _, key, snippet = shlex.split(line)
                out.append(frame(boundary, key, *self.node.snippet(snippet)))
            elif line.startswith("j "):  # a wave: j I URI DEST & j ... & wait
                words = shlex.split(line)
                for i, word in enumerate(words):
                    if word == "j":
                        index, uri = words[i + 1], words[i + 2]
                        virsh, ssh = self.node.probe(uri)
                        out.append(frame(boundary, f"v{index}", *virsh))
                        if ssh is not None:
                            out.append(frame(boundary, f"s{index}", *ssh))
        return CommandResult(argv, 0, "".join(out), "")

    def close(self) -> None:
        self.closed = True


class ConnectFailed(Exception):
    def __init__(self, kind: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.kind, self.message, self.fix = kind, message, fix


class FakeConnector:
    """Connects to FakeNodes by target name; ``refuse`` maps a name to a ConnectFailed."""

    def __init__(self, nodes: dict[str, FakeNode], user: str = "root") -> None:
        self.nodes = nodes
        self.user = user
        self.refuse: dict[str, ConnectFailed] = {}
        self.sessions: list[FakeSession] = []
        self.barrier: threading.Barrier | None = None  # to prove connections run in parallel
        # The engine's clocks (it takes them from its connector): fixed, never the host's.
        self.now = 1_700_000_000.0
        self.clock = lambda: 1000.0
        self.wall_clock = lambda: self.now

    def connect(self, target: Target) -> FakeSession:
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        if target.name in self.refuse:
            raise self.refuse[target.name]
        # The nodes' clocks run on the engine's wall clock (plus each node's skew).
        session = FakeSession(self.nodes[target.name], target.user or self.user, self.wall_clock)
        self.sessions.append(session)
        return session


def cluster(count: int = 3, **overrides) -> tuple[list[Target], dict[str, FakeNode]]:
    """``count`` alike nodes: a network 'lan', a pool 'shared', everyone resolvable."""
    targets, nodes = [], {}
    names = [f"node{i + 1}" for i in range(count)]
    addresses = {n: f"10.0.0.{11 + i}" for i, n in enumerate(names)}
    for i, name in enumerate(names):
        targets.append(Target(name, addresses[name], "root"))
        nodes[name] = FakeNode(
            name,
            addresses[name],
            uuid=f"00000000-0000-0000-0000-00000000000{i + 1}",
            networks={"lan": (net_xml("lan"), True, True)},
            pools={"shared": (pool_xml("shared"), True, True)},
            hosts=dict(addresses),
            **overrides,
        )
    return targets, nodes
