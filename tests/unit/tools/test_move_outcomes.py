"""What the move watcher reports about each guest, scenario by scenario: where it really
ended (the cluster's word, never the plan), how it got there (live-migrated, restarted,
stopped, unknown) and how long it was down.

Each scenario is a sequence of rounds, one per poll of the watcher, on a virtual clock:
the cluster status (``crm_mon --output-as xml``) and the operation history (the CIB status
section), both as the XML the real tools print, parsed by the real adapter. The fakes'
XML is held to the shape of a real capture in test_fake_history_has_the_real_shape, and
the judge is run on real captured XML of a live migration and of a crash in
test_real_captures_are_judged_truthfully.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.pacemaker import (
    ClusterStatus,
    OperationHistory,
    PacemakerError,
    PlannedAction,
    Simulation,
    parse_history,
    parse_status,
)
from havirt.tools.placement.guest_move import (
    DONE,
    LIVE_MIGRATED,
    NOT_RUNNING,
    RESTARTED,
    STOPPED,
    UNKNOWN,
    GuestMove,
    Progress,
)
from havirt.tools.placement.judge import judge
from havirt.tools.placement.recovery import SETTLE_SECONDS
from havirt.tools.placement.sightings import HistoryLog, Sightings
from havirt.tools.placement.watch import watch
from lock_fakes import Admin, World
from lxml import etree
from records_fakes import Op, OpLog, Rsc, crm_mon_xml

DATA = Path(__file__).parent / "data"
EPOCH = 1_800_000_000  # the virtual clock's wall-clock origin (epoch seconds)
POLL = 1.0  # one round per virtual second: round N (after the baseline) is read at N - 1 s


@dataclass
class Round:
    mon: str
    status: str
    planned: tuple[PlannedAction, ...] = ()  # what the scheduler would do now


@dataclass
class Scenario:
    """Rounds of cluster states, the first one being the state before anything moved."""

    log: OpLog = field(default_factory=OpLog)
    rounds: list[Round] = field(default_factory=list)

    def round(
        self,
        *resources: Rsc,
        ops: tuple[Op, ...] = (),
        unclean: tuple[str, ...] = (),
        offline: tuple[str, ...] = (),
        fence: tuple[str, ...] = (),
        standby: tuple[str, ...] = ("node1",),
        failures: tuple[dict[str, str], ...] = (),
        planned: tuple[PlannedAction, ...] = (),
    ) -> Scenario:
        self.log.run(*ops)
        for node in fence:
            self.log.fence(node)
        mon = crm_mon_xml(
            resources,
            unclean=unclean,
            offline=offline,
            standby=standby,
            dc="node3",
            failures=failures,
        )
        self.rounds.append(Round(mon, self.log.xml(down=unclean + offline), planned))
        return self


def at(second: float) -> int:
    """A virtual time as Pacemaker records it (whole epoch seconds)."""
    return int(EPOCH + second)


def failure(guest: str, task: str, node: str, second: float) -> dict[str, str]:
    return {
        "op_key": f"{guest}_{task}_0",
        "node": node,
        "exitstatus": "error",
        "exitreason": "migration failed",
        "exitcode": "1",
        "call": "9",
        "status": "complete",
        "last-rc-change": str(at(second)),
        "queued": "0",
        "exec": "1000",
        "interval": "0",
        "task": task,
    }


@dataclass
class FakeCluster:
    """The adapter's reading side, answering round by round: each status() is the next
    round (the last one repeats); history() is the history of the current round;
    wait() lets the cluster settle (the last round comes next)."""

    rounds: list[Round]
    index: int = 0
    calls: list[str] = field(default_factory=list)

    def baseline(self) -> tuple[ClusterStatus, OperationHistory]:
        first = self.rounds[0]
        return parse_status(first.mon), parse_history(first.status)

    def status(self) -> ClusterStatus:
        self.calls.append("status")
        self.index = min(self.index + 1, len(self.rounds) - 1)
        return parse_status(self.rounds[self.index].mon)

    def history(self) -> OperationHistory:
        self.calls.append("history")
        return parse_history(self.rounds[self.index].status)

    def wait(self, timeout: float) -> None:
        """crm_resource --wait: returns once the cluster settled (the last round is next)."""
        self.calls.append("wait")
        self.index = max(self.index, len(self.rounds) - 2)

    def simulate(self, *, run: bool = True) -> Simulation:
        """crm_simulate --live-check: the current round's planned actions."""
        self.calls.append("simulate")
        status = parse_status(self.rounds[self.index].mon)
        return Simulation(self.rounds[self.index].planned, status, None)


@dataclass
class EarlyWait(FakeCluster):
    """crm_resource --wait as it behaves while a start waits for fencing or a node:
    it returns at once (nothing runnable is pending); the first call fails outright."""

    def wait(self, timeout: float) -> None:
        self.calls.append("wait")
        if self.calls.count("wait") == 1:
            raise PacemakerError("crm_resource: could not connect to the CIB")


def virtual_env(pm: FakeCluster, progress: Progress | None = None) -> ClusterEnv:
    """The watcher's environment on a virtual clock whose second 0 is EPOCH."""
    world = World(origin=dt.datetime.fromtimestamp(EPOCH, dt.UTC))
    return Admin(world).cluster_env(pm, progress)


def drain(scenario: Scenario, planned: dict[str, str], timeout: float = 60.0) -> list[GuestMove]:
    """Watch a drain of node1, as ``havirt node standby node1`` does."""
    pm = FakeCluster(scenario.rounds)
    status, history = pm.baseline()
    moves = [GuestMove(g, "node1", target, required=False) for g, target in planned.items()]
    env = virtual_env(pm)
    return watch(env, moves, timeout=timeout, baseline=status, history=history, poll=POLL)


def on_node1(*guests: str) -> Scenario:
    scenario = Scenario()
    scenario.log.run(*(Op(g, "node1", "start", at(-100)) for g in guests))
    return scenario.round(*(Rsc(g, ("node1",)) for g in guests), standby=())


def live_migration(guest: str, source: str, target: str, second: int) -> tuple[Op, ...]:
    return (
        Op(guest, source, "migrate_to", at(second), exec_ms=1500, target=target),
        Op(guest, target, "migrate_from", at(second), exec_ms=200, target=source),
        Op(guest, source, "stop", at(second + 1), exec_ms=100),
    )


# -- the outcomes ----------------------------------------------------------------------


def test_a_clean_live_migration_is_reported_with_no_outage() -> None:
    scenario = (
        on_node1("vm1")
        .round(Rsc("vm1", ("node1",), pending="Migrating"))
        .round(Rsc("vm1", ("node2",)), ops=live_migration("vm1", "node1", "node2", 2))
    )
    (move,) = drain(scenario, {"vm1": "node2"})
    assert (move.state, move.node, move.how, move.outage) == (DONE, "node2", LIVE_MIGRATED, 0.0)
    assert move.ok and not move.outage_approximate


def test_a_failed_migrate_to_recovered_by_a_restart_elsewhere_is_a_restart() -> None:
    scenario = (
        on_node1("vm1")
        .round(Rsc("vm1", ("node1",), pending="Migrating"))
        .round(
            Rsc("vm1", ("node1",), failed=True),
            ops=(Op("vm1", "node1", "migrate_to", at(2), exec_ms=1000, rc=1, target="node2"),),
            failures=(failure("vm1", "migrate_to", "node1", 2),),
        )
        # The recovery: stopped on node1 (from 5 s), started on node3 (up at 9 s).
        .round(
            Rsc("vm1"),
            ops=(Op("vm1", "node1", "stop", at(5), exec_ms=1500),),
            failures=(failure("vm1", "migrate_to", "node1", 2),),
        )
        .round(
            Rsc("vm1", ("node3",)),
            ops=(Op("vm1", "node3", "start", at(7), exec_ms=2000),),
            failures=(failure("vm1", "migrate_to", "node1", 2),),
        )
    )
    (move,) = drain(scenario, {"vm1": "node2"})
    assert (move.state, move.node, move.how) == (DONE, "node3", RESTARTED)
    assert move.outage == 4.0 and not move.outage_approximate
    assert "stop on node1" in move.outage_note
    assert "migrate_to on node1 failed" in move.detail
    assert not move.ok  # the command exits 1


def test_target_crashing_mid_drain_restarts_the_guest_on_a_third_node() -> None:
    scenario = (
        on_node1("vm1")
        .round(Rsc("vm1", ("node1",), pending="Migrating"))
        # node2 is lost in the middle of the migration; the guest still runs on node1.
        .round(Rsc("vm1", ("node1",), pending="Migrating"), unclean=("node2",))
        .round(
            Rsc("vm1", ("node1",), failed=True),
            ops=(Op("vm1", "node1", "migrate_to", at(3), exec_ms=2500, rc=1, target="node2"),),
            unclean=("node2",),
        )
        .round(Rsc("vm1"), ops=(Op("vm1", "node1", "stop", at(5), exec_ms=1000),), fence=("node2",))
        .round(
            Rsc("vm1", ("node3",)),
            ops=(Op("vm1", "node3", "start", at(8), exec_ms=2000),),
            offline=("node2",),
        )
    )
    (move,) = drain(scenario, {"vm1": "node2"})
    assert (move.state, move.node, move.target, move.how) == (DONE, "node3", "node2", RESTARTED)
    assert move.outage == 5.0 and not move.outage_approximate  # stop at 5 s, up at 10 s


def test_a_guest_lost_with_its_target_after_migrate_to_gets_an_approximate_outage() -> None:
    """As captured on the lab: migrate_to succeeded, then the copy on the target was lost."""
    scenario = (
        on_node1("vm1")
        .round(
            Rsc("vm1", ("node2",), pending="Migrating"),
            ops=(Op("vm1", "node1", "migrate_to", at(1), exec_ms=1000, target="node2"),),
        )
        .round(Rsc("vm1", ("node2",)), unclean=("node2",))
        .round(
            Rsc("vm1"),
            ops=(Op("vm1", "node1", "stop", at(4), exec_ms=100),),  # cleanup: it had left
            fence=("node2",),
        )
        .round(
            Rsc("vm1", ("node3",)),
            ops=(Op("vm1", "node3", "start", at(6), exec_ms=1500),),
            offline=("node2",),
        )
    )
    (move,) = drain(scenario, {"vm1": "node2"})
    assert (move.node, move.how) == ("node3", RESTARTED)
    assert move.outage_approximate and "node2 died" in move.outage_note
    assert move.outage == 7.5  # last seen on node2 (up) at 0 s, up on node3 at 7.5 s


def test_the_drained_node_crashing_restarts_the_guests_still_on_it() -> None:
    scenario = (
        on_node1("vm1", "vm2")
        .round(Rsc("vm1", ("node1",), pending="Migrating"), Rsc("vm2", ("node1",)))
        .round(
            Rsc("vm1", ("node2",)),
            Rsc("vm2", ("node1",), pending="Migrating"),
            ops=live_migration("vm1", "node1", "node2", 2),
        )
        # node1 dies: crm_mon lists vm2 there until it is fenced, then nowhere.
        .round(Rsc("vm1", ("node2",)), Rsc("vm2", ("node1",)), unclean=("node1",))
        .round(Rsc("vm1", ("node2",)), Rsc("vm2"), fence=("node1",), offline=("node1",))
        .round(
            Rsc("vm1", ("node2",)),
            Rsc("vm2", ("node3",)),
            ops=(Op("vm2", "node3", "start", at(9), exec_ms=2000),),
            offline=("node1",),
        )
    )
    vm1, vm2 = drain(scenario, {"vm1": "node2", "vm2": "node2"})
    assert (vm1.node, vm1.how, vm1.outage) == ("node2", LIVE_MIGRATED, 0.0)
    assert (vm2.state, vm2.node, vm2.target, vm2.how) == (DONE, "node3", "node2", RESTARTED)
    assert vm2.outage == 10.0 and vm2.outage_approximate  # seen on node1 at 1 s, up at 11 s
    assert "node1 died" in vm2.outage_note
    assert vm1.ok and not vm2.ok


def test_a_guest_that_ends_up_stopped_is_reported_stopped_and_still_down() -> None:
    scenario = (
        on_node1("vm1")
        .round(Rsc("vm1", ("node1",), pending="Stopping"))
        .round(Rsc("vm1"), ops=(Op("vm1", "node1", "stop", at(2), exec_ms=1000),))
    )
    (move,) = drain(scenario, {"vm1": "node2"}, timeout=5)
    assert (move.state, move.node, move.how, move.outage) == (STOPPED, None, NOT_RUNNING, None)
    assert not move.ok


def _failed_then_down(scenario: Scenario) -> Scenario:
    """vm1's migration to node2 fails as node2 dies; vm1 is stopped on node1."""
    fail = (failure("vm1", "migrate_to", "node1", 2),)
    return (
        scenario.round(Rsc("vm1", ("node1",), pending="Migrating"))
        .round(
            Rsc("vm1", ("node1",), failed=True),
            ops=(Op("vm1", "node1", "migrate_to", at(2), exec_ms=1000, rc=1, target="node2"),),
            failures=fail,
        )
        .round(Rsc("vm1"), ops=(Op("vm1", "node1", "stop", at(3), exec_ms=1000),), failures=fail)
    )


def test_a_failed_guest_whose_start_waits_for_fencing_is_judged_once_it_runs() -> None:
    """crm_resource --wait returns while the start is blocked (and may fail): the
    watcher judges only once the scheduler has nothing left to do for the guest."""
    fail = (failure("vm1", "migrate_to", "node1", 2),)
    start = PlannedAction("start", "vm1", node="node3", reason="unrunnable stonith", blocked=True)
    scenario = (
        _failed_then_down(on_node1("vm1"))
        .round(Rsc("vm1"), unclean=("node2",), failures=fail)
        .round(Rsc("vm1"), fence=("node2",), offline=("node2",), failures=fail, planned=(start,))
        .round(Rsc("vm1"), offline=("node2",), failures=fail, planned=(start,))
        .round(
            Rsc("vm1", ("node3",)),
            ops=(Op("vm1", "node3", "start", at(8), exec_ms=2000),),
            offline=("node2",),
            failures=fail,
        )
    )
    pm = EarlyWait(scenario.rounds)
    status, history = pm.baseline()
    moves = [GuestMove("vm1", "node1", "node2", required=False)]
    watch(virtual_env(pm), moves, timeout=60, baseline=status, history=history, poll=POLL)
    (move,) = moves
    assert (move.state, move.node, move.how) == (DONE, "node3", RESTARTED)
    assert move.outage == 7.0  # stopped from 3 s, up on node3 at 10 s
    assert pm.calls.count("wait") >= 3 and "simulate" in pm.calls


def test_a_failed_guest_nothing_can_restart_is_judged_still_down_after_a_quiet_while() -> None:
    fail = (failure("vm1", "migrate_to", "node1", 2),)
    scenario = _failed_then_down(on_node1("vm1")).round(Rsc("vm1"), failures=fail)
    pm = EarlyWait(scenario.rounds)
    status, history = pm.baseline()
    moves = [GuestMove("vm1", "node1", "node2", required=False)]
    watch(virtual_env(pm), moves, timeout=60, baseline=status, history=history, poll=POLL)
    (move,) = moves
    assert (move.state, move.node, move.how) == (STOPPED, None, NOT_RUNNING)
    assert move.seconds is not None and SETTLE_SECONDS <= move.seconds < 60


def test_the_real_node_is_reported_when_the_scheduler_chose_another() -> None:
    scenario = (
        on_node1("vm1")
        .round(Rsc("vm1", ("node1",), pending="Migrating"))
        .round(Rsc("vm1", ("node3",)), ops=live_migration("vm1", "node1", "node3", 2))
    )
    (move,) = drain(scenario, {"vm1": "node2"})
    assert (move.node, move.target, move.how) == ("node3", "node2", LIVE_MIGRATED)


def test_a_guest_done_on_a_node_that_dies_while_others_move_is_followed_again() -> None:
    scenario = (
        on_node1("vm1", "vm2")
        .round(
            Rsc("vm1", ("node2",)),
            Rsc("vm2", ("node1",)),
            ops=live_migration("vm1", "node1", "node2", 1),
        )
        .round(Rsc("vm1", ("node2",)), Rsc("vm2", ("node1",), pending="Migrating"))
        .round(Rsc("vm1", ("node2",)), Rsc("vm2", ("node1",)), unclean=("node2",))
        .round(Rsc("vm1"), Rsc("vm2", ("node1",)), fence=("node2",), offline=("node2",))
        .round(
            Rsc("vm1", ("node3",)),
            Rsc("vm2", ("node3",)),
            ops=(
                Op("vm1", "node3", "start", at(6), exec_ms=1000),
                *live_migration("vm2", "node1", "node3", 6),
            ),
            offline=("node2",),
        )
    )
    seen: list[tuple[str, str, str | None]] = []
    pm = FakeCluster(scenario.rounds)
    status, history = pm.baseline()
    moves = [GuestMove(g, "node1", "node2", required=False) for g in ("vm1", "vm2")]
    env = virtual_env(pm, lambda m: seen.append((m.guest, m.state, m.how)))
    watch(env, moves, timeout=60, baseline=status, history=history, poll=POLL)
    vm1, vm2 = moves
    assert ("vm1", DONE, LIVE_MIGRATED) in seen and ("vm1", "moving", None) in seen
    assert (vm1.node, vm1.how, vm1.outage_approximate) == ("node3", RESTARTED, True)
    assert (vm2.node, vm2.how) == ("node3", LIVE_MIGRATED)


def test_two_restarts_add_up_though_the_cib_kept_only_the_last_stop() -> None:
    """As seen on the lab: handed over to node2, lost with it, started on node3, then
    moved back to node2 (rejoined) by a stop and a start, while vm2's slow migration kept
    the drain going. The CIB's node3 entry for the start is overwritten by the stop: the
    watcher has to have read it in between."""
    slow = Rsc("vm2", ("node1",), pending="Migrating")
    scenario = (
        on_node1("vm1", "vm2")
        .round(Rsc("vm1", ("node2",)), slow, ops=live_migration("vm1", "node1", "node2", 0))
        .round(Rsc("vm1", ("node2",)), slow, unclean=("node2",))
        .round(Rsc("vm1"), slow, fence=("node2",), offline=("node2",))
        .round(
            Rsc("vm1", ("node3",)),
            slow,
            ops=(Op("vm1", "node3", "start", at(5), exec_ms=1000),),
            offline=("node2",),
        )
        .round(Rsc("vm1", ("node3",)), slow)
        .round(Rsc("vm1"), slow, ops=(Op("vm1", "node3", "stop", at(8), exec_ms=1000),))
        .round(
            Rsc("vm1", ("node2",)),
            Rsc("vm2", ("node3",)),
            ops=(
                Op("vm1", "node2", "start", at(10), exec_ms=500),
                *live_migration("vm2", "node1", "node3", 10),
            ),
        )
    )
    vm1, vm2 = drain(scenario, {"vm1": "node2", "vm2": "node3"}, timeout=30)
    assert (vm1.node, vm1.how) == ("node2", RESTARTED)
    # Seen on node2 (up) at 0 s, up on node3 at 6 s; stopped there at 8 s, up on node2 at 10.5 s.
    assert vm1.outage == 8.5 and vm1.outage_approximate
    assert vm1.outage_note.startswith("2 outages: node2 died")
    assert (vm2.node, vm2.how) == ("node3", LIVE_MIGRATED)


def test_no_history_means_the_outcome_is_unknown_and_not_ok() -> None:
    scenario = on_node1("vm1").round(Rsc("vm1", ("node2",)))
    status = parse_status(scenario.rounds[-1].mon)
    move = GuestMove("vm1", "node1", "node2", required=False, state=DONE)
    judge(move, status, HistoryLog(None), Sightings())
    assert (move.node, move.how) == ("node2", UNKNOWN) and not move.ok


# -- what the admin reads -------------------------------------------------------------


def test_text_json_and_exit_status_tell_the_truth(capsys: pytest.CaptureFixture[str]) -> None:
    """The report is rendered as it is: what ``node standby`` prints of a standby's report
    and the status it exits with (the command hands its report to these two)."""
    from havirt.tools.cli import maintenance as maintenance_cli
    from havirt.tools.cli import moving
    from havirt.tools.placement.standby import StandbyReport

    migrated = GuestMove("vm1", "node1", "node2", False, DONE, "node2", 2.0)
    migrated.how, migrated.outage = LIVE_MIGRATED, 0.0
    restarted = GuestMove("vm2", "node1", "node2", False, DONE, "node3", 9.0)
    restarted.how, restarted.outage, restarted.outage_approximate = RESTARTED, 7.0, True
    restarted.outage_note = "node1 died; from the last time havirt saw it running there"
    reports = {
        "truth": StandbyReport("node1", True, [migrated, restarted], seconds=9.5),
        "clean": StandbyReport("node1", True, [migrated], seconds=2.5),
    }

    @dataclass
    class Shown:
        exit_code: int
        output: str

    def invoke(report: str, as_json: bool = False) -> Shown:
        text = maintenance_cli._standby_text(reports[report], "standby", dry_run=False)
        try:
            moving.finish(reports[report], as_json, text)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return Shown(code, capsys.readouterr().out)

    result = invoke("truth")
    assert result.exit_code == 1, result.output
    assert "vm1            node1 -> node2         done: live-migrated, no outage" in result.output
    assert "vm2            node1 -> node3         done: restarted, outage ~7.0 s" in result.output
    assert "approximate: node1 died" in result.output and "planned node2" in result.output
    assert "2 of 2 guests left node1 in 9.5 s: 1 live-migrated, 1 restarted" in result.output
    assert "not everything went as planned: vm2 restarted" in result.output

    result = invoke("truth", as_json=True)
    data = json.loads(result.output)
    assert result.exit_code == 1 and data["ok"] is False
    vm2 = data["guests"][1]
    assert (vm2["node"], vm2["target"], vm2["how"], vm2["outage"]) == (
        "node3",
        "node2",
        "restarted",
        7.0,
    )
    assert vm2["outage_approximate"] is True

    result = invoke("clean")
    assert result.exit_code == 0, result.output
    assert "1 of 1 guests left node1 in 2.5 s: 1 live-migrated" in result.output
    assert "not everything" not in result.output


# -- the fakes against real captures --------------------------------------------------


def _attributes(xml: str, tag: str) -> set[str]:
    root = etree.fromstring(xml.encode())
    return {name for el in root.iter(tag) for name in el.attrib}


def test_fake_history_has_the_real_shape() -> None:
    """The fake's CIB status carries every attribute a real one does that the adapter
    reads, under the same element path, and the adapter reads both alike."""
    real = (DATA / "cib-status-1-live-migration.xml").read_text()
    fake = OpLog().run(*live_migration("vm1", "node1", "node3", 2)).xml()
    read = {
        "id",
        "operation",
        "call-id",
        "rc-code",
        "op-status",
        "interval",
        "last-rc-change",
        "exec-time",
        "migrate_source",
        "migrate_target",
    }
    assert read <= _attributes(real, "lrm_rsc_op")
    assert read <= _attributes(fake, "lrm_rsc_op")
    assert _attributes(fake, "node_state") <= _attributes(real, "node_state")
    real_ops = {(o.node, o.id, o.task) for o in parse_history(real).of("vm1")}
    fake_ops = {(o.node, o.id, o.task) for o in parse_history(fake).of("vm1")}
    assert {
        ("node1", "vm1_migrate_to_0", "migrate_to"),
        ("node1", "vm1_last_0", "stop"),
        ("node3", "vm1_migrate_from_0", "migrate_from"),
    } <= real_ops & fake_ops


def _judged(guest: str, before: str, after: str, mon: str) -> GuestMove:
    status = parse_status((DATA / mon).read_text())
    baseline = parse_history((DATA / before).read_text())
    history = parse_history((DATA / after).read_text())
    move = GuestMove(guest, None, None, required=False, state=DONE)
    log = HistoryLog(baseline)
    log.add(history)
    judge(move, status, log, Sightings())
    return move


def test_real_captures_are_judged_truthfully() -> None:
    """Captured on the lab: vm1 drained from node1 by live migration; later vm2 drained
    from node2 while node1 was powered off: its migrate_to to node3 succeeded, the
    transition was aborted, Pacemaker stopped it on node3 and started it on node1."""
    vm1 = _judged(
        "vm1",
        "cib-status-0-before-drain.xml",
        "cib-status-1-live-migration.xml",
        "crm_mon-1-live-migration.xml",
    )
    assert (vm1.node, vm1.how, vm1.outage) == ("node3", LIVE_MIGRATED, 0.0)
    vm2 = _judged(
        "vm2",
        "cib-status-1-live-migration.xml",
        "cib-status-2-crash-restart.xml",
        "crm_mon-2-crash-restart.xml",
    )
    assert (vm2.node, vm2.how) == ("node1", RESTARTED)
    # Stopped on node3 from 1796297416 (2.3 s), started on node1 from 1796297419 (0.65 s).
    assert vm2.outage == 3.7 and not vm2.outage_approximate
    assert vm2.outage_note == "from its stop on node3"
