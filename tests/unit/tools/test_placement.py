"""Placement logic with fakes: the balance planner's hysteresis, the move watcher's
judgement, and that temporary constraints are removed on every way out.
(tests/contract/test_placement_pacemaker.py runs the real Pacemaker tools;
tests/e2e/test_maintenance_and_placement.py the real cluster.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.errors import BadRequest, HavirtError, Refused
from havirt.tools.pacemaker import (
    ClusterStatus,
    FailedAction,
    NodeStatus,
    OperationHistory,
    ResourceStatus,
)
from havirt.tools.placement.balance import BalancePolicy, plan_balance
from havirt.tools.placement.constraints import (
    Move,
    move_constraints,
    move_constraints_in,
    to_text,
)
from havirt.tools.placement.guest_move import DONE, FAILED, TIMED_OUT, GuestMove
from havirt.tools.placement.model import Guest, Host, Layout
from havirt.tools.placement.moves import carry_out
from havirt.tools.placement.watch import watch
from lock_fakes import Admin, World
from lxml import etree

CAPACITY = {"cpu": 4, "hv_memory": 2048}


def layout(
    placement: dict[str, str], nodes: tuple[str, ...] = ("n1", "n2", "n3"), **hosts
) -> Layout:
    return Layout(
        hosts=tuple(
            hosts.get(n) or Host(n, CAPACITY, online=True, standby=False, maintenance=False)
            for n in nodes
        ),
        guests=tuple(
            Guest(g, {"cpu": 1, "hv_memory": 128}, node, (node,))
            for g, node in sorted(placement.items())
        ),
    )


# -- the planner ---------------------------------------------------------------------------


def test_all_guests_on_one_node_are_spread_and_the_result_needs_no_second_run() -> None:
    start = layout({"vm1": "n1", "vm2": "n1", "vm3": "n1", "vm4": "n1"})
    plan = plan_balance(start, BalancePolicy())
    assert plan.moves == [Move("vm1", "n1", "n2"), Move("vm2", "n1", "n3")]
    assert plan.loads_before == {"n1": 1.0, "n2": 0.0, "n3": 0.0}
    assert plan.loads_after == {"n1": 0.5, "n2": 0.25, "n3": 0.25}
    after = start
    for move in plan.moves:
        after = after.moved(move.guest, move.target)
    assert plan_balance(after, BalancePolicy()).moves == []  # no oscillation


def test_a_balanced_cluster_is_left_alone() -> None:
    plan = plan_balance(layout({"vm1": "n1", "vm2": "n2", "vm3": "n3"}), BalancePolicy())
    assert plan.moves == [] and "within the threshold" in plan.reason


def test_a_small_spread_within_the_threshold_is_left_alone() -> None:
    plan = plan_balance(
        layout({"vm1": "n1", "vm2": "n1", "vm3": "n2"}), BalancePolicy(threshold=0.5)
    )
    assert plan.moves == []


def test_max_moves_and_refused_pairs_are_honoured() -> None:
    start = layout({"vm1": "n1", "vm2": "n1", "vm3": "n1", "vm4": "n1"})
    assert len(plan_balance(start, BalancePolicy(max_moves=1)).moves) == 1
    plan = plan_balance(start, BalancePolicy(), frozenset({("vm1", "n2"), ("vm1", "n3")}))
    assert [m.guest for m in plan.moves] == ["vm2", "vm3"]


def test_a_guest_is_only_moved_where_it_fits() -> None:
    small = Host("n2", {"cpu": 4, "hv_memory": 100}, online=True, standby=False, maintenance=False)
    plan = plan_balance(layout({"vm1": "n1", "vm2": "n1"}, ("n1", "n2"), n2=small), BalancePolicy())
    assert plan.moves == []


def test_nodes_in_standby_take_nothing_and_missing_capacity_is_an_error() -> None:
    standby = Host("n3", CAPACITY, online=True, standby=True, maintenance=False)
    plan = plan_balance(
        layout({"vm1": "n1", "vm2": "n1", "vm3": "n1"}, n3=standby), BalancePolicy()
    )
    assert {m.target for m in plan.moves} == {"n2"}
    bare = Host("n2", {}, online=True, standby=False, maintenance=False)
    with pytest.raises(Refused, match="n2 declares no capacity"):
        plan_balance(layout({"vm1": "n1"}, ("n1", "n2"), n2=bare), BalancePolicy())


@pytest.mark.parametrize(
    "field_, value", [("threshold", 1.5), ("min_gain", -0.1), ("max_moves", 0)]
)
def test_policy_values_out_of_range_are_refused(field_: str, value: float) -> None:
    with pytest.raises(BadRequest):
        BalancePolicy(**{field_: value}).check()


# -- constraints ---------------------------------------------------------------------------


def test_move_constraints_carry_their_lifetime_and_are_found_again() -> None:
    expires = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    xml = to_text(move_constraints([Move("vm1", "n1", "n2")], expires))
    assert 'end="2030-01-02 03:04:05Z"' in xml and 'value="n2"' in xml
    (found,) = move_constraints_in(xml)
    assert (found.id, found.guest, found.target, found.expires) == (
        "havirt-move-vm1",
        "vm1",
        "n2",
        expires,
    )
    assert found.expired(expires) and not found.expired(expires - dt.timedelta(seconds=1))


# -- watching moves ------------------------------------------------------------------------


def _status(
    where: dict[str, tuple[str, ...]], failed=(), pending=None, failures=()
) -> ClusterStatus:
    nodes = tuple(
        NodeStatus(n, n, True, False, False, False, False, False, False, False, 0, "member")
        for n in ("n1", "n2", "n3")
    )
    resources = tuple(
        ResourceStatus(
            id=g,
            agent="ocf:havirt:VirtualDomain",
            role="Started" if on else "Stopped",
            active=bool(on),
            managed=True,
            failed=g in failed,
            blocked=False,
            orphaned=False,
            nodes=on,
            pending=(pending or {}).get(g),
        )
        for g, on in where.items()
    )
    return ClusterStatus(nodes, resources, tuple(failures), "n1", True, True, False)


def _failure(guest: str, task: str, node: str) -> FailedAction:
    return FailedAction(
        guest, task, node, 0, 1, "error", "libvirt is unreachable", "complete", "t1"
    )


@dataclass
class FakePacemaker:
    """Answers status() from a script of states; the last one repeats."""

    states: list[ClusterStatus]
    calls: list[str] = field(default_factory=list)
    constraints: set[str] = field(default_factory=set)
    fail_watch: bool = False

    def status(self) -> ClusterStatus:
        self.calls.append("status")
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def wait(self, timeout: float) -> None:
        self.calls.append("wait")

    def history(self) -> OperationHistory:
        """No operation history: how a guest moved is unknown here (see test_move_outcomes)."""
        self.calls.append("history")
        return OperationHistory((), ())

    def cib_xml(self, scope: str | None = None) -> str:
        items = "".join(
            f'<rsc_location id="{c}" rsc="{c[12:]}" node="n2" score="INFINITY"/>'
            for c in sorted(self.constraints)
        )
        return f"<constraints>{items}</constraints>"

    def add_constraints(self, xml: str) -> None:
        self.calls.append("add")
        if self.fail_watch:
            self.states = []  # status() will raise: the watch dies half-way
        self.constraints |= {c.id for c in move_constraints_in(xml)}

    def delete_constraints(self, ids) -> None:
        self.calls.append("delete")
        self.constraints -= set(ids)


def _env(pm: FakePacemaker, progress: Callable[[GuestMove], None] | None = None) -> ClusterEnv:
    """The commands' environment on a virtual clock, with ``pm`` as the cluster."""
    return Admin(World()).cluster_env(pm, progress)


def _watch(pm: FakePacemaker, moves: list[GuestMove], timeout: float = 10.0) -> list[GuestMove]:
    return watch(_env(pm), moves, timeout=timeout)


def test_a_guest_is_done_when_it_runs_on_its_target_alone() -> None:
    pm = FakePacemaker(
        [
            _status({"vm1": ("n1",)}),
            _status({"vm1": ("n1",)}, pending={"vm1": "Migrating"}),
            _status({"vm1": ("n1", "n2")}),
            _status({"vm1": ("n2",)}, pending={"vm1": "Monitoring"}),  # a monitor holds nothing up
        ]
    )
    seen: list[str] = []
    moves = [GuestMove("vm1", "n1", "n2")]
    watch(_env(pm, lambda m: seen.append(m.state)), moves, timeout=10)
    assert moves[0].state == DONE and moves[0].node == "n2"
    assert seen == ["moving", "done"]


def test_a_failed_move_is_judged_after_the_cluster_recovered_the_guest() -> None:
    failure = _failure("vm1", "start", "n2")
    pm = FakePacemaker(
        [
            _status({"vm1": ("n1",)}),
            # The moment the start failed, crm_mon lists the guest (failed) on the target.
            _status({"vm1": ("n2",)}, failed={"vm1"}, failures=[failure]),
            _status({"vm1": ("n3",)}, failures=[failure]),
        ]
    )
    (move,) = _watch(pm, [GuestMove("vm1", "n1", "n2")])
    assert move.state == FAILED and move.node == "n3" and not move.ok
    assert (
        "start on n2 failed: libvirt is unreachable" in move.detail and "now on n3" in move.detail
    )
    assert "wait" in pm.calls


def test_a_drain_is_done_anywhere_but_the_source_and_time_runs_out_otherwise() -> None:
    pm = FakePacemaker(
        [_status({"vm1": ("n1",), "vm2": ("n1",)}), _status({"vm1": ("n3",), "vm2": ("n1",)})]
    )
    drained, stuck = _watch(
        pm,
        [
            GuestMove("vm1", "n1", "n2", required=False),
            GuestMove("vm2", "n1", "n2", required=False),
        ],
    )
    assert drained.state == DONE and drained.node == "n3"
    assert stuck.state == TIMED_OUT and "now on n1" in stuck.detail


def test_carry_out_removes_its_constraints_when_moves_succeed_and_when_watching_dies() -> None:
    pm = FakePacemaker([_status({"vm1": ("n1",)}), _status({"vm1": ("n2",)})])
    (move,) = carry_out(_env(pm), [Move("vm1", "n1", "n2")], timeout=10)
    assert move.state == DONE and pm.constraints == set()

    dying = FakePacemaker([_status({"vm1": ("n1",)})], fail_watch=True)
    with pytest.raises(IndexError):  # whatever breaks the watch (Ctrl-C is the same path)
        carry_out(_env(dying), [Move("vm1", "n1", "n2")], timeout=10)
    assert dying.constraints == set() and dying.calls[-1] != "add"


def test_unexpired_moves_of_another_run_are_refused_and_expired_ones_swept() -> None:
    pm = FakePacemaker([_status({"vm1": ("n1",)})], constraints={"havirt-move-vm9"})
    with pytest.raises(HavirtError, match="another havirt run is moving guests"):
        carry_out(_env(pm), [Move("vm1", "n1", "n2")], timeout=10)
    assert "add" not in pm.calls


@pytest.mark.parametrize(
    "cid, origin",
    [
        ("cli-prefer-vm1", "move"),
        ("cli-ban-vm1-on-node2", "ban"),
        ("havirt-move-vm1", "havirt-move"),
        ("havirt-apart-vm1-vm2", "havirt-place"),
        ("location-vm1-node2-100", None),
    ],
)
def test_who_left_a_constraint(cid: str, origin: str | None) -> None:
    from havirt.tools.pacemaker.cib import origin_of

    assert origin_of(cid) == origin


def test_expired_moves_are_swept_and_unexpired_ones_returned() -> None:
    """A havirt killed mid-move leaves constraints that no longer apply: any later run
    that moves guests or sets standby removes them (sweep_expired_moves)."""
    from havirt.tools.placement.moves import sweep_expired_moves

    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    old = to_text(move_constraints([Move("vm1", "n1", "n2")], now - dt.timedelta(minutes=5)))
    new = to_text(move_constraints([Move("vm2", "n1", "n3")], now + dt.timedelta(minutes=5)))

    class Cib:
        def __init__(self) -> None:
            self.deleted: list[str] = []

        def cib_xml(self, scope: str | None = None) -> str:
            inner = "".join(
                etree.tostring(el, encoding="unicode")
                for text in (old, new)
                for el in etree.fromstring(text)
            )
            return f"<constraints>{inner}</constraints>"

        def delete_constraints(self, ids: list[str]) -> None:
            self.deleted += ids

    cib = Cib()
    left = sweep_expired_moves(cib, now)  # type: ignore[arg-type]
    assert cib.deleted == ["havirt-move-vm1"]
    assert [c.id for c in left] == ["havirt-move-vm2"]
