"""HA scenarios on the lab cluster, judged by the hypervisors' reality.

Each test injects one fault, waits for the cluster to react, and checks what
QEMU processes exist where (the auditor samples them throughout: a guest
running twice, or missing longer than the scenario allows, fails the test at
once). Fencing is on in every scenario.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from havirt.tools.lab.auditor import AuditError, Auditor, QemuCopy
from havirt.tools.lab.cluster import ClusterLab
from lxml import etree
from planting import planted_domain

RECOVERY_TIMEOUT = 90.0
STORM_GUESTS = 8


def _copy(auditor: Auditor, guest: str) -> QemuCopy:
    copies = auditor.current().get(guest, [])
    assert len(copies) == 1, f"{guest} should run exactly once, runs on {copies}"
    return copies[0]


def _guests_by_node(cluster: ClusterLab, auditor: Auditor) -> dict[str, list[str]]:
    by_node: dict[str, list[str]] = {name: [] for name in cluster.nodes}
    for guest in cluster.guest_names:
        by_node[_copy(auditor, guest).node].append(guest)
    return by_node


def _busiest(cluster: ClusterLab, auditor: Auditor) -> tuple[str, list[str]]:
    by_node = _guests_by_node(cluster, auditor)
    node = max(by_node, key=lambda n: len(by_node[n]))
    return node, by_node[node]


def _admin(cluster: ClusterLab, avoid: str) -> str:
    return next(name for name in cluster.nodes if name != avoid)


def _pids(auditor: Auditor, guests: list[str]) -> dict[str, int]:
    return {g: _copy(auditor, g).pid for g in guests}


def _running_elsewhere(auditor: Auditor, guests: list[str], node: str) -> bool:
    current = auditor.current()
    return all(
        len(current.get(g, [])) == 1 and current[g][0].node != node and not _migrating(current, g)
        for g in guests
    )


def _recovered(auditor: Auditor, before: dict[str, int]) -> bool:
    """Every guest of ``before`` (guest -> the PID of its QEMU then) runs once again,
    in a new QEMU: restarted after its node died. Where does not matter: a crashed node
    that was fenced and rejoined is as good a home as a survivor, and the scheduler may
    move a guest there once it is back (the placement strategy balances the load)."""
    current = auditor.current()
    return all(
        len(current.get(g, [])) == 1 and current[g][0].pid != pid for g, pid in before.items()
    )


def _migrating(current: dict[str, list[QemuCopy]], guest: str) -> bool:
    return len(current.get(guest, [])) > 1


def _fence_history(cluster: ClusterLab, via: str, target: str) -> list[dict[str, str]]:
    result = cluster.nodes[via].exec(
        ["stonith_admin", "--history", target, "--output-as", "xml"], timeout=30
    )
    root = etree.fromstring(result.stdout.encode())
    return [dict(event.attrib) for event in root.iter("fence_event")]


# ---------------------------------------------------------------- scenarios


def test_killed_guest_qemu_is_restarted(
    cluster: ClusterLab, auditor: Auditor, timings: dict[str, float]
) -> None:
    guest = cluster.guest_names[0]
    victim = _copy(auditor, guest)
    auditor.allow_outage(RECOVERY_TIMEOUT)
    start = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)
    auditor.wait_for(
        lambda: [c for c in auditor.current().get(guest, []) if c.pid != victim.pid],
        RECOVERY_TIMEOUT,
        f"{guest} restarted after its QEMU was killed",
        explain=cluster.diagnose,
    )
    timings["QEMU killed -> guest running again"] = time.monotonic() - start
    cluster.wait_started([guest])


def test_standby_drains_by_live_migration_without_restart(
    cluster: ClusterLab, auditor: Auditor, timings: dict[str, float]
) -> None:
    node, moving = _busiest(cluster, auditor)
    staying = [g for g in cluster.guest_names if g not in moving]
    before = _pids(auditor, staying)
    start = time.monotonic()
    cluster.nodes[_admin(cluster, node)].pcs("node", "standby", node)
    auditor.wait_for(
        lambda: _running_elsewhere(auditor, moving, node),
        RECOVERY_TIMEOUT,
        f"{node} drained",
        explain=cluster.diagnose,
    )
    timings[f"standby drain ({len(moving)} guests)"] = time.monotonic() - start
    for guest in moving:  # live-migrated (started as migration destination), not restarted
        assert _copy(auditor, guest).incoming, f"{guest} was restarted, not migrated"
    assert _pids(auditor, staying) == before, "a guest on another node was disturbed"
    # The auditor's max_outage=0: no guest was without a QEMU at any sample.


def test_node_crash_is_fenced_and_guests_recover_elsewhere(
    cluster: ClusterLab, auditor: Auditor, timings: dict[str, float]
) -> None:
    node, victims = _busiest(cluster, auditor)
    lost = _pids(auditor, victims)
    healthy = _pids(auditor, [g for g in cluster.guest_names if g not in victims])
    survivor = _admin(cluster, node)
    auditor.allow_outage(RECOVERY_TIMEOUT)
    start = time.monotonic()
    cluster.nodes[node].power_off()  # the crash: every process of the node dies at once
    auditor.wait_for(
        lambda: _recovered(auditor, lost),
        RECOVERY_TIMEOUT,
        f"guests of crashed {node} running again",
        explain=cluster.diagnose,
    )
    timings["node crash -> guests running elsewhere"] = time.monotonic() - start
    events = _fence_history(cluster, survivor, node)
    assert any(e.get("status") == "success" for e in events), events
    assert _pids(auditor, list(healthy)) == healthy, "stickiness: healthy guests must stay put"
    cluster.wait_online(RECOVERY_TIMEOUT)  # the fenced node rebooted and rejoined


def test_a_node_dead_before_its_fencing_rejoins(
    cluster: ClusterLab, auditor: Auditor, timings: dict[str, float]
) -> None:
    """Every process of a node dies outside the lab's power-off (its /run and /dev/shm
    keep Corosync's and Pacemaker's files): the fence finds it off already and only
    powers it on, and it must still rejoin (it failed with CS_ERR_NO_SPACE)."""
    node_name, victims = _busiest(cluster, auditor)
    lost = _pids(auditor, victims)
    node = cluster.nodes[node_name]
    listing = ["find", "/dev/shm", "-mindepth", "1"]
    stale = set(node.exec(listing, timeout=15, check=True).stdout.split())
    assert stale, "Corosync and Pacemaker keep their IPC buffers in /dev/shm"
    auditor.allow_outage(RECOVERY_TIMEOUT)
    start = time.monotonic()
    deadline = start + 15
    while pids := [p for p in node.pids() if p != node.holder_pid]:
        assert time.monotonic() < deadline, f"{node_name}'s processes survive SIGKILL: {pids}"
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)  # processes of the lab node this test made
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    auditor.wait_for(
        lambda: _recovered(auditor, lost),
        RECOVERY_TIMEOUT,
        f"guests of dead {node_name} running again",
        explain=cluster.diagnose,
    )
    cluster.wait_online(RECOVERY_TIMEOUT)  # fenced (on only), booted and rejoined
    timings["node dead before fencing -> online again"] = time.monotonic() - start
    left = stale & set(node.exec(listing, timeout=15, check=True).stdout.split())
    assert not left, f"IPC buffers of the dead processes survived: {sorted(left)[:3]}..."


def test_libvirtd_stopped_causes_no_false_stop_and_no_recovery(
    cluster: ClusterLab, auditor: Auditor, timings: dict[str, float]
) -> None:
    node, guests = _busiest(cluster, auditor)
    before = _pids(auditor, cluster.guest_names)
    cluster.nodes[node].stop_libvirtd()
    try:
        time.sleep(25)  # two and a half monitor intervals without libvirtd
        status = cluster.status()
        for guest in guests:
            rsc = status.resource(guest)
            assert (rsc.role, rsc.nodes, rsc.failed) == ("Started", (node,), False), rsc
    finally:
        cluster.nodes[node].start_libvirtd()
    time.sleep(12)  # monitors run against the restarted libvirtd
    assert _pids(auditor, cluster.guest_names) == before, "a guest was restarted or moved"
    assert not any(r.failed for r in cluster.status().resources)


def test_partitioned_node_is_fenced_and_survivors_keep_quorum(
    cluster: ClusterLab, auditor: Auditor, timings: dict[str, float]
) -> None:
    node, victims = _busiest(cluster, auditor)
    survivor = _admin(cluster, node)
    auditor.allow_outage(RECOVERY_TIMEOUT)
    start = time.monotonic()
    cluster.partition(node)
    try:
        auditor.wait_for(
            lambda: _running_elsewhere(auditor, victims, node),
            RECOVERY_TIMEOUT,
            f"guests of partitioned {node} running on the majority",
            explain=cluster.diagnose,
        )
        timings["partition -> guests running on the majority"] = time.monotonic() - start
        status = cluster.status(via=survivor)
        assert status.quorum, "the two survivors must keep quorum"
        events = _fence_history(cluster, survivor, node)
        assert any(e.get("status") == "success" for e in events), events
    finally:
        cluster.heal(node)
    cluster.wait_online(RECOVERY_TIMEOUT)


def test_migration_interrupted_by_target_crash_leaves_one_copy(
    cluster: ClusterLab, auditor: Auditor, timings: dict[str, float]
) -> None:
    guest = cluster.guest_names[1]
    source = _copy(auditor, guest).node
    target = next(n for n in cluster.nodes if n != source)
    admin = cluster.nodes[next(n for n in cluster.nodes if n not in (source, target))]
    # Slow the migration down (MiB/s) so that the crash lands in the middle of it.
    admin.pcs("resource", "update", guest, "migration_speed=4")
    try:
        # crm_resource, not pcs: `pcs resource move` waits for the move to finish.
        admin.exec(["crm_resource", "--move", "-r", guest, "-N", target], check=True)
        auditor.wait_for(
            lambda: any(c.node == target for c in auditor.current().get(guest, [])),
            60,
            f"{guest} migrating to {target}",
        )
        auditor.allow_outage(RECOVERY_TIMEOUT)
        cluster.nodes[target].power_off()
        admin.exec(["crm_resource", "--clear", "-r", guest], check=True)
        auditor.wait_for(
            lambda: _running_elsewhere(auditor, [guest], target),
            RECOVERY_TIMEOUT,
            f"{guest} running once after its migration target crashed",
            explain=cluster.diagnose,
        )
    finally:
        admin.exec(["crm_resource", "--clear", "-r", guest], check=False)
        admin.pcs("resource", "update", guest, "migration_speed=", check=False)
    cluster.wait_online(RECOVERY_TIMEOUT)
    cluster.wait_started([guest])
    assert len(auditor.current()[guest]) == 1


def test_domain_xml_missing_on_nodes_causes_no_double_start(
    cluster: ClusterLab, auditor: Auditor, timings: dict[str, float]
) -> None:
    guest = cluster.guest_names[2]
    running_on = _copy(auditor, guest).node
    other = next(n for n in cluster.nodes if n != running_on)
    before = _pids(auditor, cluster.guest_names)
    guest_dir = f"{cluster.shared_mount}/guests/{guest}"
    hidden = []
    try:
        for name in (running_on, other):  # where it runs, and where it could be started
            cluster.nodes[name].exec(["mount", "-t", "tmpfs", "tmpfs", guest_dir], check=True)
            hidden.append(name)
        # A probe storm: every resource re-probed on every node.
        cluster.nodes[running_on].exec(["crm_resource", "--refresh"], timeout=60, check=True)
        time.sleep(15)
        status = cluster.status()
        assert status.resource(guest).nodes == (running_on,), status.resource(guest)
    finally:
        for name in hidden:
            cluster.nodes[name].exec(["umount", guest_dir], check=False)
    assert _pids(auditor, cluster.guest_names) == before


def test_domain_xml_broken_for_25s_leaves_the_guest_untouched(
    cluster: ClusterLab, auditor: Auditor, timings: dict[str, float]
) -> None:
    """An admin's editor or a half-copied file: the running guest's domain XML on the
    shared storage holds garbage for 25 s (more than two monitor intervals), with a
    probe storm in the middle. Nothing may stop, move or fail the guest."""
    guest = cluster.guest_names[1]
    running_on = _copy(auditor, guest).node
    before = _pids(auditor, cluster.guest_names)
    node = cluster.nodes[running_on]
    xml = f"{cluster.shared_mount}/guests/{guest}/domain.xml"
    node.exec(["cp", "-p", xml, f"{xml}.good"], check=True)
    try:
        node.exec(["sh", "-c", f"printf '<domain><name>half-cop' > {xml}"], check=True)
        node.exec(["crm_resource", "--refresh", "-r", guest], timeout=60, check=True)
        time.sleep(25)
        status = cluster.status()
        assert status.resource(guest).nodes == (running_on,), status.resource(guest)
        assert not [f for f in status.failed_actions if f.resource == guest], status
    finally:
        node.exec(["mv", f"{xml}.good", xml], check=False)
    assert _pids(auditor, cluster.guest_names) == before


def test_auditor_catches_a_double_start_behind_pacemakers_back(
    cluster: ClusterLab, auditor: Auditor, timings: dict[str, float]
) -> None:
    guest = cluster.guest_names[3]
    running_on = _copy(auditor, guest).node
    other = next(n for n in cluster.nodes if n != running_on)
    with (
        Auditor(cluster, [guest]) as watcher,
        planted_domain(cluster, other, guest),  # unknown to Pacemaker
        pytest.raises(AuditError, match=f"{guest} started again while it runs"),
    ):
        watcher.wait_for(lambda: False, 30, "the auditor to object")
    # The test's own auditor saw the same: acknowledge it, the planted copy is gone.
    assert any(guest in v for v in auditor.violations)
    auditor.violations.clear()


def test_cluster_start_with_guests_already_running_starts_each_once(
    make_cluster: Callable[..., ClusterLab], timings: dict[str, float]
) -> None:
    """A probe storm: the cluster starts while half of its guests already run (as after a
    cluster restart in maintenance); every probe must find them, none may start twice."""
    lab = make_cluster("storm", guests=STORM_GUESTS, start_cluster=False)
    lab.up()
    nodes = list(lab.nodes.values())
    already = lab.guest_names[::2]
    for i, guest in enumerate(already):
        node = nodes[i % len(nodes)]
        lab.guests[guest].define(node)
        lab.guests[guest].start(node)
    with Auditor(lab, lab.guest_names, max_outage=None) as auditor:
        before = {g: c[0].pid for g, c in auditor.current().items() if g in already}
        assert sorted(before) == sorted(already)
        start = time.monotonic()
        lab.start_cluster_stack()
        lab.wait_online()
        lab.wait_started(lab.guest_names, timeout=180)
        timings[f"cluster start, {STORM_GUESTS} guests ({len(already)} running)"] = (
            time.monotonic() - start
        )
        current = auditor.current()
        assert all(len(current.get(g, [])) == 1 for g in lab.guest_names), current
        assert {g: current[g][0].pid for g in already} == before, "a running guest restarted"
    auditor.check()
