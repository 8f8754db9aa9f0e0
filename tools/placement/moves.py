"""Carrying out moves and drains with temporary ``havirt-move-*`` constraints, and their
lifetime: :func:`carry_out` puts them in place (one CIB transaction), watches the guests
(:func:`~havirt.tools.placement.watch.watch`), and deletes them again in every case:
success, a failed move, a timeout, Ctrl-C. Constraints left by a havirt that was killed
expire, and are swept or cleared here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.errors import HavirtError, Refused
from havirt.tools.pacemaker import ClusterStatus, PacemakerAdapter
from havirt.tools.placement.constraints import (
    Move,
    MoveConstraint,
    move_constraints,
    move_constraints_in,
    move_id,
    to_text,
)
from havirt.tools.placement.guest_move import GuestMove
from havirt.tools.placement.sightings import read_history
from havirt.tools.placement.watch import POLL_SECONDS, watch

if TYPE_CHECKING:
    from havirt.tools.placement.migration_job import JobNotes

MIN_LIFETIME = 120.0  # seconds a temporary constraint outlives the wait, at least


def check_cluster_can_move(status: ClusterStatus, what: str) -> None:
    """Refuse when Pacemaker would move nothing: maintenance mode, no quorum."""
    if status.maintenance_mode:
        raise Refused(
            f"the cluster is in maintenance mode: Pacemaker moves nothing, "
            f"so {what} would not happen",
            "end it first: havirt cluster maintenance off",
        )
    if status.quorum is False:
        raise Refused(
            f"the cluster has no quorum: Pacemaker moves nothing, so {what} would not happen",
            "bring enough nodes online first (crm_mon shows which are missing)",
        )


def lifetime_for(timeout: float) -> float:
    return max(MIN_LIFETIME, timeout + 60.0)


def expiry(now: dt.datetime, timeout: float) -> dt.datetime:
    """When temporary constraints for a wait of ``timeout`` seconds from ``now`` stop
    applying."""
    return now + dt.timedelta(seconds=lifetime_for(timeout))


def sweep_expired_moves(pm: PacemakerAdapter, now: dt.datetime) -> list[MoveConstraint]:
    """Delete the expired ``havirt-move-*`` constraints (left by a havirt that was
    killed: they no longer apply, but they clutter the CIB and every listing); return
    the unexpired ones (another havirt run is moving guests)."""
    existing = move_constraints_in(pm.cib_xml("constraints"))
    expired = [c.id for c in existing if c.expired(now)]
    if expired:
        pm.delete_constraints(expired)
    return [c for c in existing if not c.expired(now)]


def check_no_move_in_progress(
    pm: PacemakerAdapter, guests: Sequence[str], now: dt.datetime
) -> None:
    """Sweep expired ``havirt-move-*`` constraints; refuse while unexpired ones exist:
    another havirt run is moving guests."""
    busy = sweep_expired_moves(pm, now)
    if busy:
        listed = ", ".join(f"{c.guest} -> {c.target}" for c in busy)
        ids = " ".join(c.id for c in busy)
        raise HavirtError(
            f"another havirt run is moving guests ({listed}); its constraints stay until it ends",
            f"wait for it, or if it died remove them: havirt place --clear-moves  ({ids})",
        )


def carry_out(
    env: ClusterEnv,
    moves: Sequence[Move],
    *,
    timeout: float,
    poll: float = POLL_SECONDS,
    jobs: JobNotes | None = None,
) -> list[GuestMove]:
    """Move guests with temporary constraints and remove the constraints in every case
    (``jobs``: libvirt's progress of each live migration, as :func:`watch` takes it)."""
    if not moves:
        return []
    pm = env.pacemaker
    check_no_move_in_progress(pm, [m.guest for m in moves], env.now())
    baseline = pm.status()
    history = read_history(pm)
    expires = expiry(env.now(), timeout)
    ids = [move_id(m.guest) for m in moves]
    followed = [GuestMove(m.guest, m.source, m.target) for m in moves]
    pm.add_constraints(to_text(move_constraints(moves, expires)))
    try:
        for move in followed:
            env.progress(move)
        return watch(
            env,
            followed,
            timeout=timeout,
            baseline=baseline,
            history=history,
            poll=poll,
            jobs=jobs,
        )
    finally:
        _remove_for_sure(env, ids, expires)


def _remove_for_sure(env: ClusterEnv, ids: list[str], expires: dt.datetime) -> None:
    """Delete our constraints and check they are gone; a few tries (the CIB may be busy)."""
    pm = env.pacemaker
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
        env.sleep(0.5 * (attempt + 1))
    raise HavirtError(
        f"could not remove the temporary constraints {', '.join(ids)}: {problem}",
        "remove them with 'havirt place --clear-moves'; they stop applying at "
        f"{expires:%Y-%m-%d %H:%M:%S} UTC in any case",
    )


def clear_moves(pm: PacemakerAdapter) -> list[str]:
    """Delete every ``havirt-move-*`` constraint (after a havirt run was killed)."""
    ids = [c.id for c in move_constraints_in(pm.cib_xml("constraints"))]
    pm.delete_constraints(ids)
    return ids
