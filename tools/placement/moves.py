"""Carrying out moves and drains while showing each guest's progress.

:func:`watch` follows guests in crm_mon until each has arrived (or has left a
node being drained), failed, or time ran out, and reports every change of a
guest's state to a callback as it happens. :func:`carry_out` puts temporary
``havirt-move-*`` constraints in place (one CIB transaction), watches, and
deletes them again in every case: success, a failed move, a timeout, Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from ..errors import HavirtError
from ..pacemaker import ClusterStatus, Pacemaker, PacemakerError
from .constraints import Move, move_constraints, move_constraints_in, move_id, to_text

POLL_SECONDS = 0.3
MIN_LIFETIME = 120.0  # seconds a temporary constraint outlives the wait, at least

# States of a guest being watched; the last four are final.
WAITING, MOVING, DONE, FAILED, STOPPED, TIMED_OUT = (
    "waiting",
    "moving",
    "done",
    "failed",
    "stopped",
    "timed out",
)
FINAL = (DONE, FAILED, STOPPED, TIMED_OUT)


@dataclass
class GuestMove:
    """One guest on its way: to ``target`` (``required``), or just away from ``source``
    (a drain, where ``target`` is where the scheduler is expected to put it)."""

    guest: str
    source: str | None
    target: str | None
    required: bool = True
    state: str = WAITING
    node: str | None = None  # where it runs when watching ended
    seconds: float | None = None  # from the start of the watch to its final state
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == DONE

    def arrived(self, node: str) -> bool:
        return node == self.target if self.required else node != self.source

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


Progress = Callable[[GuestMove], None]


def _failures(status: ClusterStatus) -> set[tuple[str, str, str, str]]:
    return {(f.resource, f.task, f.node, f.last_rc_change) for f in status.failed_actions}


def watch(
    pm: Pacemaker,
    moves: Sequence[GuestMove],
    *,
    timeout: float,
    progress: Progress = lambda move: None,
    baseline: ClusterStatus | None = None,
    poll: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[GuestMove]:
    """Follow ``moves`` until each is final (see the module doc); returns them.

    A guest whose move failed is final only once the cluster has recovered it
    (``crm_resource --wait``): where it ends up is part of the answer."""
    start = clock()
    known = _failures(baseline) if baseline is not None else None
    failed: set[str] = set()
    while True:
        status = pm.status()
        if known is None:
            known = _failures(status)
        for f in status.failed_actions:
            if (f.resource, f.task, f.node, f.last_rc_change) not in known:
                known.add((f.resource, f.task, f.node, f.last_rc_change))
                move = next((m for m in moves if m.guest == f.resource), None)
                if move is not None and move.state not in FINAL:
                    failed.add(move.guest)
                    move.detail = f"{f.task} on {f.node} failed: {f.exitreason or f.exitstatus}"
        elapsed = round(clock() - start, 2)
        for move in moves:
            if move.state not in FINAL:
                _step(move, status, elapsed, progress, judge=move.guest not in failed)
        left = [m for m in moves if m.state not in FINAL]
        if left and all(m.guest in failed for m in left):
            # Only failed moves are left: let the cluster finish its recovery, then judge.
            with contextlib.suppress(PacemakerError):
                pm.wait(max(1.0, timeout - (clock() - start)))
            status, elapsed = pm.status(), round(clock() - start, 2)
            for move in left:
                _step(move, status, elapsed, progress)
                if move.state not in FINAL:
                    _finish(move, status, FAILED, elapsed, progress)
            return list(moves)
        if not left:
            return list(moves)
        if clock() - start >= timeout:
            for move in left:
                _finish(move, status, TIMED_OUT, elapsed, progress)
            return list(moves)
        sleep(poll)


def _finish(
    move: GuestMove, status: ClusterStatus, state: str, elapsed: float, progress: Progress
) -> None:
    where = status.where(move.guest)
    move.node = where[0] if len(where) == 1 else None
    move.state = state if where else STOPPED
    move.seconds = elapsed
    now = f"now on {', '.join(where)}" if where else "not running"
    move.detail = f"{move.detail}; {now}" if move.detail else now
    progress(move)


def _step(
    move: GuestMove, status: ClusterStatus, elapsed: float, progress: Progress, judge: bool = True
) -> None:
    """Update one guest's state; ``judge`` False while a failure is still being recovered
    (crm_mon may list a guest on the target in the moment its start there failed)."""
    instances = status.instances(move.guest)
    where = status.where(move.guest)
    # A monitor in flight does not hold a guest up: it runs where it arrived.
    pending = next((r.pending for r in instances if r.pending and r.pending != "Monitoring"), None)
    if any(r.role == "Migrating" for r in instances):  # crm_mon's role while migrate_to runs
        pending = "Migrating"
    healthy = not any(r.failed for r in instances if r.active)
    before = (move.state, move.detail)
    if judge and healthy and not pending and len(where) == 1 and move.arrived(where[0]):
        move.state, move.node, move.seconds = DONE, where[0], elapsed
        move.detail = "" if move.detail == "migrating" else move.detail
    elif pending or len(where) > 1 or (where and where[0] != move.source):
        move.state = MOVING
        if pending and not move.detail:
            move.detail = pending.lower()
    if (move.state, move.detail) != before:
        progress(move)


def check_cluster_can_move(status: ClusterStatus, what: str) -> None:
    """Refuse (exit 2) when Pacemaker would move nothing: maintenance mode, no quorum."""
    if status.maintenance_mode:
        raise HavirtError(
            f"the cluster is in maintenance mode: Pacemaker moves nothing, "
            f"so {what} would not happen",
            "end it first: havirt cluster maintenance off",
            exit_code=2,
        )
    if status.quorum is False:
        raise HavirtError(
            f"the cluster has no quorum: Pacemaker moves nothing, so {what} would not happen",
            "bring enough nodes online first (crm_mon shows which are missing)",
            exit_code=2,
        )


def lifetime_for(timeout: float) -> float:
    return max(MIN_LIFETIME, timeout + 60.0)


def expiry(timeout: float) -> dt.datetime:
    """When temporary constraints for a wait of ``timeout`` seconds stop applying."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lifetime_for(timeout))


def check_no_move_in_progress(pm: Pacemaker, guests: Sequence[str], now: dt.datetime) -> None:
    """Sweep expired ``havirt-move-*`` constraints (left by a havirt that was killed);
    refuse while unexpired ones exist: another havirt run is moving guests."""
    existing = move_constraints_in(pm.cib_xml("constraints"))
    expired = [c.id for c in existing if c.expired(now)]
    pm.delete_constraints(expired)
    busy = [c for c in existing if not c.expired(now)]
    if busy:
        listed = ", ".join(f"{c.guest} -> {c.target}" for c in busy)
        ids = " ".join(c.id for c in busy)
        raise HavirtError(
            f"another havirt run is moving guests ({listed}); its constraints stay until it ends",
            f"wait for it, or if it died remove them: havirt place --clear-moves  ({ids})",
        )


def carry_out(
    pm: Pacemaker,
    moves: Sequence[Move],
    *,
    timeout: float,
    progress: Progress = lambda move: None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    **watch_options: object,
) -> list[GuestMove]:
    """Move guests with temporary constraints and remove the constraints in every case."""
    if not moves:
        return []
    check_no_move_in_progress(pm, [m.guest for m in moves], now())
    baseline = pm.status()
    expires = now() + dt.timedelta(seconds=lifetime_for(timeout))
    ids = [move_id(m.guest) for m in moves]
    followed = [GuestMove(m.guest, m.source, m.target) for m in moves]
    pm.add_constraints(to_text(move_constraints(moves, expires)))
    try:
        for move in followed:
            progress(move)
        return watch(
            pm, followed, timeout=timeout, progress=progress, baseline=baseline, **watch_options
        )  # type: ignore[arg-type]
    finally:
        _remove_for_sure(pm, ids, expires)


def _remove_for_sure(pm: Pacemaker, ids: list[str], expires: dt.datetime) -> None:
    """Delete our constraints and check they are gone; a few tries (the CIB may be busy)."""
    problem: Exception | None = None
    for attempt in range(3):
        try:
            pm.delete_constraints(ids)
            left = {c.id for c in move_constraints_in(pm.cib_xml("constraints"))} & set(ids)
            if not left:
                return
            problem = HavirtError(f"constraints still present: {', '.join(sorted(left))}")
        except HavirtError as exc:
            problem = exc
        time.sleep(0.5 * (attempt + 1))
    raise HavirtError(
        f"could not remove the temporary constraints {', '.join(ids)}: {problem}",
        "remove them with 'havirt place --clear-moves'; they stop applying at "
        f"{expires:%Y-%m-%d %H:%M:%S} UTC in any case",
    )


def clear_moves(pm: Pacemaker) -> list[str]:
    """Delete every ``havirt-move-*`` constraint (after a havirt run was killed)."""
    ids = [c.id for c in move_constraints_in(pm.cib_xml("constraints"))]
    pm.delete_constraints(ids)
    return ids
