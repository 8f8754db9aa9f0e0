"""Simulated hypervisor hosts ("nodes") with real libvirt daemons, on one machine.

A :class:`Lab` is a set of :class:`LibvirtNode` objects plus a "switch"
network namespace holding a bridge. Each node is:

* a network namespace ``hvl-<lab>-<node>`` with ``lo`` and ``eth0`` (a veth
  whose peer is a port of the switch bridge), address ``<subnet>.(11+i)``;
* a mount + UTS namespace kept alive by a holder process (``sleep infinity``
  started through ``ip netns exec ... unshare --mount --uts``), with its own
  hostname and node-private bind mounts of /run, /var/lib/libvirt,
  /etc/libvirt, /var/cache/libvirt, /var/log, /etc/hostname, /etc/hosts, a
  tmpfs on /dev/shm, /dev/kvm hidden (so libvirt does not re-probe QEMU on
  every define), and the lab's shared directory (a stand-in for NFS) at the
  same path on every node;
* ``virtlogd -d`` and ``libvirtd -d --listen`` (TCP without auth on the
  node's address only, a distinct ``host_uuid`` so that migration between
  nodes is allowed; the read-write socket open to the ``libvirt`` group);
* with ``Lab(lock_manager=True)`` (the default), libvirt's lock manager:
  ``lock_manager = "lockd"`` in the node's qemu.conf, a qemu-lockd.conf with
  automatic disk leases whose lockspace is ``lockspace/`` in the shared
  directory, and ``virtlockd -d`` started before libvirtd. The nodes share one
  kernel, so the fcntl locks the nodes' virtlockd daemons take on the
  lockspace files conflict exactly as they would on NFS: a second start of a
  running guest's disk on another node is refused ("resource busy"). (For
  image files, QEMU's own image locks, which the nodes share too, refuse such
  a start even earlier; leases are what guards block devices and storage
  whose locks QEMU cannot see across hosts.)
* an sshd on the node's address with its own host key, and node-private
  /etc/ssh, /root/.ssh, /home, /etc/passwd, /etc/group, /etc/shadow so that
  nodes trust each other as root and as a non-root ``havirt`` user (see
  :mod:`.ssh`). The host reaches the nodes from ``lab.controller``, a network
  namespace on the lab's switch; ``lab.ssh`` has the key and known_hosts paths.

There is no PID namespace: a node's processes are those whose network
namespace is the node's. Everything lives under ``<base_dir>/<lab name>``;
:meth:`Lab.down` kills those processes by PID, deletes the namespaces and
removes that directory, and works from any process, after a partial
:meth:`Lab.up` too.

Typical use::

    with Lab("demo") as lab:
        node1 = lab.nodes["node1"]
        node1.virsh("list", "--all")
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid as uuidlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

from havirt.agents import qemu_processes

from . import nsutil
from . import ssh as lab_ssh
from .proc import LabError, Namespaced, Result, checked, run, spawn

DEFAULT_BASE_DIR = Path("/var/lib/havirt-lab")
DEFAULT_CACHE_DIR = Path("/var/cache/havirt-lab")
CAPS_SEED = "libvirt-qemu-capabilities"  # under the cache dir
CAPS_DIR = "var-cache-libvirt/qemu/capabilities"  # under a node dir
DEFAULT_SUBNET = "192.168.77.0/24"
DEFAULT_SHARED_MOUNT = "/srv/havirt-shared"
LOCKSPACE = "lockspace"  # under the shared dir: virtlockd's indirect lockspace
VIRTLOCKD_SOCKET = "run/libvirt/virtlockd-sock"  # under a node dir
NETNS_PREFIX = "hvl-"
LAB_NAME_RE = re.compile(r"^[a-z0-9]{1,20}$")
NODE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,14}$")  # also the veth name in the switch
LOCAL_URI = "qemu:///system"
READY_TIMEOUT = 60.0
# Run by `ip netns exec NETNS`: the long-lived process owning the node's mount/UTS namespaces.
HOLDER_ARGV = ("unshare", "--mount", "--uts", "--propagation", "private", "sleep", "infinity")

REQUIRED_TOOLS: tuple[str, ...] = ("unshare", "nsenter", "ip", "mount", "umount", "find")
REQUIRED_TOOLS += ("virsh", "libvirtd", "virtlogd", "virtlockd", "qemu-system-x86_64", "qemu-img")
REQUIRED_TOOLS += lab_ssh.REQUIRED_TOOLS
RESERVED_NODE_NAMES = ("sw", lab_ssh.CONTROLLER)  # the switch's and the controller's netns

# (node-private directory name, mount point inside the node)
PRIVATE_DIRS = (
    ("run", "/run"),
    ("var-lib-libvirt", "/var/lib/libvirt"),
    ("etc-libvirt", "/etc/libvirt"),
    ("var-cache-libvirt", "/var/cache/libvirt"),
    ("var-log", "/var/log"),
    ("etc-ssh", "/etc/ssh"),  # own host key and sshd_config (see .ssh)
    ("root-ssh", "/root/.ssh"),
    ("home", "/home"),
)
PRIVATE_FILES: tuple[tuple[str, str], ...] = (
    ("hostname", "/etc/hostname"),
    ("hosts", "/etc/hosts"),
)
PRIVATE_FILES += (("passwd", "/etc/passwd"), ("group", "/etc/group"), ("shadow", "/etc/shadow"))
SKELETON = (
    "run/libvirt",
    "run/lock",
    "var-lib-libvirt/images",
    "var-lib-libvirt/qemu/channel/target",
    "var-cache-libvirt/qemu",
    "var-log/libvirt/qemu",
)


def _conf_value(value: str | int) -> str:
    return str(value) if isinstance(value, int) else json.dumps(value)


def render_conf(settings: Mapping[str, str | int | list[str]]) -> str:
    """A libvirt-style ``key = value`` config file."""
    lines = ["# Written by havirt.tools.lab; node-private copy."]
    for key, value in settings.items():
        if isinstance(value, list):
            text = "[ " + ", ".join(_conf_value(v) for v in value) + " ]"
        else:
            text = _conf_value(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def libvirtd_conf(address: str, host_uuid: str) -> str:
    return render_conf(
        {
            "listen_tls": 0,
            "listen_tcp": 1,
            "listen_addr": address,
            "auth_tcp": "none",
            "auth_unix_ro": "none",
            "auth_unix_rw": "none",
            # A non-root user in the libvirt group manages libvirt, as on Debian hosts.
            "unix_sock_group": lab_ssh.LIBVIRT_GROUP,
            "unix_sock_rw_perms": "0770",
            "host_uuid": host_uuid,
            "log_outputs": "3:file:/var/log/libvirt/libvirtd.log",
        }
    )


def qemu_conf(lock_manager: bool = False) -> str:
    settings: dict[str, str | int | list[str]] = {
        "namespaces": [],  # /dev/kvm is hidden: a per-guest /dev would fail to set up
        "user": "root",
        "group": "root",
        "dynamic_ownership": 0,
        "remember_owner": 0,
        "security_driver": "none",
    }
    if lock_manager:
        settings["lock_manager"] = "lockd"
    return render_conf(settings)


def qemu_lockd_conf(lockspace_dir: str) -> str:
    """Leases for every disk, taken on hash-named files in a directory all nodes share."""
    return render_conf(
        {
            "auto_disk_leases": 1,
            "require_lease_for_disks": 1,
            "file_lockspace_dir": lockspace_dir,
        }
    )


def hosts_file(addresses: Mapping[str, str]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{address}\t{name}" for name, address in addresses.items()]
    return "\n".join(lines) + "\n"


class LibvirtNode(Namespaced):
    """One simulated hypervisor host. Created by :class:`Lab`, not directly."""

    EXEC_ENV = {"LIBVIRT_DEFAULT_URI": LOCAL_URI}  # virsh inside a node: its own libvirtd

    # Subclasses (e.g. cluster nodes) add their own node-private directories.
    private_dirs: tuple[tuple[str, str], ...] = PRIVATE_DIRS
    skeleton: tuple[str, ...] = SKELETON

    def __init__(self, lab: Lab, name: str, address: str, prefixlen: int) -> None:
        self.lab = lab
        self.name = name
        self.address = address
        self.prefixlen = prefixlen
        self.netns = f"{NETNS_PREFIX}{lab.name}-{name}"
        self.dir = lab.dir / "nodes" / name
        self.host_uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"havirt-lab:{lab.name}:{name}"))
        self._holder: subprocess.Popen[bytes] | None = None
        self._holder_pid: int | None = None

    def __repr__(self) -> str:
        return f"<LibvirtNode {self.name} {self.address} netns={self.netns}>"

    # ------------------------------------------------------------ identity

    @property
    def uri_tcp(self) -> str:
        """URI other nodes use to reach this node's libvirtd (``qemu+tcp://ADDR/system``)."""
        return f"qemu+tcp://{self.address}/system"

    @property
    def uri_host(self) -> str:
        """URI for a libvirt client running on the host itself (via the node's unix socket)."""
        return f"qemu+unix:///system?socket={self.dir}/run/libvirt/libvirt-sock"

    @property
    def holder_pid(self) -> int:
        if self._holder_pid is None:
            raise LabError(f"node {self.name} is not up")
        return self._holder_pid

    @property
    def netns_file(self) -> Path:
        return nsutil.netns_path(self.netns)

    # ------------------------------------------------------------ running things

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed so that it runs inside all of the node's namespaces."""
        return ["nsenter", "-t", str(self.holder_pid), "-n", "-m", "-u", "--", *argv]

    def popen(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the node without waiting (output to ``log`` or nowhere)."""
        return spawn(
            self.command(argv), env={"LIBVIRT_DEFAULT_URI": LOCAL_URI, **(env or {})}, log=log
        )

    def virsh(
        self, *args: str, timeout: float = 30.0, check: bool = True, uri: str = LOCAL_URI
    ) -> Result:
        """``virsh -c URI ARGS...`` inside the node (raises on failure unless ``check=False``)."""
        return self.exec(["virsh", "-q", "-c", uri, *args], timeout=timeout, check=check)

    # ------------------------------------------------------------ processes

    def pids(self) -> list[int]:
        """Every live process in the node (its network namespace), the holder included."""
        return nsutil.pids_in_netns(self._netns_ref())

    def _netns_ref(self) -> Path:
        """A file naming the node's network namespace, from wherever we run.

        Inside another node (the lab fence agent runs there) /run is private and the
        named netns files are not visible; the holder's /proc entry is.
        """
        if self.netns_file.exists():
            return self.netns_file
        pid = self._holder_pid
        if pid is not None and nsutil.process_cmdline(pid)[:2] == ["sleep", "infinity"]:
            return Path(f"/proc/{pid}/ns/net")
        return self.netns_file

    def _pids_named(self, comm: str) -> list[int]:
        return [pid for pid in self.pids() if nsutil.process_comm(pid) == comm]

    def qemu_pids(self, domain: str | None = None) -> list[int]:
        """QEMU processes in the node; only ``domain``'s if a name is given."""
        found = []
        for pid in self.pids():
            # The guest agent's own parser: the lab sees QEMU exactly as the agent does.
            parsed = qemu_processes.parse_cmdline(nsutil.process_cmdline(pid) or [])
            if parsed is not None and (domain is None or parsed[0] == domain):
                found.append(pid)
        return found

    def libvirtd_pids(self) -> list[int]:
        return self._pids_named("libvirtd")

    def virtlockd_pids(self) -> list[int]:
        return self._pids_named("virtlockd")

    # ------------------------------------------------------------ daemons

    def start_daemons(self) -> None:
        """Start virtlogd, virtlockd and libvirtd (no wait; see :meth:`wait_libvirtd`)."""
        if not self._pids_named("virtlogd"):
            self.exec(["virtlogd", "-d"], timeout=30, check=True)
        if self.lab.lock_manager and not self.virtlockd_pids():
            self._start_virtlockd()
        self.start_libvirtd(wait=False)

    def _start_virtlockd(self) -> None:
        # libvirtd connects to virtlockd while it starts (to set up the lockspace):
        # without the socket its QEMU driver would fail to load.
        socket = self.dir / VIRTLOCKD_SOCKET
        socket.unlink(missing_ok=True)  # left by a killed virtlockd: wait for the new one
        self.exec(["virtlockd", "-d"], timeout=30, check=True)
        deadline = time.monotonic() + 10
        while not socket.is_socket():
            if time.monotonic() >= deadline:
                raise LabError(f"virtlockd on {self.name} made no socket {socket}")
            time.sleep(0.05)

    def start_libvirtd(self, wait: bool = True) -> None:
        """Start ``libvirtd -d --listen`` unless it runs; wait until it answers."""
        if not self.libvirtd_pids():
            (self.dir / "run" / "libvirtd.pid").unlink(missing_ok=True)
            self.exec(["libvirtd", "-d", "--listen"], timeout=60, check=True)
        if wait:
            self.wait_libvirtd()

    def wait_libvirtd(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until ``virsh version`` answers inside the node."""
        deadline = time.monotonic() + timeout
        last: Result | None = None
        while time.monotonic() < deadline:
            last = self.virsh("version", timeout=10, check=False)
            if last.ok:
                return
            time.sleep(0.2)
        detail = last.describe() if last else "no attempt"
        raise LabError(f"libvirtd on {self.name} not ready after {timeout:.0f} s: {detail}")

    def stop_libvirtd(self, timeout: float = 30.0) -> None:
        """SIGTERM libvirtd (SIGKILL after ``timeout``); guests keep running."""
        pids = self.libvirtd_pids()
        nsutil.signal_pids(pids, signal.SIGCONT)
        nsutil.signal_pids(pids, signal.SIGTERM)
        if nsutil.wait_gone(pids, timeout):
            nsutil.signal_pids(pids, signal.SIGKILL)
            nsutil.wait_gone(pids, 5)

    def pause_libvirtd(self) -> None:
        """SIGSTOP libvirtd: a hung daemon (clients block until :meth:`resume_libvirtd`)."""
        pids = self.libvirtd_pids()
        if not pids:
            raise LabError(f"no libvirtd running on {self.name}")
        nsutil.signal_pids(pids, signal.SIGSTOP)

    def resume_libvirtd(self) -> None:
        nsutil.signal_pids(self.libvirtd_pids(), signal.SIGCONT)

    def power_off(self) -> None:
        """Hard power-off: SIGKILL every process of the node except the holder.

        QEMU guests die with it; persistent definitions and /var/lib stay, /run
        and /dev/shm are wiped, as after a real power cycle.
        """
        deadline = time.monotonic() + 15
        while pids := [pid for pid in self.pids() if pid != self.holder_pid]:
            if time.monotonic() >= deadline:
                raise LabError(f"processes {pids} on {self.name} survive SIGKILL")
            nsutil.signal_pids(pids, signal.SIGKILL)
            nsutil.wait_gone(pids, 1.0)
        self.wipe_volatile()

    def wipe_volatile(self) -> None:
        """Empty /run and /dev/shm, as a power cycle does (call only while powered off:
        Corosync's and Pacemaker's IPC files left there keep them from starting again)."""
        for child in (self.dir / "run").iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        for rel in self.skeleton:
            if rel.startswith("run/"):
                (self.dir / rel).mkdir(parents=True, exist_ok=True)
        self.exec(["find", "/dev/shm", "-mindepth", "1", "-delete"], timeout=15, check=True)

    def power_on(self) -> None:
        """Start the daemons again after :meth:`power_off` and wait for libvirtd and sshd."""
        self.start_daemons()
        self.start_sshd()
        self.wait_libvirtd()

    def start_sshd(self) -> None:
        """Start the node's sshd unless it runs; return once it listens."""
        lab_ssh.start_sshd(self)

    # ------------------------------------------------------------ bring-up (by Lab)

    def _prepare_files(self, hosts: str, caps_seed: Path | None) -> None:
        for rel in self.skeleton:
            (self.dir / rel).mkdir(parents=True, exist_ok=True)
        if caps_seed is not None and caps_seed.is_dir():
            # libvirt validates each entry and re-probes QEMU if it is stale.
            shutil.copytree(caps_seed, self.dir / CAPS_DIR, dirs_exist_ok=True)
        etc = self.dir / "etc-libvirt"
        shutil.rmtree(etc, ignore_errors=True)
        shutil.copytree("/etc/libvirt", etc, symlinks=True)
        for stale in [*etc.glob("qemu/*.xml"), *etc.glob("qemu/networks/autostart/*")]:
            stale.unlink()
        shutil.rmtree(etc / "qemu" / "autostart", ignore_errors=True)
        (etc / "libvirtd.conf").write_text(libvirtd_conf(self.address, self.host_uuid))
        (etc / "qemu.conf").write_text(qemu_conf(self.lab.lock_manager))
        if self.lab.lock_manager:
            (etc / "qemu-lockd.conf").write_text(qemu_lockd_conf(self.lab.lockspace_node_path))
        (self.dir / "hostname").write_text(self.name + "\n")
        (self.dir / "hosts").write_text(hosts)
        kvm = self.dir / "kvm-hidden"
        kvm.touch()
        kvm.chmod(0)

    def _create_netns(self, switch_netns: str, bridge: str) -> None:
        nsutil.netns_add(self.netns)
        sw, ns = switch_netns, self.netns  # names are validated: no spaces
        nsutil.ip(f"-n {sw} link add {self.name} type veth peer name eth0 netns {ns}")
        nsutil.ip(f"-n {sw} link set {self.name} master {bridge} up")
        nsutil.ip(f"-n {ns} addr add {self.address}/{self.prefixlen} dev eth0")
        nsutil.ip(f"-n {ns} link set eth0 up")
        nsutil.ip(f"-n {ns} link set lo up")

    def _start_holder(self) -> None:
        self._holder = spawn(["ip", "netns", "exec", self.netns, *HOLDER_ARGV])
        self._holder_pid = self._holder.pid
        own_mnt = nsutil.ns_id("/proc/self/ns/mnt")
        deadline = time.monotonic() + 10
        # ip and unshare exec in place: the PID becomes `sleep` in the new namespaces.
        while not (
            nsutil.process_comm(self._holder.pid) == "sleep"
            and nsutil.ns_id(f"/proc/{self._holder.pid}/ns/mnt") != own_mnt
        ):
            if self._holder.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"namespace holder for {self.name} did not start")
            time.sleep(0.01)

    def _mount_all(self, shared_dir: Path, shared_mount: str) -> None:
        def inside(*argv: str) -> Result:
            return run(["nsenter", "-t", str(self.holder_pid), "-m", "-u", "--", *argv], timeout=15)

        # Copies of other namespaces' /run/netns mounts would keep them alive.
        inside("umount", "--recursive", "--lazy", "/run/netns")
        for rel, target in [*self.private_dirs, *PRIVATE_FILES]:
            checked(inside("mount", "--bind", str(self.dir / rel), target))
        checked(inside("mount", "-t", "tmpfs", "-o", "mode=1777,size=64m", "tmpfs", "/dev/shm"))
        if os.path.exists("/dev/kvm"):
            # Read-only too: root passes access(W_OK) on a mode-000 file, not on EROFS,
            # and libvirt (QEMU runs as root here) re-probes QEMU on every define
            # while it believes KVM is usable.
            checked(inside("mount", "--bind", str(self.dir / "kvm-hidden"), "/dev/kvm"))
            checked(inside("mount", "-o", "remount,bind,ro", "/dev/kvm"))
        checked(inside("mount", "--bind", str(shared_dir), shared_mount))
        checked(inside("hostname", self.name))

    def _attach(self, holder_pid: int) -> None:
        """Adopt a holder started by another process (from the lab state file)."""
        self._holder_pid = holder_pid

    def _forget(self) -> None:
        if self._holder is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._holder.wait(timeout=5)
        self._holder = None
        self._holder_pid = None


def missing_requirements() -> list[str]:
    """Why this machine cannot run a lab (empty if it can, as far as cheap checks tell)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("needs root (network/mount namespaces, bind mounts)")
    for tool in REQUIRED_TOOLS:
        if shutil.which(tool) is None:
            problems.append(f"{tool} not found in PATH")
    problems += lab_ssh.missing_requirements()
    if not problems:
        probe = run(["unshare", "--net", "--mount", "--uts", "true"], timeout=15)
        if not probe.ok:
            problems.append(f"cannot create namespaces: {probe.describe()}")
    return problems


class Lab:
    """A set of lab nodes on a private subnet, with a shared directory.

    ``Lab(name, base_dir, nodes, subnet)``: nothing happens until :meth:`up`.
    ``lock_manager`` (default on) protects guests' disks with virtlockd leases
    in :attr:`lockspace_dir` (see the module docstring).
    ``lab.nodes["node1"]`` is a :class:`LibvirtNode`. Use as a context manager
    (``with Lab(...) as lab:``) or call :meth:`up` / :meth:`down`.
    """

    node_class: type[LibvirtNode] = LibvirtNode

    def __init__(
        self,
        name: str = "lab",
        base_dir: Path | str = DEFAULT_BASE_DIR,
        nodes: Iterable[str] = ("node1", "node2"),
        subnet: str = DEFAULT_SUBNET,
        shared_mount: str = DEFAULT_SHARED_MOUNT,
        cache_dir: Path | str | None = DEFAULT_CACHE_DIR,
        lock_manager: bool = True,
    ) -> None:
        if not LAB_NAME_RE.match(name):
            raise ValueError(f"lab name {name!r} must match {LAB_NAME_RE.pattern}")
        names = list(nodes)
        for node in names:
            if not NODE_NAME_RE.match(node) or node in RESERVED_NODE_NAMES:
                raise ValueError(
                    f"node name {node!r} must match {NODE_NAME_RE.pattern} "
                    f"and not be one of {', '.join(RESERVED_NODE_NAMES)}"
                )
        if len(set(names)) != len(names) or not names:
            raise ValueError("node names must be distinct and at least one")
        network = ipaddress.IPv4Network(subnet)
        if network.num_addresses < 11 + len(names) + 1:
            raise ValueError(f"subnet {subnet} too small for {len(names)} nodes")
        self.name = name
        self.base_dir = Path(base_dir)
        self.dir = self.base_dir / name
        self.shared_dir = self.dir / "shared"
        self.shared_mount = shared_mount
        self.lock_manager = lock_manager
        self.lockspace_dir = self.shared_dir / LOCKSPACE
        self.caps_seed = Path(cache_dir) / CAPS_SEED if cache_dir is not None else None
        self.subnet = network
        self.switch_netns = f"{NETNS_PREFIX}{name}-sw"
        self.bridge = "br0"
        self.nodes: dict[str, LibvirtNode] = {
            node: self.node_class(self, node, str(network[11 + i]), network.prefixlen)
            for i, node in enumerate(names)
        }
        self.ssh = lab_ssh.LabSSH(self)  # key and known_hosts paths for tests
        self.controller = lab_ssh.LabController(self)  # the host's way into the lab network
        self._atexit_registered = False
        self._detached = False
        self._mountpoint_created = False
        self._load_state()

    def __repr__(self) -> str:
        return f"<Lab {self.name} nodes={list(self.nodes)} dir={self.dir}>"

    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # ------------------------------------------------------------ paths

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    def node_path(self, host_path: Path | str) -> str:
        """Where a file under :attr:`shared_dir` appears inside every node."""
        rel = Path(host_path).relative_to(self.shared_dir)
        return str(Path(self.shared_mount) / rel)

    @property
    def lockspace_node_path(self) -> str:
        """The lockspace directory as the nodes' libvirt sees it."""
        return self.node_path(self.lockspace_dir)

    def host_path(self, node_path: str) -> Path:
        """The host path of a file under the nodes' shared mount."""
        return self.shared_dir / Path(node_path).relative_to(self.shared_mount)

    # ------------------------------------------------------------ state

    def _write_state(self) -> None:
        """Record what :meth:`down` and :meth:`attach` need, in ``<dir>/state.json``."""
        owner = None if self._detached else os.getpid()
        state = {
            "owner_pid": owner,
            "owner_start": nsutil.process_start_time(owner) if owner else None,
            "nodes": list(self.nodes),
            "subnet": str(self.subnet),
            "shared_mount": self.shared_mount,
            "lock_manager": self.lock_manager,
            "mountpoint_created": self._mountpoint_created,
            "holders": {name: node._holder_pid for name, node in self.nodes.items()},
        }
        tmp = self.state_file.with_name(".state.json.tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    @staticmethod
    def _read_state_file(path: Path) -> dict[str, Any]:
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _load_state(self) -> None:
        state = self._read_state_file(self.state_file)
        self._mountpoint_created = bool(state.get("mountpoint_created"))
        holders = state.get("holders") or {}
        for name, pid in holders.items():
            node = self.nodes.get(name)
            if node is not None and isinstance(pid, int):
                node._attach(pid)

    @classmethod
    def attach(cls, name: str, base_dir: Path | str = DEFAULT_BASE_DIR, **options: Any) -> Self:
        """A handle on a lab that is already up (made by this or another process)."""
        state = cls._read_state_file(Path(base_dir) / name / "state.json")
        if not state:
            raise LabError(f"no lab {name!r} under {base_dir}")
        return cls(
            name,
            base_dir,
            nodes=state.get("nodes") or list(state.get("holders") or ["node1"]),
            subnet=state.get("subnet") or DEFAULT_SUBNET,
            shared_mount=state.get("shared_mount") or DEFAULT_SHARED_MOUNT,
            **{"lock_manager": bool(state.get("lock_manager", True)), **options},
        )

    def is_up(self) -> bool:
        """True if every node's holder is alive."""
        return all(
            node._holder_pid is not None and node._holder_pid in node.pids()
            for node in self.nodes.values()
        )

    # ------------------------------------------------------------ up / down

    def up(self, detached: bool = False) -> Lab:
        """Create the namespaces, mounts and daemons; return when every libvirtd answers.

        Leftovers of an earlier lab with the same name are removed first. On
        failure everything created so far is removed and the error re-raised.
        By default the lab belongs to this process: it is taken down at exit,
        and by :meth:`cleanup_stale` if this process dies without doing so.
        ``detached=True`` makes a lab that outlives this process (e.g. for a
        command line tool): only an explicit :meth:`down` removes it.
        """
        self.down()
        self._detached = detached
        try:
            self._up()
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise
        return self

    def _up(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.shared_dir.mkdir(exist_ok=True)
        if self.lock_manager:
            self.lockspace_dir.mkdir(exist_ok=True)
        self._mountpoint_created = not os.path.isdir(self.shared_mount)
        os.makedirs(self.shared_mount, exist_ok=True)
        self._write_state()
        if not self._detached and not self._atexit_registered:
            atexit.register(self.down)
            self._atexit_registered = True
        nsutil.netns_add(self.switch_netns)
        nsutil.ip(f"-n {self.switch_netns} link set lo up")
        nsutil.ip(f"-n {self.switch_netns} link add {self.bridge} type bridge forward_delay 0")
        nsutil.ip(f"-n {self.switch_netns} link set {self.bridge} up")
        self.controller.create()
        self.ssh.prepare()
        hosts = hosts_file({name: node.address for name, node in self.nodes.items()})
        for node in self.nodes.values():
            node._prepare_files(hosts, self.caps_seed)
            node._create_netns(self.switch_netns, self.bridge)
            node._start_holder()
            self._write_state()
            node._mount_all(self.shared_dir, self.shared_mount)
        self._before_power_on()
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(lambda node: node.power_on(), self.nodes.values()))
        self._save_caps_seed()

    def _before_power_on(self) -> None:
        """Hook for subclasses: files every node needs before its daemons start."""

    def _save_caps_seed(self) -> None:
        """Keep the first node's QEMU capability cache for the next lab (saves ~3 s)."""
        if self.caps_seed is None:
            return
        source = next(iter(self.nodes.values())).dir / CAPS_DIR
        self.caps_seed.mkdir(parents=True, exist_ok=True)
        for entry in source.glob("*.xml"):
            tmp = self.caps_seed / f".{entry.name}.{os.getpid()}"
            shutil.copyfile(entry, tmp)
            tmp.replace(self.caps_seed / entry.name)

    def down(self) -> None:
        """Remove everything the lab made. Idempotent; safe after a failed :meth:`up`."""
        state = self._read_state_file(self.state_file)
        prefix = f"{NETNS_PREFIX}{self.name}-"
        ours = [ns for ns in nsutil.netns_list() if ns.startswith(prefix)]
        ours += [n.netns for n in self.nodes.values() if n.netns not in ours]
        for netns in ours:
            nsutil.kill_netns_processes(nsutil.netns_path(netns))
        # A holder whose netns file is already gone (partial down) is still ours.
        holders = state.get("holders") or {}
        for node in self.nodes.values():
            pid = node._holder_pid or holders.get(node.name)
            if isinstance(pid, int) and nsutil.process_cmdline(pid)[:2] == ["sleep", "infinity"]:
                nsutil.signal_pids([pid], signal.SIGKILL)
            node._forget()
        for netns in ours:
            nsutil.netns_delete(netns)
        nsutil.release_netns_dir()
        shutil.rmtree(self.dir, ignore_errors=True)
        if state.get("mountpoint_created") or self._mountpoint_created:
            self._remove_mountpoint()
        self._mountpoint_created = False
        with contextlib.suppress(OSError):
            self.base_dir.rmdir()  # only if no other lab lives there
        if self._atexit_registered:
            atexit.unregister(self.down)
            self._atexit_registered = False

    def _remove_mountpoint(self) -> None:
        others = [p for p in self.base_dir.glob("*/state.json") if p.parent != self.dir]
        if not others:
            with contextlib.suppress(OSError):
                os.rmdir(self.shared_mount)

    # ------------------------------------------------------------ housekeeping

    @classmethod
    def cleanup_stale(cls, base_dir: Path | str = DEFAULT_BASE_DIR) -> list[str]:
        """Take down labs under ``base_dir`` whose owning process is gone.

        Detached labs are left alone. Returns the names of the labs removed
        (e.g. left by a test run that was killed).
        """
        removed = []
        for state_file in sorted(Path(base_dir).glob("*/state.json")):
            state = cls._read_state_file(state_file)
            pid, start = state.get("owner_pid"), state.get("owner_start")
            if pid is None and state:
                continue  # detached
            if isinstance(pid, int) and nsutil.process_start_time(pid) == start:
                continue  # owner alive
            name = state_file.parent.name
            if LAB_NAME_RE.match(name):
                lab = cls.attach(name, base_dir, cache_dir=None) if state else None
                (lab or cls(name, base_dir, cache_dir=None)).down()
                removed.append(name)
        return removed
