"""Simulated hypervisor hosts on one machine: a :class:`Lab` is a set of
:class:`~.node.LibvirtNode` objects (see :mod:`.node` for what each one is) plus a
"switch" network namespace holding a bridge, the nodes' shared directory (a stand-in
for NFS), the lab's SSH material (:mod:`.ssh`) and its controller namespace.

Everything lives under ``<base_dir>/<lab name>``;
:meth:`Lab.down` kills the nodes' processes by PID, deletes the namespaces and
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
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

from havirt.tools.lab import nsutil
from havirt.tools.lab import ssh as lab_ssh
from havirt.tools.lab.configs import hosts_file
from havirt.tools.lab.node import CAPS_DIR, NETNS_PREFIX, LibvirtNode
from havirt.tools.lab.proc import LabError, all_or_nothing, run

DEFAULT_BASE_DIR = Path("/var/lib/havirt-lab")
DEFAULT_CACHE_DIR = Path("/var/cache/havirt-lab")
CAPS_SEED = "libvirt-qemu-capabilities"  # under the cache dir
DEFAULT_SUBNET = "192.168.77.0/24"
DEFAULT_SHARED_MOUNT = "/srv/havirt-shared"
LOCKSPACE = "lockspace"  # under the shared dir: virtlockd's indirect lockspace
LAB_NAME_RE = re.compile(r"^[a-z0-9]{1,20}$")
NODE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,14}$")  # also the veth name in the switch

REQUIRED_TOOLS: tuple[str, ...] = ("unshare", "nsenter", "ip", "mount", "umount", "find")
REQUIRED_TOOLS += ("virsh", "libvirtd", "virtlogd", "virtlockd", "qemu-system-x86_64", "qemu-img")
REQUIRED_TOOLS += lab_ssh.REQUIRED_TOOLS
RESERVED_NODE_NAMES = ("sw", lab_ssh.CONTROLLER)  # the switch's and the controller's netns


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
        all_or_nothing(self._up, self.down)
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
