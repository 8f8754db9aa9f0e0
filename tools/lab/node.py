"""One simulated hypervisor host ("node") with a real libvirt daemon: :class:`LibvirtNode`.
A :class:`~.lab.Lab` makes and removes them; this module knows of the lab only what a
node reads of it (:class:`NodeLab`).

Each node is:

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
namespace is the node's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from havirt.agents.guest import qemu_processes
from havirt.tools.lab import nsutil
from havirt.tools.lab import ssh as lab_ssh
from havirt.tools.lab.configs import libvirtd_conf, qemu_conf, qemu_lockd_conf
from havirt.tools.lab.proc import LabError, Namespaced, Result, checked, run, spawn

CAPS_DIR = "var-cache-libvirt/qemu/capabilities"  # under a node dir
VIRTLOCKD_SOCKET = "run/libvirt/virtlockd-sock"  # under a node dir
NETNS_PREFIX = "hvl-"
LOCAL_URI = "qemu:///system"
READY_TIMEOUT = 60.0
# Run by `ip netns exec NETNS`: the long-lived process owning the node's mount/UTS namespaces.
HOLDER_ARGV = ("unshare", "--mount", "--uts", "--propagation", "private", "sleep", "infinity")

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
    # havirt's own state (the definitions its agents and `domain sync` keep), per node
    ("var-lib-havirt", "/var/lib/havirt"),
)
# The mount points of PRIVATE_DIRS that a fresh machine may lack: the lab makes them
# (empty, as installing havirt does) so that no node writes into the host's.
HAVIRT_STATE = "/var/lib/havirt"
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
    "var-lib-havirt",
)


class NodeLab(Protocol):
    """What a node reads of the lab it belongs to (a :class:`~.lab.Lab`)."""

    name: str
    dir: Path
    lock_manager: bool

    @property
    def lockspace_node_path(self) -> str: ...


class LibvirtNode(Namespaced):
    """One simulated hypervisor host. Created by :class:`Lab`, not directly."""

    # virsh inside a node: its own libvirtd
    EXEC_ENV: Mapping[str, str] = {"LIBVIRT_DEFAULT_URI": LOCAL_URI}

    # Subclasses (e.g. cluster nodes) add their own node-private directories.
    private_dirs: tuple[tuple[str, str], ...] = PRIVATE_DIRS
    skeleton: tuple[str, ...] = SKELETON

    def __init__(self, lab: NodeLab, name: str, address: str, prefixlen: int) -> None:
        self.lab = lab
        self.name = name
        self.address = address
        self.prefixlen = prefixlen
        self.netns = f"{NETNS_PREFIX}{lab.name}-{name}"
        self.dir = lab.dir / "nodes" / name
        self.host_uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"havirt-lab:{lab.name}:{name}"))
        # how other nodes reach its libvirtd, and how a client on the host itself does
        # (through the node's unix socket)
        self.uri_tcp = f"qemu+tcp://{address}/system"
        self.uri_host = f"qemu+unix:///system?socket={self.dir}/run/libvirt/libvirt-sock"
        self._holder: subprocess.Popen[bytes] | None = None
        self._holder_pid: int | None = None

    def __repr__(self) -> str:
        return f"<LibvirtNode {self.name} {self.address} netns={self.netns}>"

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
        os.makedirs(HAVIRT_STATE, mode=0o755, exist_ok=True)
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
