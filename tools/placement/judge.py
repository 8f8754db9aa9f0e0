"""How a guest came to the node it runs on after a move -- live-migrated, restarted,
not moved -- and for how long it was down, judged from what the cluster shows and its
operation history, never from the plan."""

from __future__ import annotations

from havirt.tools.pacemaker import ClusterStatus, Operation
from havirt.tools.placement.guest_move import (
    LIVE_MIGRATED,
    NOT_MOVED,
    NOT_RUNNING,
    RESTARTED,
    UNKNOWN,
    GuestMove,
)
from havirt.tools.placement.sightings import HistoryLog, Sightings


def judge(move: GuestMove, status: ClusterStatus, log: HistoryLog, sightings: Sightings) -> None:
    """Set ``node``, ``how`` and ``outage`` from the cluster (never from the plan).

    Live-migrated: a successful migrate_from on the node it ends on since the watch
    began, and no successful start anywhere. Restarted: a successful start since then;
    its outage is the time without a running copy, from each loss (the stop of a copy
    that ran, its node's death, a failed monitor) to the end of the next start."""
    where = status.where(move.guest)
    move.outage, move.outage_approximate, move.outage_note = None, False, ""
    move.node = where[0] if len(where) == 1 else None
    if not where:
        move.how, move.outage_note = NOT_RUNNING, "still down"
        return
    if len(where) > 1:
        move.how, move.outage_note = UNKNOWN, f"listed on {', '.join(where)}"
        return
    node = where[0]
    if not log.known:
        move.how, move.outage_note = UNKNOWN, "Pacemaker's operation history could not be read"
        return
    new = log.of(move.guest)
    done = [o for o in new if o.succeeded]
    starts = [o for o in done if o.task == "start"]
    if not starts:
        if any(o.task == "migrate_from" and o.node == node for o in done):
            move.how, move.outage = LIVE_MIGRATED, 0.0
        elif node in sightings.first.get(move.guest, ()):
            move.how, move.outage = NOT_MOVED, 0.0
        else:
            move.how = UNKNOWN
            move.outage_note = f"no record of how it came to {node}"
        return
    move.how = RESTARTED
    losses = _losses(move.guest, done, new, sightings)
    if not losses:
        move.outage_note = "when it went down is not recorded"
        return
    # Walk the losses and starts in time: each outage runs from a loss while it ran to
    # the end of the next start (last-rc-change, when it began, plus exec-time). Times
    # are whole seconds: a start ending up to a second before the loss it follows
    # still ends that outage.
    events = sorted(
        [(at, 0, approximate, why) for at, approximate, why in losses]
        + [(o.ended, 1, False, "") for o in starts]
    )
    down: tuple[float, bool, str] | None = None
    total, approximate, whys, last_up = 0.0, False, [], None
    for at, kind, approx, why in events:
        if kind == 0 and down is None:
            down = (at, approx, why)
        elif kind == 1:
            if down is not None:
                total += max(0.0, at - down[0])
                approximate |= down[1]
                whys.append(down[2])
                down = None
            last_up = at
    if down is not None and last_up is not None and down[0] - last_up <= 1.0:
        approximate |= down[1]
        whys.append(down[2])
        down = None
    if down is not None or not whys:
        move.outage_note = "when it went down is not recorded"
        return
    move.outage = round(total, 1)
    move.outage_approximate = approximate
    move.outage_note = (
        "; ".join(whys) if len(whys) == 1 else f"{len(whys)} outages: " + "; ".join(whys)
    )


def _losses(
    guest: str, done: list[Operation], new: list[Operation], sightings: Sightings
) -> list[tuple[float, bool, str]]:
    """When a running copy of the guest was lost: (epoch seconds, approximate, how known)."""
    # Where a copy ran: seen there, started or migrated there.
    ran = set(sightings.first.get(guest, ()))
    ran |= {node for (g, node) in sightings.last_seen if g == guest}
    ran |= {o.node for o in done if o.task in ("start", "migrate_from")}
    ran |= {o.migrate_target for o in done if o.task == "migrate_to" and o.migrate_target}
    left_alive = {o.node: o.call_id for o in done if o.task == "migrate_to"}
    losses = [
        (o.began, False, f"from its stop on {o.node}")
        for o in done
        if o.task == "stop"
        and o.node in ran
        and not (o.node in left_alive and left_alive[o.node] < o.call_id)
    ]
    losses += [
        (float(o.last_rc_change), True, f"found not running by its monitor on {o.node}")
        for o in new
        if o.task == "monitor" and o.interval_ms > 0 and o.op_status == 0 and o.rc_code != 0
    ]
    handed_from = {(o.node, o.migrate_target) for o in done if o.task == "migrate_to"}
    for node, lost in sightings.lost.items():
        seen = sightings.seen_before_loss.get((guest, node))
        where = sightings.there_when_lost(guest, node, lost)
        if seen is not None and where is not None:
            # Listed on another node too (a migration that failed half-way): the copy
            # there still ran, unless it had handed the guest over to the dead node;
            # its own stop, if any, is the loss.
            kept = [n for n in where if n != node and (n, node) not in handed_from]
            if not kept:
                losses.append((seen, True, f"{node} died; from the last time havirt saw it there"))
            continue
        # Handed over by a migrate_to that succeeded, to a node that then died before
        # the guest was seen there: it ran there from then until the node died.
        handed = [
            o
            for o in done
            if o.task == "migrate_to"
            and o.migrate_target == node
            and not any(m.task == "migrate_from" and m.node == node for m in done)
        ]
        if handed:
            at = max(handed[-1].ended, sightings.last_up.get(node, 0.0))
            losses.append((min(at, lost), True, f"{node} died after the migration handed it over"))
    return losses
