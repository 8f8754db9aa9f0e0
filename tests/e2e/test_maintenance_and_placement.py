"""`havirt node standby|unstandby`, `havirt balance`, `havirt place` and
`havirt cluster maintenance`, run as an admin would: the havirt CLI inside a
node of the real lab cluster, against its real Pacemaker and real QEMU guests.

Judged by the hypervisors' reality (the auditor: no guest ever runs twice, and
none is without a QEMU where the scenario does not allow it) and by the CIB:
no ``havirt-move-*`` constraint is ever left behind, also when a move fails.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from havirt.ocf.runner import CommandResult
from havirt.tools.lab.auditor import Auditor, QemuCopy
from havirt.tools.lab.cluster import ClusterLab
from lxml import etree

HAVIRT = str(Path(sys.executable).with_name("havirt"))
ADMIN = "node3"  # where the admin types; the guests are piled onto node1


def havirt(cluster: ClusterLab, *args: str, timeout: float = 180.0) -> CommandResult:
    return cluster.nodes[ADMIN].exec([HAVIRT, *args], timeout=timeout)


def havirt_json(cluster: ClusterLab, *args: str, rc: int = 0) -> dict:
    result = havirt(cluster, *args, "--json")
    assert result.returncode == rc, result.describe()
    return json.loads(result.stdout)


def havirt_constraints(cluster: ClusterLab) -> list[str]:
    xml = cluster.nodes[ADMIN].exec(["cibadmin", "--query", "--scope", "constraints"]).stdout
    return [
        el.get("id")
        for el in etree.fromstring(xml.encode())
        if el.get("id", "").startswith("havirt-")
    ]


def drained_record(cluster: ClusterLab, node: str) -> str | None:
    result = cluster.nodes[ADMIN].exec(
        ["crm_attribute", "--node", node, "--name", "havirt-drained-guests", "--query", "--quiet"]
    )
    return result.stdout.strip() if result.returncode == 0 else None


def where(auditor: Auditor, guest: str) -> str:
    nodes = auditor.where(guest)
    assert len(nodes) == 1, f"{guest} runs on {nodes}"
    return nodes[0]


def pile_onto(cluster: ClusterLab, node: str) -> None:
    """Every guest onto ``node``: the other nodes drained and back (stickiness keeps them)."""
    others = [n for n in cluster.nodes if n != node]
    for other in others:
        havirt_json(cluster, "node", "standby", other)
    for other in others:
        havirt_json(cluster, "node", "unstandby", other)


@contextmanager
def libvirtd_stopped(cluster: ClusterLab, node: str) -> Iterator[None]:
    cluster.nodes[node].stop_libvirtd()
    try:
        yield
    finally:
        cluster.nodes[node].start_libvirtd()


@pytest.fixture
def tidy(cluster: ClusterLab) -> Iterator[None]:
    """After each test: no havirt constraint or record left, no failure remembered."""
    yield
    leftovers = havirt_constraints(cluster)
    admin = cluster.nodes[ADMIN]
    admin.exec(
        [
            "cibadmin",
            "--delete-all",
            "--force",
            "--xpath",
            "//constraints/*[starts-with(@id,'havirt-')]",
        ]
    )
    for node in cluster.nodes:
        admin.exec(["crm_attribute", "--node", node, "--name", "havirt-drained-guests", "--delete"])
    admin.exec(
        ["crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--update", "false"]
    )
    # The failures a test provoked (a start that failed bans the guest from that node
    # for good) must not decide where the next test's guests can go.
    admin.exec(["crm_resource", "--cleanup"], check=True)
    admin.exec(["crm_resource", "--wait", "--timeout=120s"], timeout=150)
    assert not leftovers, f"havirt left constraints behind: {leftovers}"


def test_standby_drains_with_progress_and_unstandby_return_brings_guests_back(
    cluster: ClusterLab, auditor: Auditor, tidy: None, timings: dict[str, float]
) -> None:
    node = where(auditor, cluster.guest_names[0])
    on_node = sorted(g for g in cluster.guest_names if where(auditor, g) == node)

    result = havirt(cluster, "node", "standby", node)
    assert result.returncode == 0, result.describe()
    for guest in on_node:  # a live progress line per guest, and its final state
        assert f"{guest}" in result.stderr and "done" in result.stdout, result.describe()
        copy = auditor.current()[guest][0]
        assert copy.node != node and copy.incoming, f"{guest} was not live-migrated: {copy}"
    assert drained_record(cluster, node) == " ".join(on_node)
    assert cluster.status().node(node).standby

    report = havirt_json(cluster, "node", "unstandby", node, "--return")
    assert report["ok"] and sorted(g["guest"] for g in report["guests"]) == on_node
    assert all(where(auditor, g) == node for g in on_node)
    assert not cluster.status().node(node).standby
    assert drained_record(cluster, node) is None
    assert havirt_constraints(cluster) == []
    timings["havirt node unstandby --return"] = report["seconds"]
    # The auditor's max_outage=0: no guest was without a QEMU at any sample, none ran twice.


def test_standby_is_refused_when_the_other_nodes_lack_room(
    cluster: ClusterLab, auditor: Auditor, tidy: None
) -> None:
    node = where(auditor, cluster.guest_names[0])
    admin = cluster.nodes[ADMIN]
    others = [n for n in cluster.nodes if n != node]
    for other in others:  # the other nodes just fit what they run now
        used = sum(128 for g in cluster.guest_names if where(auditor, g) == other)
        admin.exec(
            ["crm_attribute", "-z", "--node", other, "--name", "hv_memory", "--update", str(used)],
            check=True,
        )
    try:
        result = havirt(cluster, "node", "standby", node)
        assert result.returncode == 2, result.describe()
        assert "cannot go to standby" in result.stderr and "hv_memory 0" in result.stderr
        assert "--force" in result.stderr  # the fix is named
        status = cluster.status()
        assert not status.node(node).standby, "a refused standby changed the node"
        assert drained_record(cluster, node) is None
    finally:
        for other in others:
            admin.exec(
                ["crm_attribute", "-z", "--node", other, "--name", "hv_memory", "--update", "2048"],
                check=True,
            )


def test_balance_spreads_the_guests_and_a_second_run_moves_nothing(
    cluster: ClusterLab, auditor: Auditor, tidy: None
) -> None:
    pile_onto(cluster, "node1")
    assert all(where(auditor, g) == "node1" for g in cluster.guest_names)

    plan = havirt_json(cluster, "balance", "--dry-run")
    assert plan["moves"] and all(where(auditor, g) == "node1" for g in cluster.guest_names)

    report = havirt_json(cluster, "balance")
    assert report["moves"] == plan["moves"]  # the plan is deterministic
    for move in report["moves"]:
        assert where(auditor, move["guest"]) == move["target"]
        assert auditor.current()[move["guest"]][0].incoming  # live-migrated
    assert havirt_constraints(cluster) == []

    again = havirt_json(cluster, "balance")
    assert again["moves"] == [], again  # hysteresis: no oscillation


def test_balance_whose_move_fails_leaves_no_constraint_behind(
    cluster: ClusterLab, auditor: Auditor, tidy: None
) -> None:
    pile_onto(cluster, "node1")
    plan = havirt_json(cluster, "balance", "--dry-run")
    doomed = plan["moves"][0]
    auditor.allow_outage(None)  # the failed guest is stopped and recovered elsewhere
    with libvirtd_stopped(cluster, doomed["target"]):
        result = havirt(cluster, "balance", "--json")
        assert result.returncode == 1, result.describe()
        report = json.loads(result.stdout)
        failed = next(g for g in report["guests"] if g["guest"] == doomed["guest"])
        assert failed["state"] == "failed" and "failed" in failed["detail"], failed
        assert havirt_constraints(cluster) == [], "a failed move left its constraint"
    cluster.wait_started([doomed["guest"]])
    assert len(auditor.where(doomed["guest"])) == 1


def test_place_avoid_moves_the_guest_and_clear_removes_the_wish(
    cluster: ClusterLab, auditor: Auditor, tidy: None
) -> None:
    guest = cluster.guest_names[0]
    node = where(auditor, guest)
    report = havirt_json(cluster, "place", guest, "--avoid", node, "--wait", "120")
    assert report["added"] == [f"havirt-avoid-{guest}-{node}"] and report["ok"]
    assert where(auditor, guest) != node
    assert havirt_constraints(cluster) == [f"havirt-avoid-{guest}-{node}"]

    refused = havirt(cluster, "place", guest, "--prefer", node)
    assert refused.returncode == 2 and "--clear --avoid" in refused.stderr

    cleared = havirt_json(cluster, "place", guest, "--clear")
    assert cleared["removed"] == [f"havirt-avoid-{guest}-{node}"]
    assert havirt_json(cluster, "place", guest)["constraints"] == []
    assert havirt_constraints(cluster) == []


def test_cluster_maintenance_on_and_off_reprobes_and_moves_nothing(
    cluster: ClusterLab, auditor: Auditor, tidy: None
) -> None:
    before = {g: where(auditor, g) for g in cluster.guest_names}
    on = havirt_json(cluster, "cluster", "maintenance", "on")
    assert on["changed"] and cluster.status().maintenance_mode
    refused = havirt(cluster, "node", "standby", before[cluster.guest_names[0]])
    assert refused.returncode == 2 and "maintenance" in refused.stderr
    off = havirt_json(cluster, "cluster", "maintenance", "off")
    assert off["changed"] and off["refreshed"] and off["actions"] == []
    assert not cluster.status().maintenance_mode
    assert {g: where(auditor, g) for g in cluster.guest_names} == before


def test_unstandby_return_whose_move_fails_leaves_no_constraint_and_keeps_the_record(
    cluster: ClusterLab, auditor: Auditor, tidy: None
) -> None:
    guest = cluster.guest_names[0]
    node = where(auditor, guest)
    havirt_json(cluster, "node", "standby", node)
    drained = drained_record(cluster, node)
    assert drained and guest in drained.split()
    auditor.allow_outage(None)  # the failed guest is stopped and recovered elsewhere
    with libvirtd_stopped(cluster, node):
        result = havirt(cluster, "node", "unstandby", node, "--return", "--json")
        assert result.returncode == 1, result.describe()
        report = json.loads(result.stdout)
        assert not report["ok"] and any(g["state"] == "failed" for g in report["guests"])
        assert havirt_constraints(cluster) == [], "a failed return left its constraint"
        # The guests that did not come back stay recorded, for another --return later.
        assert guest in (drained_record(cluster, node) or "").split()
    cluster.wait_started(cluster.guest_names)
    assert all(len(auditor.where(g)) == 1 for g in cluster.guest_names)


# -- the truth about each guest: where it ended, how, and how long it was down ----------


def test_plain_standby_reports_every_guest_live_migrated_with_no_outage(
    cluster: ClusterLab, auditor: Auditor, tidy: None
) -> None:
    node = where(auditor, cluster.guest_names[0])
    on_node = sorted(g for g in cluster.guest_names if where(auditor, g) == node)
    try:
        result = havirt(cluster, "node", "standby", node, "--json")
        assert result.returncode == 0, result.describe()
        report = json.loads(result.stdout)
        assert report["ok"] and sorted(g["guest"] for g in report["guests"]) == on_node
        for guest in report["guests"]:
            copy = auditor.current()[guest["guest"]][0]
            assert guest["state"] == "done", guest
            assert guest["node"] == copy.node != node, (guest, copy)  # the real node
            assert (guest["how"], guest["outage"]) == ("live-migrated", 0.0), guest
            assert copy.incoming, f"the hypervisor says {guest['guest']} was not migrated"
    finally:
        cluster.nodes[ADMIN].pcs("node", "unstandby", node, check=False)


def _seconds_without_qemu(auditor: Auditor, guest: str, since: float) -> float:
    """How long the auditor saw ``guest`` without any QEMU since ``since`` (for the log:
    compare with the outage havirt reports)."""
    down, total = None, 0.0
    for placement in auditor.timeline:
        if placement.guest != guest or placement.at < since:
            continue
        if not placement.nodes and down is None:
            down = placement.at
        elif placement.nodes and down is not None:
            total, down = total + placement.at - down, None
    return round(total, 1)


def _copies_at(auditor: Auditor, guest: str, when: float) -> list[QemuCopy]:
    """The guest's QEMU processes as the auditor saw them at ``when`` (monotonic)."""
    placement = None
    for seen in auditor.timeline:
        if seen.guest == guest and seen.at <= when:
            placement = seen
    assert placement is not None, f"the auditor never saw {guest}"
    return list(placement.copies)


def test_target_crashing_during_standby_is_reported_as_a_restart_with_its_outage(
    cluster: ClusterLab, auditor: Auditor, tidy: None
) -> None:
    """The guest's migration is slowed down (migration_speed, a reloadable parameter)
    so that its target can be powered off while the migration runs, every time."""
    guest = cluster.guest_names[0]
    node = where(auditor, guest)
    plan = havirt_json(cluster, "node", "standby", node, "--dry-run")
    target = next(g["target"] for g in plan["guests"] if g["guest"] == guest)
    third = next(n for n in cluster.nodes if n not in (node, target))
    admin = cluster.nodes[third]  # neither drained nor crashed
    set_speed = ["crm_resource", "--resource", guest, "--set-parameter", "migration_speed"]
    try:
        admin.exec([*set_speed, "--parameter-value", "1"], check=True)
        admin.exec(["crm_resource", "--wait", "--timeout=60s"], timeout=90)
        auditor.allow_outage(None)  # the guest is lost with its target and restarted
        began = time.monotonic()
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(
                admin.exec,
                [HAVIRT, "node", "standby", node, "--json", "--timeout", "240"],
                timeout=300,
            )
            auditor.wait_for(
                lambda: (
                    any(c.node == target and c.incoming for c in auditor.current().get(guest, []))
                    or running.done()
                ),
                120,
                f"{guest}'s migration to {target} under way",
            )
            assert not running.done(), running.result().describe()
            cluster.nodes[target].power_off()
            result = running.result()
            ended = time.monotonic()
        print(result.stdout)  # shown when the test fails
        print({g: _seconds_without_qemu(auditor, g, began) for g in cluster.guest_names})
        assert result.returncode == 1, result.describe()
        report = json.loads(result.stdout)
        assert not report["ok"]
        crashed = next(g for g in report["guests"] if g["guest"] == guest)
        assert crashed["how"] == "restarted", crashed
        assert crashed["target"] == target  # the plan, reported apart from the truth
        assert isinstance(crashed["outage"], float) and crashed["outage"] > 0, crashed
        # Every guest's story agrees with the hypervisors when the command ended (the
        # cluster may move a guest later, e.g. once the fenced target is back): where
        # it ran (the third node, or the target once fenced and back), and whether its
        # QEMU was started as a migration's destination.
        for other in report["guests"]:
            at_end = _copies_at(auditor, other["guest"], ended)
            assert [c.node for c in at_end] == [other["node"]], (other, at_end)
            assert (other["how"] == "live-migrated") == at_end[0].incoming, (other, at_end)
    finally:
        admin.exec(
            ["crm_resource", "--resource", guest, "--delete-parameter", "migration_speed"],
            timeout=60,
        )
        # A fresh QEMU for the slowed guest: the scenarios after this one must not
        # inherit its libvirt bandwidth limit (a later drain of it lost its QEMU on a
        # fresh root; whether the agent's lifting of the limit works on real libvirt is
        # still to be shown, see the session notes).
        admin.exec(
            ["crm_resource", "--restart", "--resource", guest, "--timeout=180s"], timeout=240
        )
        cluster.restore()


@contextmanager
def tight_room(cluster: ClusterLab, auditor: Auditor) -> Iterator[None]:
    """Every node's hv_memory capacity fits as many guests (128 MiB each) as the busiest
    node runs, and at least two: with four guests on three nodes, any one node can then
    go to standby, but no two."""
    admin = cluster.nodes[ADMIN]
    counts = [sum(where(auditor, g) == n for g in cluster.guest_names) for n in cluster.nodes]
    fits = max(2, *counts)
    assert 2 * fits >= len(cluster.guest_names) > fits, (counts, "not a tight case")
    capacity = ["crm_attribute", "-z", "--name", "hv_memory", "--update"]
    try:
        for node in cluster.nodes:
            admin.exec([*capacity, str(128 * fits), "--node", node], check=True)
        yield
    finally:
        for node in cluster.nodes:
            admin.exec([*capacity, "2048", "--node", node], check=True)
        admin.pcs("node", "unstandby", "--all", check=False)


def lock_holder(cluster: ClusterLab) -> dict | None:
    report = havirt_json(cluster, "cluster", "lock")
    return report.get("holder")


def standby_from(cluster: ClusterLab, admin: str, node: str, *extra: str) -> CommandResult:
    return cluster.nodes[admin].exec(
        [HAVIRT, "node", "standby", node, "--timeout", "180", *extra], timeout=300
    )


def test_two_standbys_at_once_in_the_tight_case_stop_no_guest(
    cluster: ClusterLab, auditor: Auditor, tidy: None
) -> None:
    """Two admins on two nodes put two nodes in standby at the same moment, where each
    alone fits and both together would stop a guest: one gets the cluster lock and
    drains its node; the other is refused (the lock, or the room once it sees the first
    standby), changes nothing, and no guest is ever without its QEMU."""
    with tight_room(cluster, auditor), ThreadPoolExecutor(2) as pool:
        first = pool.submit(standby_from, cluster, "node3", "node1")
        second = pool.submit(standby_from, cluster, "node1", "node2")
        results = {"node1": first.result(), "node2": second.result()}
        codes = sorted(r.returncode for r in results.values())
        assert codes == [0, 2], {n: r.describe() for n, r in results.items()}
        drained = next(n for n, r in results.items() if r.returncode == 0)
        refused = results["node2" if drained == "node1" else "node1"]
        assert (
            "another havirt command holds the cluster lock" in refused.stderr
            or "cannot go to standby" in refused.stderr
        ), refused.describe()
        status = cluster.status()
        assert status.node(drained).standby
        assert not status.node("node2" if drained == "node1" else "node1").standby
        assert all(where(auditor, g) != drained for g in cluster.guest_names)
        assert lock_holder(cluster) is None  # released
    auditor.check()


def hold_lock_by_hand(cluster: ClusterLab) -> None:
    """A lock as another admin's command would hold it (on no lab node, for an hour)."""
    now = time.time()
    fields = {
        "token": "byhand",
        "command": "cluster maintenance on",
        "user": "alice",
        "host": "elsewhere",
        "pid": "1",
        "process-start": "0",
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
    }
    pairs = "".join(
        f'<nvpair id="havirt-lock-{k}" name="havirt-lock-{k}" value="{v}"/>'
        for k, v in fields.items()
    )
    xml = f'<cluster_property_set id="havirt-lock">{pairs}</cluster_property_set>'
    cluster.nodes[ADMIN].exec(
        ["cibadmin", "--create", "--scope", "crm_config", "--xml-text", xml], check=True
    )


def test_standbys_waiting_for_the_lock_go_one_by_one_and_recheck_the_room(
    cluster: ClusterLab, auditor: Auditor, tidy: None
) -> None:
    """Two admins' standbys both wait for a lock a third holds (--wait-lock), each told
    who holds it. When it is released, one of them gets it and drains its node; the
    other gets it next, checks the room the first standby left, and refuses."""
    with tight_room(cluster, auditor), ThreadPoolExecutor(2) as pool:
        hold_lock_by_hand(cluster)
        try:
            waiting = "--wait-lock", "240"
            first = pool.submit(standby_from, cluster, "node3", "node1", *waiting)
            second = pool.submit(standby_from, cluster, "node1", "node2", *waiting)
            time.sleep(10)  # both are waiting by now (the lock is held for an hour)
            assert not first.done() and not second.done()
        finally:
            cluster.nodes[ADMIN].exec(["cibadmin", "--delete", "--xpath",
                                       "//cluster_property_set[@id='havirt-lock']"])  # fmt: skip
        results = {"node1": first.result(), "node2": second.result()}
        for result in results.values():
            assert (
                "waiting for the cluster lock: 'havirt cluster maintenance on' by alice on "
                "elsewhere (pid 1)"
            ) in result.stderr, result.describe()
        codes = sorted(r.returncode for r in results.values())
        assert codes == [0, 2], {n: r.describe() for n, r in results.items()}
        drained = next(n for n, r in results.items() if r.returncode == 0)
        other = "node2" if drained == "node1" else "node1"
        assert f"{other} cannot go to standby" in results[other].stderr, results[other].describe()
        assert not cluster.status().node(other).standby
        assert lock_holder(cluster) is None
    auditor.check()
