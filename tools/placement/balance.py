"""``havirt balance``: even out the hosts' load by live-migrating a few guests.

The plan is made from Pacemaker's own utilization records (see model.py): a
node's load is its busiest dimension as a share of its capacity. With
hysteresis, so that balancing never oscillates:

* nothing is done while the spread (busiest minus idlest node) is within
  ``threshold``;
* a move is taken only if it cuts the imbalance (the standard deviation of
  the loads) by at least ``min_gain``;
* a move never leaves its target busier than its source was: a guest is never
  handed back and forth between two nodes;
* at most ``max_moves`` moves per run.

Pacemaker's scheduler then checks the plan (``crm_simulate`` on a copy of the
CIB with the temporary constraints): moves it would not make (constraints, room)
are dropped and the plan is made again without them; a plan that would stop or
restart any guest, or move a guest the plan does not name, is refused; and the
placement must hold once the constraints are gone (stickiness), or it is refused
too. The moves are then made with temporary constraints that are always removed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.errors import BadRequest, HavirtError, Refused
from havirt.tools.placement.constraints import Move
from havirt.tools.placement.guest_move import GuestMove, GuestsFollowed
from havirt.tools.placement.model import Layout, layout_from
from havirt.tools.placement.moves import carry_out, check_cluster_can_move
from havirt.tools.placement.predict import predict_moves

DEFAULT_TIMEOUT = 300.0
MAX_ROUNDS = 3  # plan, check with the scheduler, drop what it refuses, plan again


@dataclass(frozen=True)
class BalancePolicy:
    threshold: float = 0.15  # spread of the loads left alone
    min_gain: float = 0.02  # least cut of the imbalance a move must bring
    max_moves: int = 5

    def check(self) -> None:
        for name, value in (("threshold", self.threshold), ("least gain", self.min_gain)):
            if not 0 <= value <= 1:
                raise BadRequest(
                    f"the {name} {value} is not between 0 and 1 (a share of a node's capacity)",
                    "e.g. 0.1",
                )
        if self.max_moves < 1:
            raise BadRequest(f"at most {self.max_moves} moves: there must be at least one")


@dataclass
class BalancePlan:
    moves: list[Move]
    loads_before: dict[str, float]
    loads_after: dict[str, float]
    reason: str  # why the plan stops where it does

    @property
    def spread_before(self) -> float:
        return _spread(self.loads_before)

    @property
    def spread_after(self) -> float:
        return _spread(self.loads_after)


def _spread(loads: dict[str, float]) -> float:
    return round(max(loads.values()) - min(loads.values()), 4) if loads else 0.0


def _imbalance(loads: dict[str, float]) -> float:
    mean = sum(loads.values()) / len(loads)
    return math.sqrt(sum((v - mean) ** 2 for v in loads.values()) / len(loads))


def _loads(layout: Layout, nodes: tuple[str, ...]) -> dict[str, float]:
    return {n: round(layout.load(n), 4) for n in nodes}


def plan_balance(
    layout: Layout, policy: BalancePolicy, refused: frozenset[tuple[str, str]] = frozenset()
) -> BalancePlan:
    """The moves that even the load out (see the module doc); ``refused`` holds
    (guest, node) pairs the scheduler would not make."""
    nodes = layout.eligible
    if len(nodes) < 2:
        raise Refused(
            "balancing needs at least two nodes that can take guests "
            f"(online, not in standby): {', '.join(nodes) or 'none'}",
        )
    # every eligible node is one of the layout's hosts
    missing = [n for n in nodes if not layout.host(n).capacity]  # type: ignore[union-attr]
    if missing:
        raise Refused(
            f"node {', '.join(missing)} declares no capacity, so load cannot be compared",
            "set node utilization cpu and hv_memory (havirt generate does; or "
            "pcs node utilization NODE cpu=N hv_memory=MiB)",
        )
    current, moves = layout, dict[str, Move]()
    before = _loads(layout, nodes)
    reason = "no move would improve the balance enough"
    for _ in range(policy.max_moves + 1):
        loads = _loads(current, nodes)
        if _spread(loads) <= policy.threshold:
            reason = f"balanced: the spread is within the threshold ({policy.threshold:.0%})"
            break
        if len(moves) >= policy.max_moves:
            reason = f"stopped at the limit of {policy.max_moves} move(s)"
            break
        best = _best_move(current, nodes, loads, moves, refused)
        if best is None or best[0] < policy.min_gain:
            break
        _, guest, _source, target = best
        # _best_move picks one of the layout's guests
        moves[guest] = Move(guest, layout.guest(guest).node, target)  # type: ignore[union-attr]
        current = current.moved(guest, target)
    return BalancePlan(list(moves.values()), before, _loads(current, nodes), reason)


def _best_move(
    layout: Layout,
    nodes: tuple[str, ...],
    loads: dict[str, float],
    moved: dict[str, Move],
    refused: frozenset[tuple[str, str]],
) -> tuple[float, str, str, str] | None:
    imbalance = _imbalance(loads)
    candidates = []
    for guest in layout.guests:
        if not guest.movable or guest.id in moved or guest.node not in loads:
            continue
        for target in nodes:
            if target == guest.node or (guest.id, target) in refused:
                continue
            if not layout.fits(guest, target):
                continue
            after = layout.moved(guest.id, target)
            if after.load(target) >= loads[guest.node]:  # would hand the load back and forth
                continue
            gain = round(imbalance - _imbalance(_loads(after, nodes)), 6)
            candidates.append((gain, guest.id, guest.node, target))
    # Highest gain; ties broken by names so the plan is the same every time.
    return min(candidates, key=lambda c: (-c[0], c[1], c[3]), default=None)


@dataclass
class BalanceReport(GuestsFollowed):
    plan: BalancePlan
    guests: list[GuestMove] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # "vm1 -> node2": why
    dry_run: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "moves": [m.to_dict() for m in self.plan.moves],
            "loads_before": self.plan.loads_before,
            "loads_after": self.plan.loads_after,
            "spread_before": self.plan.spread_before,
            "spread_after": self.plan.spread_after,
            "reason": self.plan.reason,
            "dropped": self.dropped,
            "guests": [g.to_dict() for g in self.guests],
            "seconds": self.seconds,
        }


def balance(
    env: ClusterEnv,
    policy: BalancePolicy | None = None,
    *,
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> BalanceReport:
    """Plan, check with the scheduler, and (unless ``dry_run``) carry out the moves."""
    policy = policy or BalancePolicy()
    policy.check()
    pm = env.pacemaker
    start = env.monotonic()
    status = pm.status()
    layout = layout_from(status, pm.cib_xml("configuration"))
    refused: set[tuple[str, str]] = set()
    dropped: dict[str, str] = {}
    for _ in range(MAX_ROUNDS):
        plan = plan_balance(layout, policy, frozenset(refused))
        if not plan.moves:
            break
        check_cluster_can_move(status, "balancing")
        rejected = _check_with_scheduler(env, layout, plan.moves)
        if not rejected:
            break
        for move in rejected:
            refused.add((move.guest, move.target))
            dropped[f"{move.guest} -> {move.target}"] = "Pacemaker would not place it there"
    else:
        raise HavirtError(
            "no plan that Pacemaker agrees with was found",
            "see 'havirt balance --dry-run --json' and the guests' constraints",
        )
    report = BalanceReport(plan, dropped=dropped, dry_run=dry_run)
    report.guests = [GuestMove(m.guest, m.source, m.target) for m in plan.moves]
    if not dry_run and plan.moves:
        report.guests = carry_out(env, plan.moves, timeout=timeout)
    report.seconds = round(env.monotonic() - start, 2)
    return report


def _check_with_scheduler(env: ClusterEnv, layout: Layout, moves: list[Move]) -> list[Move]:
    """The moves the scheduler would not make; raises if the plan would hurt any guest."""
    prediction = predict_moves(env, layout, moves, timeout=DEFAULT_TIMEOUT)
    problems = []
    if prediction.stopped():
        problems.append(f"it would stop {', '.join(prediction.stopped())}")
    if prediction.restarts():
        problems.append(f"it would restart {', '.join(prediction.restarts())} (not live-migrate)")
    planned = {m.guest for m in moves}
    others = sorted(set(prediction.moved()) - planned)
    if others:
        problems.append(f"Pacemaker would also move {', '.join(others)}")
    back = sorted({a.resource for a in prediction.unsettling})
    if back:
        problems.append(
            f"once the temporary constraints are gone Pacemaker would move {', '.join(back)} again"
        )
    if problems:
        raise Refused(
            "the balancing plan was refused, nothing was changed: " + "; ".join(problems),
            "raise resource-stickiness, or move guests yourself with havirt place",
        )
    return [m for m in moves if prediction.destination(m.guest) != m.target]
