"""Storage leases across two libvirt daemons sharing one lockspace and one disk.

The lab's nodes run virtlockd with their lockspace in the shared directory
(``Lab(lock_manager=True)``, the default), so node1's and node2's lock daemons
take real fcntl locks on the same lockspace files.

The guest here has a *shared LUN* for its disk: one image file, seen by each
node through its own loop device, under the same stable path on both nodes
(``/var/lib/libvirt/images/<guest>-lun``, node-private, a symlink to that
node's loop device, as /dev/disk/by-id/... links are on real hosts). Each
QEMU then opens a different block device, so QEMU's own image locks cannot
see each other, exactly as on two hosts attached to one SAN LUN: the storage
lease is the only thing that stands between the guest and a second copy.
(With an image file on the shared directory, QEMU's image locks refuse a
second start too; the last test shows that case.)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from guest_agent_calls import GENERIC, SUCCESS, run_agent
from havirt.tools.lab import READY_MARKER, Lab, LabGuest, LibvirtNode
from havirt.tools.lab.configs import qemu_conf
from havirt.tools.lab.proc import checked, run
from lxml import etree

pytestmark = pytest.mark.integration

LUN_MIB = 16
MIGRATION = {"migration_transport": "tcp", "migrate_options": "--unsafe"}


class SharedLun:
    """A guest whose disk is one image reached through a loop device per node."""

    def __init__(self, lab: Lab, guest: LabGuest) -> None:
        self.lab = lab
        self.guest = guest
        self.image = guest.dir / "lun.img"
        self.node_path = f"/var/lib/libvirt/images/{guest.name}-lun"  # same on every node
        self.loops: dict[str, str] = {}

    def attach(self) -> None:
        with self.image.open("wb") as image:
            image.write(b"havirt shared lun\n".ljust(4096, b"\0") * (LUN_MIB * 256))
        for name in self.lab.nodes:
            result = checked(run(["losetup", "--find", "--show", str(self.image)], timeout=30))
            self.loops[name] = result.stdout.strip()
            self._link(name).symlink_to(self.loops[name])
        xml = etree.parse(str(self.guest.xml_path))
        disk = xml.find("devices/disk")
        disk.set("type", "block")
        disk.find("driver").set("type", "raw")
        source = disk.find("source")
        del source.attrib["file"]
        source.set("dev", self.node_path)
        xml.write(str(self.guest.xml_path))

    def _link(self, node: str) -> Path:
        rel = Path(self.node_path).relative_to("/var/lib/libvirt")  # node-private there
        return self.lab.nodes[node].dir / "var-lib-libvirt" / rel

    def digest(self) -> str:
        return hashlib.sha256(self.image.read_bytes()).hexdigest()

    @property
    def lease_file(self) -> Path:
        """The lockspace file virtlockd locks for this disk (named by its path's SHA-256)."""
        return self.lab.lockspace_dir / hashlib.sha256(self.node_path.encode()).hexdigest()

    def detach(self) -> None:
        self.guest.remove()  # no QEMU may hold a loop device open any more
        for name, loop in self.loops.items():
            run(["losetup", "--detach", loop], timeout=30)
            self._link(name).unlink(missing_ok=True)


@pytest.fixture
def lun_guest(lab: Lab, make_guest: Callable[..., LabGuest]) -> Iterator[SharedLun]:
    if not lab.lock_manager:
        pytest.skip("the lab runs without libvirt's lock manager")
    if shutil.which("losetup") is None:
        pytest.skip("losetup (util-linux) is not installed: no shared LUN for the guest")
    lun = SharedLun(lab, make_guest())
    try:
        lun.attach()
    except Exception as exc:  # e.g. no loop devices in this container
        lun.detach()
        pytest.skip(f"cannot attach loop devices for a shared LUN: {exc}")
    yield lun
    lun.detach()


def agent(lab: Lab, agent_path: str, guest: LabGuest, node: str, action: str, **reskeys: str):
    return run_agent(lab, node, agent_path, action, guest, timeout_ms=60000, **reskeys)


def only_copy(guest: LabGuest, node: str) -> int:
    """The one QEMU process of ``guest``, which must run on ``node`` and nowhere else."""
    pids = guest.qemu_pids()
    assert list(pids) == [node] and len(pids[node]) == 1, pids
    return pids[node][0]


# -- libvirt itself -------------------------------------------------------------------------


def test_second_start_on_another_node_is_refused_by_the_lease(
    lab: Lab, lun_guest: SharedLun, timings: dict[str, float]
) -> None:
    node1, node2 = lab.nodes["node1"], lab.nodes["node2"]
    guest = lun_guest.guest
    node1.virsh("create", guest.node_xml_path, timeout=60)
    guest.wait_console(READY_MARKER, timeout=60)
    pid = only_copy(guest, "node1")
    disk_before = lun_guest.digest()
    assert lun_guest.lease_file.exists()

    start = time.monotonic()
    refused = node2.virsh("create", guest.node_xml_path, check=False, timeout=60)
    timings["second start refused by the lease"] = time.monotonic() - start

    assert not refused.ok
    assert "resource busy" in refused.stderr, refused.describe()
    assert f"Lockspace resource '{lun_guest.lease_file.name}' is locked" in refused.stderr
    # The first copy is untouched: same QEMU, still running, answering, booted once.
    assert only_copy(guest, "node1") == pid
    assert guest.state(node1) == "running" and guest.state(node2) == ""
    ping = node1.virsh("qemu-agent-command", guest.name, '{"execute":"guest-ping"}', timeout=30)
    assert json.loads(ping.stdout) == {"return": {}}
    assert guest.console_text().count(READY_MARKER) == 1
    assert lun_guest.digest() == disk_before  # the refused copy wrote nothing

    # Once the first copy is gone, the lease is free and node2 may start the guest.
    node1.virsh("destroy", guest.name, timeout=60)
    node2.virsh("create", guest.node_xml_path, timeout=60)
    only_copy(guest, "node2")


def test_a_paused_guest_holds_no_lease_and_cannot_resume_once_it_is_taken(
    lab: Lab, lun_guest: SharedLun
) -> None:
    """libvirt releases the leases when it stops a guest's CPUs and takes them again on
    resume (that is how they move with a live migration)."""
    node1, node2 = lab.nodes["node1"], lab.nodes["node2"]
    guest = lun_guest.guest
    node1.virsh("create", guest.node_xml_path, timeout=60)
    node1.virsh("suspend", guest.name)
    node2.virsh("create", guest.node_xml_path, timeout=60)  # the lease was free
    resumed = node1.virsh("resume", guest.name, check=False)
    assert not resumed.ok and "resource busy" in resumed.stderr, resumed.describe()
    assert guest.state(node1) == "paused" and guest.state(node2) == "running"


# -- through the agent ------------------------------------------------------------------------


def test_agent_start_on_a_second_node_fails_and_the_first_copy_stays(
    lab: Lab, agent_path: str, lun_guest: SharedLun
) -> None:
    guest = lun_guest.guest
    node1 = lab.nodes["node1"]
    assert agent(lab, agent_path, guest, "node1", "start").rc == SUCCESS
    pid = only_copy(guest, "node1")
    validate = agent(lab, agent_path, guest, "node2", "validate-all", require_storage_lease="true")
    assert validate.rc == SUCCESS, validate
    assert "storage leases by lockd" in validate.stderr, validate

    second = agent(lab, agent_path, guest, "node2", "start")

    assert second.rc == GENERIC, second
    assert "another host holds the storage lease" in (second.reason or ""), second
    assert "resource busy" in second.reason, second
    assert not lab.nodes["node2"].qemu_pids(guest.name)  # no QEMU of it left on node2
    assert only_copy(guest, "node1") == pid
    assert guest.state(node1) == "running"
    assert agent(lab, agent_path, guest, "node1", "monitor", interval_ms=10000).rc == SUCCESS

    # A stop releases the lease (forced: the guest is still booting, it would ignore ACPI),
    # and the guest may now start on node2.
    assert agent(lab, agent_path, guest, "node1", "stop", force_stop="true").rc == SUCCESS
    again = agent(lab, agent_path, guest, "node2", "start")
    assert again.rc == SUCCESS, again
    only_copy(guest, "node2")


def test_lease_follows_a_live_migration_and_dies_with_a_crashed_node(
    lab: Lab, agent_path: str, lun_guest: SharedLun
) -> None:
    guest = lun_guest.guest
    node2 = lab.nodes["node2"]
    assert agent(lab, agent_path, guest, "node1", "start").rc == SUCCESS
    moves = {"CRM_meta_migrate_source": "node1", "CRM_meta_migrate_target": "node2"}
    out = agent(lab, agent_path, guest, "node1", "migrate_to", **MIGRATION, **moves)
    assert out.rc == SUCCESS, out
    out = agent(lab, agent_path, guest, "node2", "migrate_from", **MIGRATION, **moves)
    assert out.rc == SUCCESS, out
    pid = only_copy(guest, "node2")

    # The lease went with the guest: now node1 is the one refused.
    back = agent(lab, agent_path, guest, "node1", "start")
    assert back.rc == GENERIC and "resource busy" in (back.reason or ""), back
    assert only_copy(guest, "node2") == pid

    # node2 crashes: its virtlockd dies with it and the kernel drops its locks, so the
    # failover start on node1 succeeds (after fencing, in a real cluster).
    try:
        node2.power_off()
        assert node2.virtlockd_pids() == []
        failover = agent(lab, agent_path, guest, "node1", "start")
        assert failover.rc == SUCCESS, failover
        only_copy(guest, "node1")
    finally:
        node2.power_on()


def test_agent_refuses_to_start_where_the_lock_daemon_is_down(
    lab: Lab, agent_path: str, make_guest: Callable[..., LabGuest]
) -> None:
    guest = make_guest()
    node2 = lab.nodes["node2"]
    try:
        (virtlockd,) = node2.virtlockd_pids()
        os.kill(virtlockd, signal.SIGKILL)  # the lab's daemon, by PID
        refused = agent(lab, agent_path, guest, "node2", "start")
        assert refused.rc == 5, refused  # OCF_ERR_INSTALLED: Pacemaker moves away
        assert "needs storage leases" in (refused.reason or ""), refused
        assert "virtlockd does not answer" in refused.reason, refused
        assert guest.qemu_pids() == {}
        validate = agent(lab, agent_path, guest, "node2", "validate-all")
        assert validate.rc == 5 and "virtlockd" in (validate.reason or ""), validate
    finally:
        # libvirtd set its lockspace up with the old virtlockd: restart the node's daemons.
        node2.power_off()
        node2.power_on()


def _set_lock_manager(node: LibvirtNode, enabled: bool) -> None:
    """Rewrite the node's qemu.conf and restart its libvirtd (read at start only)."""
    node.stop_libvirtd()
    (node.dir / "etc-libvirt" / "qemu.conf").write_text(qemu_conf(lock_manager=enabled))
    node.start_libvirtd()


@pytest.fixture
def node2_without_lock_manager(lab: Lab) -> Iterator[LibvirtNode]:
    """node2's libvirt without lock manager (its virtlockd keeps running, unused)."""
    if not lab.lock_manager:
        pytest.skip("the lab runs without libvirt's lock manager")
    node = lab.nodes["node2"]
    try:
        _set_lock_manager(node, False)
        yield node
    finally:
        _set_lock_manager(node, True)


def test_a_node_without_lock_manager(
    lab: Lab, agent_path: str, make_guest: Callable[..., LabGuest], node2_without_lock_manager
) -> None:
    guest = make_guest()
    required = {"require_storage_lease": "true"}
    refused = agent(lab, agent_path, guest, "node2", "start", **required)
    assert refused.rc == 5, refused  # OCF_ERR_INSTALLED: Pacemaker moves away
    assert "no lock manager" in (refused.reason or ""), refused
    assert guest.qemu_pids() == {}
    validate = agent(lab, agent_path, guest, "node2", "validate-all")  # auto: a warning only
    assert validate.rc == SUCCESS and "no lock manager" in validate.stderr, validate

    # libvirt live-migrates a guest from a node with leases to one without, without a
    # word; where leases are required, the agent's migrate_from there fails it.
    assert agent(lab, agent_path, guest, "node1", "start", **required).rc == SUCCESS
    moves = {"CRM_meta_migrate_source": "node1", "CRM_meta_migrate_target": "node2"}
    out = agent(lab, agent_path, guest, "node1", "migrate_to", **MIGRATION, **moves, **required)
    assert out.rc == SUCCESS, out
    only_copy(guest, "node2")
    out = agent(lab, agent_path, guest, "node2", "migrate_from", **MIGRATION, **moves, **required)
    assert out.rc == 5 and "no lock manager" in (out.reason or ""), out
    # Pacemaker's recovery then stops it there; the agent knows what to stop.
    assert agent(lab, agent_path, guest, "node2", "stop", force_stop="true").rc == SUCCESS
    assert guest.qemu_pids() == {}


def test_image_file_on_shared_storage_cannot_run_twice_either(
    lab: Lab, make_guest: Callable[..., LabGuest]
) -> None:
    """The common case: a qcow2 image on the shared pool. Here QEMU's own image lock
    (an OFD lock the nodes share like NFS clients do) refuses before the lease is asked;
    either way the second copy does not start and the first is untouched."""
    node1, node2 = lab.nodes["node1"], lab.nodes["node2"]
    guest = make_guest()
    node1.virsh("create", guest.node_xml_path, timeout=60)
    pid = only_copy(guest, "node1")
    refused = node2.virsh("create", guest.node_xml_path, check=False, timeout=60)
    assert not refused.ok
    assert 'Failed to get "write" lock' in refused.stderr or "resource busy" in refused.stderr
    assert only_copy(guest, "node1") == pid and guest.state(node1) == "running"
    check = node1.exec(["qemu-img", "check", "-U", guest.node_disk], timeout=30)
    assert check.ok, check.describe()
