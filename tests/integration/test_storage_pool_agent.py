"""ocf:havirt:StoragePool against a real libvirt daemon, real mounts and a really hung mount.

The agent executable runs inside a lab node (its own libvirtd, mount namespace,
/var/lib/libvirt), as Pacemaker would run it there. Pools of type dir, fs (on a
loop device, where this machine allows losetup) and netfs (which this kernel
cannot mount: tested up to libvirt's mount). A hung mount is a bindfs (FUSE)
mount whose daemon is stopped with SIGSTOP; every test resumes and unmounts it
in a finalizer, also when it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agent_helpers import AgentRun, run_ocf, wait_until
from havirt.agents.pool import mountinfo
from havirt.tools.lab import Lab, LabGuest, LibvirtNode
from lxml import etree

pytestmark = pytest.mark.integration

SUCCESS, GENERIC, INSTALLED, CONFIGURED, NOT_RUNNING = 0, 1, 5, 6, 7
POOL_DIR = "/var/lib/libvirt/havirt-test-pools"  # node-private in the lab
STATUS_FILE = ".havirt-status-node1"  # the default name on node1 (its hostname)


@pytest.fixture(scope="session")
def agent(installed_agents: dict[str, str]) -> str:
    return installed_agents["StoragePool"]


class Pool:
    """One pool of one test: its name, its target on the nodes, and how to run the agent."""

    def __init__(self, lab: Lab, agent: str, name: str, **reskeys: str) -> None:
        self.lab = lab
        self.agent = agent
        self.name = name
        self.target = f"{POOL_DIR}/{name}"
        self.reskeys = {"pool": name, "target_path": self.target, **reskeys}

    def run(
        self,
        action: str,
        node: str = "node1",
        timeout_ms: int = 20000,
        interval_ms: int | None = None,
        depth: int | None = None,
        **reskeys: str,
    ) -> AgentRun:
        """``monitor`` is a recurring monitor unless ``interval_ms=0`` (a probe)."""
        if interval_ms is None:
            interval_ms = 20000 if action == "monitor" else 0
        extra = {"OCF_CHECK_LEVEL": str(depth)} if depth is not None else None
        return run_ocf(
            self.lab,
            node,
            self.agent,
            action,
            f"pool-{self.name}",
            {**self.reskeys, **reskeys},
            timeout_ms=timeout_ms,
            interval_ms=interval_ms,
            extra_env=extra,
        )

    def mounts(self, node: str = "node1") -> list[mountinfo.Mount]:
        text = self.lab.nodes[node].exec(["cat", "/proc/self/mountinfo"], check=True).stdout
        return mountinfo.mounts_at(self.target, mountinfo.parse(text))

    def virsh(self, *args: str, node: str = "node1", check: bool = True) -> str:
        return self.lab.nodes[node].virsh(*args, check=check).stdout


@pytest.fixture
def make_pool(request: pytest.FixtureRequest, lab: Lab, agent: str) -> Iterator[Callable]:
    """make_pool(**reskeys) -> Pool; at teardown the pool is stopped, unmounted and
    undefined on every node, and its target (with its .src and .xml siblings) removed."""
    made: list[Pool] = []
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[-24:]

    def factory(**reskeys: str) -> Pool:
        pool = Pool(lab, agent, f"{stem}-{len(made) + 1}", **reskeys)
        made.append(pool)
        return pool

    yield factory
    for pool in made:
        for node in lab.nodes.values():
            node.virsh("pool-destroy", pool.name, check=False)
            node.virsh("pool-undefine", pool.name, check=False)
            for _ in pool.mounts(node.name):
                node.exec(["umount", "--lazy", pool.target])
            # The target, and what tests keep beside it (a FUSE source, a definition file).
            node.exec(["rm", "-rf", pool.target, f"{pool.target}.src", f"{pool.target}.xml"])


@pytest.fixture
def loop_device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loop device holding a fresh ext4 filesystem (detached at teardown)."""
    if not (shutil.which("losetup") and shutil.which("mkfs.ext4")):
        pytest.skip("losetup or mkfs.ext4 is not installed")
    image = Path("/var/tmp") / f"havirt-sp-{os.getpid()}-{time.monotonic_ns()}.img"
    with image.open("wb") as handle:
        handle.truncate(32 * 2**20)
    try:
        subprocess.run(["mkfs.ext4", "-q", str(image)], check=True, timeout=60)
        setup = subprocess.run(
            ["losetup", "--find", "--show", str(image)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if setup.returncode != 0:
            pytest.skip(f"this machine does not allow loop devices: {setup.stderr.strip()}")
        device = setup.stdout.strip()
        yield device
        subprocess.run(["losetup", "--detach", device], timeout=30)
    finally:
        image.unlink(missing_ok=True)


class HungMount:
    """A bindfs (FUSE) mount in a node; ``hang()`` stops its daemon with SIGSTOP."""

    def __init__(self, node: LibvirtNode, source: str, target: str) -> None:
        self.node = node
        self.source = source
        self.target = target
        self.blockers: list[subprocess.Popen[bytes]] = []
        node.exec(["mkdir", "-p", source, target], check=True)
        # attr_timeout: the mount point's attributes stay cached, so a lookup under it
        # reaches the (stopped) daemon instead of stopping at the mount point itself.
        self.daemon = node.popen(
            ["bindfs", "-f", "-o", "attr_timeout=600,nonempty", source, target]
        )
        wait_until(self._mounted, 10, f"bindfs at {target}")
        node.exec(["stat", target], check=True)

    def _mounted(self) -> bool:
        text = self.node.exec(["cat", "/proc/self/mountinfo"], check=True).stdout
        mounts = mountinfo.mounts_at(self.target, mountinfo.parse(text))
        return any(m.fstype == "fuse" for m in mounts)

    def hang(self) -> None:
        os.kill(self.daemon.pid, signal.SIGSTOP)

    def block_lookup(self, name: str) -> None:
        """A process of our own stuck looking up ``target/name``: the agent's own lookup
        of that name then waits behind it in uninterruptible sleep (D state)."""
        self.blockers.append(self.node.popen(["stat", f"{self.target}/{name}"]))
        pid = self.blockers[-1].pid
        wait_until(lambda: _wchan(pid) == "request_wait_answer", 10, "the blocked lookup")

    def release(self) -> None:
        """Resume the daemon, end our processes, and unmount (every step by PID)."""
        os.kill(self.daemon.pid, signal.SIGCONT)
        for proc in self.blockers:
            proc.kill()
            proc.wait(10)
        self.node.exec(["umount", "--lazy", self.target])
        try:
            self.daemon.wait(10)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait(10)


def _wchan(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return ""


@pytest.fixture
def fuse_mount(request: pytest.FixtureRequest, lab: Lab) -> Callable[..., HungMount]:
    """fuse_mount(target) -> HungMount; always resumed and unmounted at teardown."""
    if not shutil.which("bindfs") or not os.path.exists("/dev/fuse"):
        pytest.skip("bindfs or /dev/fuse is missing (bootstrap.sh installs bindfs)")

    def factory(target: str, node: str = "node1") -> HungMount:
        mount = HungMount(lab.nodes[node], f"{target}.src", target)
        request.addfinalizer(mount.release)
        return mount

    return factory


def _under(run: AgentRun, timeout_ms: int) -> None:
    """The agent's process returned before Pacemaker's timeout (with exec overhead in)."""
    assert run.seconds < timeout_ms / 1000, run


# -- the protocol as resource-agents' own tester sees it -----------------------------------


def test_ocf_tester_passes_on_a_real_pool(lab: Lab, agent: str, make_pool) -> None:
    pool = make_pool(type="dir")
    start = time.monotonic()
    args = [f"{k}={v}" for k, v in {**pool.reskeys, "monitor_depth": "20"}.items()]
    result = lab.nodes["node1"].exec(
        ["ocf-tester", "-n", f"pool-{pool.name}", *[x for a in args for x in ("-o", a)], agent],
        env={"HA_RSCTMP": "/run/resource-agents"},
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{agent} passed all tests" in output, output
    assert time.monotonic() - start < 120


# -- dir and fs pools through a real libvirtd ---------------------------------------------


def test_dir_pool_start_monitor_stop(make_pool) -> None:
    pool = make_pool(type="dir")
    assert pool.run("monitor", interval_ms=0).rc == NOT_RUNNING  # probe
    start = pool.run("start")
    assert start.rc == SUCCESS, start
    info = pool.virsh("pool-info", pool.name)
    assert re.search(r"State:\s+running", info) and re.search(r"Persistent:\s+yes", info)
    assert re.search(r"Autostart:\s+no", info)
    assert pool.run("start").rc == SUCCESS  # idempotent
    for depth in (0, 10, 20):
        monitor = pool.run("monitor", depth=depth)
        assert monitor.rc == SUCCESS, (depth, monitor)
    assert pool.run("monitor", interval_ms=0).rc == SUCCESS
    assert pool.lab.nodes["node1"].exec(["ls", "-A", pool.target]).stdout == ""  # no leftovers
    for _ in range(2):
        assert pool.run("stop").rc == SUCCESS
    assert pool.run("monitor").rc == NOT_RUNNING
    assert "inactive" in pool.virsh("pool-info", pool.name)  # never undefined


def test_definition_from_a_file_or_from_libvirt(lab: Lab, make_pool) -> None:
    node = lab.nodes["node1"]
    # pool_xml: a definition file on the node (its /var/lib/libvirt is node-private).
    from_file = make_pool()
    path = f"{from_file.target}.xml"
    host_path = node.dir / "var-lib-libvirt" / Path(path).relative_to("/var/lib/libvirt")
    host_path.parent.mkdir(parents=True, exist_ok=True)
    host_path.write_text(
        f"<pool type='dir'><name>{from_file.name}</name>"
        f"<target><path>{from_file.target}</path></target></pool>\n"
    )
    del from_file.reskeys["target_path"]
    from_file.reskeys["pool_xml"] = path
    assert from_file.run("start").rc == SUCCESS
    assert from_file.run("monitor", depth=20).rc == SUCCESS
    assert from_file.run("stop").rc == SUCCESS
    # Neither: the admin defined the pool in libvirt (as the runbooks do with pool-define-as).
    admins = make_pool()
    admins.virsh("pool-define-as", admins.name, "dir", "--target", admins.target)
    admins.virsh("pool-build", admins.name)
    del admins.reskeys["target_path"]
    assert admins.run("start").rc == SUCCESS
    assert admins.run("monitor", depth=10).rc == SUCCESS
    assert admins.run("stop").rc == SUCCESS
    assert re.search(r"Persistent:\s+yes", admins.virsh("pool-info", admins.name))


def test_fs_pool_on_a_loop_device(loop_device: str, make_pool) -> None:
    pool = make_pool(type="fs", source_path=loop_device, source_format="ext4")
    start = pool.run("start")
    assert start.rc == SUCCESS, start
    (mount,) = pool.mounts()
    assert (mount.fstype, mount.source) == ("ext4", loop_device)
    assert not pool.mounts("node2")  # mounted in node1's namespace only
    for depth in (0, 10, 20):
        assert pool.run("monitor", depth=depth).rc == SUCCESS
    # Unmounted behind libvirt's back: active in libvirt, but not mounted.
    pool.lab.nodes["node1"].exec(["umount", pool.target], check=True)
    monitor = pool.run("monitor")
    assert monitor.rc == GENERIC and "nothing is mounted" in (monitor.reason or ""), monitor
    assert pool.run("stop").rc == SUCCESS
    assert pool.run("start").rc == SUCCESS and pool.mounts()
    stop = pool.run("stop")
    assert stop.rc == SUCCESS, stop
    assert not pool.mounts()
    assert pool.run("monitor").rc == NOT_RUNNING


def _guest_on(pool: Pool, make_guest) -> LabGuest:
    """A running lab guest whose disk is a file in the pool."""
    node = pool.lab.nodes["node1"]
    guest = make_guest()
    disk = f"{pool.target}/{guest.name}.qcow2"
    node.exec(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
    tree = etree.parse(str(guest.xml_path))
    tree.find("devices/disk/source").set("file", disk)
    tree.write(str(guest.xml_path))
    node.virsh("create", guest.node_xml_path)
    return guest


def test_stop_refuses_while_a_guest_here_uses_the_pool(
    loop_device: str, make_pool, make_guest
) -> None:
    pool = make_pool(type="fs", source_path=loop_device, source_format="ext4")
    assert pool.run("start").rc == SUCCESS
    guest = _guest_on(pool, make_guest)
    stop = pool.run("stop")
    assert stop.rc == GENERIC, stop
    assert f"used by guests running on this node: {guest.name}" in (stop.reason or ""), stop
    assert pool.mounts() and guest.state(pool.lab.nodes["node1"]) == "running"
    forced = pool.run("stop", force_stop="destroy-guests")
    assert forced.rc == SUCCESS, forced
    assert f"destroying {guest.name}" in forced.stderr
    assert not pool.mounts() and not pool.lab.nodes["node1"].qemu_pids(guest.name)


def test_netfs_pool_up_to_libvirts_mount(make_pool) -> None:
    """This kernel has no NFS client: the definition and the error path, for real."""
    # No NFS server lives at this lab address; a kernel with NFS would time out instead.
    pool = make_pool(
        type="netfs",
        source_host="192.168.77.250",
        source_path="/export/images",
        mount_options="vers=4.2,soft,retry=0",
    )
    start = pool.run("start", timeout_ms=20000)
    assert start.rc == GENERIC, start
    assert (start.reason or "").startswith(f"cannot start pool {pool.name}: "), start
    assert "mount" in start.reason
    _under(start, 20000)
    xml = etree.fromstring(pool.virsh("pool-dumpxml", pool.name).encode())
    assert xml.get("type") == "netfs"
    assert xml.find("source/host").get("name") == "192.168.77.250"
    assert xml.find("source/dir").get("path") == "/export/images"
    assert xml.find("source/format").get("type") == "nfs"
    fs = "{http://libvirt.org/schemas/storagepool/fs/1.0}"
    assert [o.get("name") for o in xml.iter(f"{fs}option")] == ["vers=4.2", "soft", "retry=0"]
    assert re.search(r"Persistent:\s+yes", pool.virsh("pool-info", pool.name))
    assert pool.run("monitor", interval_ms=0).rc == NOT_RUNNING
    assert pool.run("stop").rc == SUCCESS
    if shutil.which("mount.nfs", path="/usr/sbin:/sbin") is None:
        check = pool.run("validate-all")
        assert check.rc == INSTALLED and "nfs-common" in (check.reason or "")


# -- a hung mount, for real ----------------------------------------------------------------


def test_hung_mount_under_a_dir_pool(make_pool, fuse_mount, timings: dict[str, float]) -> None:
    pool = make_pool(type="dir")
    mount = fuse_mount(pool.target)
    assert pool.run("start").rc == SUCCESS
    assert pool.run("monitor", depth=20).rc == SUCCESS
    mount.hang()
    monitor = pool.run("monitor", depth=10, timeout_ms=6000)
    assert monitor.rc == GENERIC, monitor
    assert "did not answer within" in (monitor.reason or ""), monitor
    _under(monitor, 6000)
    timings["pool: hung dir pool, depth 10 (6 s)"] = monitor.seconds
    # The status file's lookup now waits behind ours in uninterruptible sleep: SIGKILL
    # cannot end the agent's check, and the agent must not wait for it.
    mount.block_lookup(STATUS_FILE)
    monitor = pool.run("monitor", depth=20, timeout_ms=6000)
    assert monitor.rc == GENERIC, monitor
    assert "could not be killed and was left behind" in (monitor.reason or ""), monitor
    _under(monitor, 6000)
    timings["pool: check in D state, depth 20 (6 s)"] = monitor.seconds
    stop = pool.run("stop", timeout_ms=20000)
    assert stop.rc == SUCCESS, stop
    assert f"pool {pool.name} stopped" in stop.stderr, stop
    _under(stop, 20000)
    timings["pool: stop, hung dir pool (20 s)"] = stop.seconds
    assert "inactive" in pool.virsh("pool-info", pool.name)


def test_hung_mount_on_an_fs_pool(
    loop_device: str, make_pool, fuse_mount, timings: dict[str, float]
) -> None:
    pool = make_pool(type="fs", source_path=loop_device, source_format="ext4")
    assert pool.run("start").rc == SUCCESS
    # A FUSE mount stacked on the pool's mount stands for a hung NFS server.
    mount = fuse_mount(pool.target)
    mount.hang()
    for depth in (10, 20):
        monitor = pool.run("monitor", depth=depth, timeout_ms=6000)
        assert monitor.rc == GENERIC, monitor
        assert "hung mount" in (monitor.reason or ""), monitor
        _under(monitor, 6000)
        timings[f"pool: hung fs pool, depth {depth} (6 s)"] = monitor.seconds
    stop = pool.run("stop", timeout_ms=20000)
    assert stop.rc == SUCCESS, stop
    assert "detaching the mount" in stop.stderr, stop
    _under(stop, 20000)
    timings["pool: stop, hung fs pool (20 s)"] = stop.seconds
    assert not pool.mounts()


def test_malformed_parameters_through_the_real_executable(make_pool) -> None:
    pool = make_pool(type="dir")
    for bad in ({"type": "nfs"}, {"monitor_depth": "5"}, {"hypervisor": "qemu+ssh://x/system"}):
        run = pool.run("start", **bad)
        assert run.rc == CONFIGURED, (bad, run)
        assert next(iter(bad)) in (run.reason or ""), run
    # Refused before anything was done: the pool was never defined.
    assert not pool.lab.nodes["node1"].virsh("pool-info", pool.name, check=False).ok
