"""Following moves and drains in crm_mon: :func:`watch` follows guests until each has
arrived (or has left a node being drained), failed, or time ran out, and reports every
change of a guest's state to a callback as it happens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.pacemaker import ClusterStatus, OperationHistory
from havirt.tools.placement.guest_move import (
    DONE,
    FAILED,
    FINAL,
    IN_FLIGHT,
    MOVING,
    STOPPED,
    TIMED_OUT,
    WAITING,
    GuestMove,
)
from havirt.tools.placement.judge import judge
from havirt.tools.placement.recovery import await_recovery, in_flight, settled_on
from havirt.tools.placement.sightings import HistoryLog, Sightings, read_history

if TYPE_CHECKING:
    from havirt.tools.placement.migration_job import JobNotes

POLL_SECONDS = 0.3


def _failures(status: ClusterStatus) -> set[tuple[str, str, str, str]]:
    return {(f.resource, f.task, f.node, f.last_rc_change) for f in status.failed_actions}


def _view(status: ClusterStatus, guests: Sequence[str]) -> object:
    """What of crm_mon's view matters to the judgement: the followed guests' instances
    and the nodes' states. The history is read again whenever it changes."""
    nodes = tuple((n.name, n.online, n.unclean) for n in status.nodes)
    return nodes, tuple(status.instances(g) for g in guests)


def _outcome(move: GuestMove) -> tuple[object, ...]:
    return (move.state, move.detail, move.node, move.how, move.outage)


def watch(
    env: ClusterEnv,
    moves: Sequence[GuestMove],
    *,
    timeout: float,
    baseline: ClusterStatus | None = None,
    history: OperationHistory | None = None,
    poll: float = POLL_SECONDS,
    jobs: JobNotes | None = None,
) -> list[GuestMove]:
    """Follow ``moves`` until each is final (see the module doc), reporting each change
    to ``env.progress``; returns them.

    ``baseline`` and ``history`` are the status and operation history from before
    anything was changed (read here when not given); what happened since is judged.
    A guest whose move failed is final only once the cluster has recovered it
    (``crm_resource --wait``): where it ends up is part of the answer. A guest that
    arrived but is lost again while others still move is followed again. ``jobs``: what
    libvirt says of each live migration goes into the move's detail."""
    pm, clock, wall, progress = env.pacemaker, env.monotonic, env.wall, env.progress
    start = clock()
    log = HistoryLog(history if history is not None else read_history(pm))
    known = _failures(baseline) if baseline is not None else None
    sightings = Sightings()
    if baseline is not None:
        sightings.see(baseline, [m.guest for m in moves], wall())
    failed: set[str] = set()
    reported = {m.guest: _outcome(m) for m in moves}
    view: object = None

    def observe(status: ClusterStatus) -> None:
        """Note what crm_mon shows; read the history whenever that changed."""
        nonlocal view
        sightings.see(status, [m.guest for m in moves], wall())
        now = _view(status, [m.guest for m in moves])
        if now != view:
            view = now
            log.add(read_history(pm))

    def report(changed: Sequence[GuestMove], status: ClusterStatus, fresh: bool = False) -> None:
        final = [m for m in changed if m.state in FINAL]
        if final:
            if fresh:
                log.add(read_history(pm))
            for move in final:
                judge(move, status, log, sightings)
        for move in changed:
            if _outcome(move) != reported[move.guest]:
                reported[move.guest] = _outcome(move)
                progress(move)

    while True:
        status = pm.status()
        observe(status)
        if jobs is not None:
            for followed in moves:
                jobs.forget(followed)
        if known is None:
            known = _failures(status)
        for f in status.failed_actions:
            if (f.resource, f.task, f.node, f.last_rc_change) not in known:
                known.add((f.resource, f.task, f.node, f.last_rc_change))
                move = next((m for m in moves if m.guest == f.resource), None)
                if move is not None and move.state in (WAITING, MOVING, DONE):
                    failed.add(move.guest)
                    failure = f"{f.task} on {f.node} failed: {f.exitreason or f.exitstatus}"
                    keep = move.detail and move.detail not in IN_FLIGHT
                    move.detail = f"{move.detail}; {failure}" if keep else failure
        elapsed = round(clock() - start, 2)
        changed = [
            m
            for m in moves
            if m.state in (WAITING, MOVING, DONE)
            and _step(m, status, elapsed, judge=m.guest not in failed)
        ]
        if jobs is not None:
            for followed in moves:
                jobs.note(followed, status)
            changed += [m for m in moves if m.state == MOVING and m not in changed]
        report(changed, status)
        left = [m for m in moves if m.state not in FINAL]
        if left and all(m.guest in failed for m in left):
            # Only failed moves are left: let the cluster finish its recovery, then judge.
            status = await_recovery(
                env, [m.guest for m in left], deadline=start + timeout, observe=observe
            )
            elapsed = round(clock() - start, 2)
            for move in left:
                _step(move, status, elapsed)
                if move.state not in FINAL:
                    _finish(move, status, FAILED, elapsed)
            break
        if not left:
            break
        if clock() - start >= timeout:
            for move in left:
                _finish(move, status, TIMED_OUT, elapsed)
            break
        env.sleep(poll)
    # The last word: every guest judged once more on the final state and history.
    report(list(moves), status, fresh=True)
    return list(moves)


def _finish(move: GuestMove, status: ClusterStatus, state: str, elapsed: float) -> None:
    where = status.where(move.guest)
    move.node = where[0] if len(where) == 1 else None
    move.state = state if where else STOPPED
    move.seconds = elapsed
    now = f"now on {', '.join(where)}" if where else "not running"
    keep = move.detail and move.detail not in IN_FLIGHT
    move.detail = f"{move.detail}; {now}" if keep else now


def _step(move: GuestMove, status: ClusterStatus, elapsed: float, judge: bool = True) -> bool:
    """Update one guest's state; True if it changed. ``judge`` False while a failure is
    still being recovered (crm_mon may list a guest on the target in the moment its
    start there failed). A guest is done on a node that is up, alone, with no action
    pending; a done guest that no longer is (its node died) is moving again."""
    where = status.where(move.guest)
    pending = in_flight(status, move.guest)
    settled = settled_on(status, move.guest)
    before = (move.state, move.detail, move.node)
    if judge and settled is not None and move.arrived(settled):
        if move.state != DONE or move.node != settled:
            move.state, move.node, move.seconds = DONE, settled, elapsed
        move.detail = "" if move.detail in IN_FLIGHT else move.detail
    elif move.state == DONE:
        lost = f"left {move.node} again" if move.node not in where else f"{move.node} is down"
        move.state, move.node, move.seconds = MOVING, None, None
        move.how, move.outage = None, None
        move.detail = f"{move.detail}; {lost}" if move.detail else lost
    elif pending or len(where) > 1 or (where and where[0] != move.source):
        move.state = MOVING
        if pending and not move.detail:
            move.detail = pending.lower()
    return (move.state, move.detail, move.node) != before
