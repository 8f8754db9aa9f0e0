"""iSCSI-backed guests on the lab, with a real userspace target and no kernel initiator.

The target is Debian's ``tgtd`` (:class:`havirt.tools.lab.iscsi.IscsiTarget`), started
by the test on the lab's switch, at an address every node reaches. Everything that
logs in to it uses libiscsi: libvirt's ``iscsi-direct`` pool (ocf:havirt:StoragePool)
and QEMU's ``iscsi`` block driver (a guest whose disk is the LUN). The kernel
initiator, which the ``iscsi`` pool type needs, is not available on the machines the
tests run on; that type is covered by the unit tests only.

libvirt's automatic disk leases do not cover network disks, so the guest carries an
explicit ``<lease>`` in the lab's lockspace, keyed by the LUN's serial: that lease is
what refuses a second start on another node, and it moves with a live migration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from agent_helpers import AgentRun, run_ocf
from guest_agent_calls import GENERIC, SUCCESS, run_agent
from havirt.tools.lab import READY_MARKER, Lab, LabGuest
from havirt.tools.lab.iscsi import IscsiTarget, missing_requirements
from lxml import etree

pytestmark = pytest.mark.integration

NOT_RUNNING = 7
INITIATOR = "iqn.2026-12.test.havirt:lab-nodes"  # every node logs in with it
MIGRATION = {"migration_transport": "tcp", "migrate_options": "--unsafe"}


@pytest.fixture
def target(
    request: pytest.FixtureRequest, lab: Lab, timings: dict[str, float]
) -> Iterator[IscsiTarget]:
    problems = missing_requirements()
    if problems:
        pytest.skip("no userspace iSCSI target: " + "; ".join(problems))
    the_target = IscsiTarget(lab, [INITIATOR], luns=1, size_mib=64)
    request.addfinalizer(the_target.stop)  # also when the test fails
    start = time.monotonic()
    the_target.start()
    timings["iSCSI target up"] = time.monotonic() - start
    yield the_target
    start = time.monotonic()
    the_target.stop()
    timings["iSCSI target down"] = time.monotonic() - start


def pool_agent(
    lab: Lab, agent: str, action: str, reskeys: dict[str, str], node: str = "node1"
) -> AgentRun:
    interval = 20000 if action == "monitor" else 0
    return run_ocf(lab, node, agent, action, f"pool-{reskeys['pool']}", reskeys, 30000, interval)


def pool_reskeys(target: IscsiTarget) -> dict[str, str]:
    return {
        "pool": "luns",
        "type": "iscsi-direct",
        "source_host": target.portal,
        "source_device": target.iqn,
        "initiator_iqn": INITIATOR,
    }


def remove_pools(lab: Lab, *names: str) -> None:
    for node in lab.nodes.values():
        for name in names:
            node.virsh("pool-destroy", name, check=False)
            node.virsh("pool-undefine", name, check=False)


def test_iscsi_direct_pool_starts_monitors_and_stops(
    lab: Lab, installed_agents: dict[str, str], target: IscsiTarget, timings: dict[str, float]
) -> None:
    agent = installed_agents["StoragePool"]
    node1 = lab.nodes["node1"]
    reskeys = pool_reskeys(target)
    try:
        started = pool_agent(lab, agent, "start", reskeys)
        assert started.rc == SUCCESS, started
        timings["iscsi-direct pool start"] = started.seconds
        volumes = node1.virsh("vol-list", "luns").stdout
        assert "unit:0:0:1" in volumes and f"{target.iqn}-lun-1" in volumes, volumes
        xml = etree.fromstring(node1.virsh("pool-dumpxml", "luns").stdout.encode())
        assert xml.get("type") == "iscsi-direct"
        assert xml.find("source/initiator/iqn").get("name") == INITIATOR
        for depth in ("0", "10", "20"):
            monitor = pool_agent(lab, agent, "monitor", {**reskeys, "monitor_depth": depth})
            assert monitor.rc == SUCCESS, (depth, monitor)

        stopped = pool_agent(lab, agent, "stop", reskeys)
        assert stopped.rc == SUCCESS, stopped
        assert pool_agent(lab, agent, "monitor", reskeys).rc == NOT_RUNNING

        # A node whose initiator name the target's ACL does not admit cannot start it.
        refused = pool_agent(
            lab, agent, "start", {**reskeys, "pool": "luns2", "initiator_iqn": INITIATOR + "x"}
        )
        assert refused.rc == GENERIC, refused
        assert "cannot start pool luns2" in (refused.reason or ""), refused
    finally:
        remove_pools(lab, "luns", "luns2")


def lun_guest(
    lab: Lab, target: IscsiTarget, guest: LabGuest, pool: str | None = None, lease: bool = True
) -> str:
    """Make ``guest``'s disk the target's LUN 1, opened by QEMU through libiscsi: a
    network disk, or with ``pool`` a volume of that iscsi-direct pool; with ``lease``
    under an explicit lease keyed by the LUN's serial. Return the lease's key."""
    key = target.lun_serial(1)
    xml = etree.parse(str(guest.xml_path))
    devices = xml.find("devices")
    old = devices.find("disk")
    driver = "<driver name='qemu' type='raw' cache='none'/><target dev='vda' bus='virtio'/>"
    if pool:
        source = f"<source pool='{pool}' volume='unit:0:0:1'/>"
    else:
        source = (
            f"<source protocol='iscsi' name='{target.iqn}/1'>"
            f"<host name='{target.address}' port='{target.port}'/>"
            f"<initiator><iqn name='{INITIATOR}'/></initiator></source>"
        )
    disk_type = "volume" if pool else "network"
    disk = etree.fromstring(f"<disk type='{disk_type}' device='disk'>{driver}{source}</disk>")
    devices.replace(old, disk)
    if lease:
        (lab.lockspace_dir / key).touch()  # virtlockd locks an existing file
        lockspace, _, name = lab.lockspace_node_path.rpartition("/")
        element = etree.fromstring(
            f"<lease><lockspace>{name}</lockspace><key>{key}</key>"
            f"<target path='{lockspace}'/></lease>"
        )
        devices.insert(list(devices).index(disk) + 1, element)
    xml.write(str(guest.xml_path))
    return key


def only_copy(guest: LabGuest, node: str) -> int:
    pids = guest.qemu_pids()
    assert list(pids) == [node] and len(pids[node]) == 1, pids
    return pids[node][0]


def test_lun_guest_starts_is_refused_elsewhere_by_its_lease_and_migrates(
    lab: Lab,
    agent_path: str,
    target: IscsiTarget,
    make_guest: Callable[..., LabGuest],
    timings: dict[str, float],
) -> None:
    """Through ocf:havirt:VirtualDomain, as Pacemaker would run it on each node."""
    if not lab.lock_manager:
        pytest.skip("the lab runs without libvirt's lock manager")
    guest = make_guest()
    key = lun_guest(lab, target, guest)

    def agent(node: str, action: str, interval_ms: int = 0, **reskeys: str) -> AgentRun:
        return run_agent(lab, node, agent_path, action, guest, 60000, interval_ms, **reskeys)

    started = agent("node1", "start")
    assert started.rc == SUCCESS, started
    timings["LUN guest start"] = started.seconds
    guest.wait_console(READY_MARKER, timeout=60)
    pid = only_copy(guest, "node1")
    dumped = lab.nodes["node1"].virsh("dumpxml", guest.name).stdout
    assert f"name='{target.iqn}/1'" in dumped and f"<key>{key}</key>" in dumped

    second = agent("node2", "start")
    timings["LUN guest second start refused"] = second.seconds
    assert second.rc == GENERIC, second
    assert "resource busy" in (second.reason or ""), second
    assert f"'{key}' is locked" in second.reason, second
    assert only_copy(guest, "node1") == pid
    assert guest.state(lab.nodes["node1"]) == "running"

    # Live migration with the LUN disk: both QEMUs log in to the target; the lease moves.
    moves = {"CRM_meta_migrate_source": "node1", "CRM_meta_migrate_target": "node2"}
    start = time.monotonic()
    out = agent("node1", "migrate_to", **MIGRATION, **moves)
    assert out.rc == SUCCESS, out
    out = agent("node2", "migrate_from", **MIGRATION, **moves)
    assert out.rc == SUCCESS, out
    timings["LUN guest live migration"] = time.monotonic() - start
    only_copy(guest, "node2")
    back = agent("node1", "start")
    assert back.rc == GENERIC and "resource busy" in (back.reason or ""), back
    assert agent("node2", "monitor", interval_ms=10000).rc == SUCCESS

    assert agent("node2", "stop", force_stop="true").rc == SUCCESS
    assert guest.qemu_pids() == {}


def test_volume_of_the_pool_as_disk_holds_the_pool_and_its_lease(
    lab: Lab,
    agent_path: str,
    installed_agents: dict[str, str],
    target: IscsiTarget,
    make_guest: Callable[..., LabGuest],
) -> None:
    """The guest names a volume of the iscsi-direct pool, active on both nodes."""
    if not lab.lock_manager:
        pytest.skip("the lab runs without libvirt's lock manager")
    pool_path = installed_agents["StoragePool"]
    reskeys = pool_reskeys(target)
    guest = make_guest()
    key = lun_guest(lab, target, guest, pool="luns")
    try:
        for node in ("node1", "node2"):
            started = pool_agent(lab, pool_path, "start", reskeys, node)
            assert started.rc == SUCCESS, (node, started)
        out = run_agent(lab, "node1", agent_path, "start", guest, 60000)
        assert out.rc == SUCCESS, out
        guest.wait_console(READY_MARKER, timeout=60)
        dumped = lab.nodes["node1"].virsh("dumpxml", guest.name).stdout
        assert "volume='unit:0:0:1'" in dumped and f"<key>{key}</key>" in dumped

        second = run_agent(lab, "node2", agent_path, "start", guest, 60000)
        assert second.rc == GENERIC and f"'{key}' is locked" in (second.reason or ""), second
        only_copy(guest, "node1")

        # The pool's stop on node1 refuses while the guest there uses its volume.
        refused = pool_agent(lab, pool_path, "stop", reskeys)
        assert refused.rc == GENERIC, refused
        assert f"still used by guests running on this node: {guest.name}" in (
            refused.reason or ""
        ), refused
        stop = run_agent(lab, "node1", agent_path, "stop", guest, 60000, force_stop="true")
        assert stop.rc == SUCCESS, stop
        for node in ("node1", "node2"):
            stopped = pool_agent(lab, pool_path, "stop", reskeys, node)
            assert stopped.rc == SUCCESS, (node, stopped)
    finally:
        guest.remove()
        remove_pools(lab, "luns")


def test_without_a_declared_lease_libvirt_starts_a_lun_guest_twice(
    lab: Lab, target: IscsiTarget, make_guest: Callable[..., LabGuest]
) -> None:
    """Why the lease must be declared: the lab's nodes require leases for disks
    (require_lease_for_disks=1), yet libvirt's automatic leases skip a disk QEMU opens
    itself, and nothing else stops a second copy on another node."""
    guest = make_guest()
    lun_guest(lab, target, guest, lease=False)
    leases_before = set(lab.lockspace_dir.iterdir())
    for node in ("node1", "node2"):
        lab.nodes[node].virsh("create", guest.node_xml_path, timeout=60)
    assert sorted(guest.qemu_pids()) == ["node1", "node2"]
    assert set(lab.lockspace_dir.iterdir()) == leases_before  # no lease was taken
