"""When a guest counts as settled on a node, and the wait for the cluster to recover
guests whose move failed (:func:`await_recovery`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.pacemaker import ClusterStatus, PacemakerAdapter, PacemakerError
from havirt.tools.placement.sightings import node_up

# A guest left down after a failed move is judged once the cluster had nothing planned
# for it this long: a node lost or back shows in Corosync's membership only after its
# token and consensus timeouts (6.6 s with the default 3 s token).
SETTLE_SECONDS = 10.0
RECOVERY_POLL_SECONDS = 1.0


# The roles crm_mon shows while an action runs (record-pending): a guest "Starting" on
# a node is listed active there, but is not running yet and may never be.
ACTION_ROLES = ("Migrating", "Starting", "Stopping", "Promoting", "Demoting")


def in_flight(status: ClusterStatus, guest: str) -> str | None:
    """The action crm_mon shows in flight for the guest, if any (by its role, or by the
    ``pending`` attribute). A monitor in flight does not hold a guest up: it runs where
    it arrived."""
    instances = status.instances(guest)
    if any(r.role == "Migrating" for r in instances):  # crm_mon's role while migrate_to runs
        return "Migrating"
    for r in instances:
        if r.role in ACTION_ROLES:
            return r.role
        if r.pending and r.pending != "Monitoring":
            return r.pending
    return None


def settled_on(status: ClusterStatus, guest: str) -> str | None:
    """The node the guest runs on alone, when that node is up, the guest healthy and
    no action in flight; else None."""
    where = status.where(guest)
    healthy = not any(r.failed for r in status.instances(guest) if r.active)
    if len(where) == 1 and node_up(status, where[0]) and healthy:
        return None if in_flight(status, guest) else where[0]
    return None


def _recovered(status: ClusterStatus, guest: str) -> bool:
    return settled_on(status, guest) is not None


def _recovering(pm: PacemakerAdapter, status: ClusterStatus, guests: Sequence[str]) -> bool:
    """Whether the cluster still has work that may bring ``guests`` back: a node
    waiting to be fenced or to join, or any action the scheduler plans for them, also
    one blocked until something else happened (crm_resource --wait ignores those)."""
    if any(n.unclean or n.pending for n in status.nodes):
        return True
    try:
        planned = pm.simulate(run=False).actions
    except PacemakerError:
        return False  # the quiet period decides
    return any(a.resource in guests for a in planned)


def await_recovery(
    env: ClusterEnv,
    guests: Sequence[str],
    *,
    deadline: float,
    observe: Callable[[ClusterStatus], None] = lambda status: None,
) -> ClusterStatus:
    """After failed moves: wait (until ``deadline``, on ``env.monotonic``) for the
    cluster to run ``guests`` again, or to have nothing left to do for them; returns
    the status then (each one read is also given to ``observe``).

    ``crm_resource --wait`` alone is not enough: it returns as soon as no runnable
    action is pending, also while a start waits for a node to be fenced or to come
    back, and a node's death or return shows only after Corosync's token and
    consensus timeouts. So a guest still down is judged only once the cluster had
    nothing planned for it for ``SETTLE_SECONDS``."""
    pm, clock = env.pacemaker, env.monotonic
    quiet_since: float | None = None
    while True:
        # A wait that times out or fails decides nothing: the checks below do.
        with contextlib.suppress(PacemakerError):
            pm.wait(max(1.0, deadline - clock()))
        status = pm.status()
        observe(status)
        down = [g for g in guests if not _recovered(status, g)]
        if not down or clock() >= deadline:
            return status
        if _recovering(pm, status, down):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = clock()
        elif clock() - quiet_since >= SETTLE_SECONDS:
            return status
        env.sleep(max(0.0, min(RECOVERY_POLL_SECONDS, deadline - clock())))
