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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.errors import HavirtError, Refused
from havirt.tools.pacemaker import (
    ClusterStatus,
    Operation,
    OperationHistory,
    Pacemaker,
    PacemakerError,
)
from havirt.tools.placement.constraints import (
    Move,
    MoveConstraint,
    move_constraints,
    move_constraints_in,
    move_id,
    to_text,
)
from havirt.tools.placement.guest_move import (
    DONE,
    FAILED,
    FINAL,
    IN_FLIGHT,
    LIVE_MIGRATED,
    MOVING,
    NOT_MOVED,
    NOT_RUNNING,
    RESTARTED,
    STOPPED,
    TIMED_OUT,
    UNKNOWN,
    WAITING,
    GuestMove,
)

POLL_SECONDS = 0.3
MIN_LIFETIME = 120.0  # seconds a temporary constraint outlives the wait, at least
# A guest left down after a failed move is judged once the cluster had nothing planned
# for it this long: a node lost or back shows in Corosync's membership only after its
# token and consensus timeouts (6.6 s with the default 3 s token).
SETTLE_SECONDS = 10.0
RECOVERY_POLL_SECONDS = 1.0


def _failures(status: ClusterStatus) -> set[tuple[str, str, str, str]]:
    return {(f.resource, f.task, f.node, f.last_rc_change) for f in status.failed_actions}


def read_history(pm: Pacemaker) -> OperationHistory | None:
    """The operation history, or None when it cannot be read (then outcomes are unknown)."""
    try:
        return pm.history()
    except PacemakerError:
        return None


def _node_up(status: ClusterStatus, name: str) -> bool:
    node = status.node(name)
    return node is None or (node.online and not node.unclean)


@dataclass
class Sightings:
    """What the watcher saw poll by poll (wall-clock seconds): where each guest was
    listed, the last time it ran on a node that was up, and when each node was first
    seen lost. A dead node's history is erased, so this is what dates its guests' loss."""

    first: dict[str, tuple[str, ...]] = field(default_factory=dict)  # guest -> where at first
    listed: dict[str, list[tuple[float, tuple[str, ...]]]] = field(default_factory=dict)
    last_seen: dict[tuple[str, str], float] = field(default_factory=dict)  # (guest, node)
    up: set[str] = field(default_factory=set)  # nodes seen up
    last_up: dict[str, float] = field(default_factory=dict)  # node -> last time seen up
    lost: dict[str, float] = field(default_factory=dict)  # node -> first seen down
    seen_before_loss: dict[tuple[str, str], float] = field(default_factory=dict)

    def see(self, status: ClusterStatus, guests: Sequence[str], now: float) -> None:
        for node in status.nodes:
            if _node_up(status, node.name):
                self.up.add(node.name)
                self.last_up[node.name] = now
            elif node.name in self.up and node.name not in self.lost:
                self.lost[node.name] = now
                for (guest, on), at in self.last_seen.items():
                    if on == node.name:
                        self.seen_before_loss[(guest, on)] = at
        for guest in guests:
            where = status.where(guest)
            self.first.setdefault(guest, where)
            listed = self.listed.setdefault(guest, [])
            if not listed or listed[-1][1] != where:
                listed.append((now, where))
            for name in where:
                if _node_up(status, name):
                    self.last_seen[(guest, name)] = now

    def listed_at(self, guest: str, when: float, *, before: bool = False) -> tuple[str, ...]:
        """Where ``guest`` was listed at ``when`` (``before``: at the poll before it)."""
        found: tuple[str, ...] = ()
        for at, where in self.listed.get(guest, []):
            if at > when or (before and at >= when):
                break
            found = where
        return found

    def there_when_lost(self, guest: str, node: str, lost: float) -> tuple[str, ...] | None:
        """Where ``guest`` was listed when ``node`` was first seen lost, if it ran there:
        in that poll, or in the poll before when the cluster had already restarted it
        elsewhere by the poll that saw the loss; None if it did not run on ``node``."""
        for where in (self.listed_at(guest, lost), self.listed_at(guest, lost, before=True)):
            if node in where:
                return where
        return None


class HistoryLog:
    """Every operation seen since ``baseline``, accumulated over several reads: the CIB
    keeps only the last operation of each kind per resource and node (a start is
    overwritten by the next stop), and fencing erases a node's history, so the
    watcher reads it whenever the cluster's view changes and keeps what it saw."""

    def __init__(self, baseline: OperationHistory | None) -> None:
        self.baseline = baseline
        self.seen: dict[tuple[str, str, str, int, int], Operation] = {}

    def add(self, history: OperationHistory | None) -> None:
        if history is None or self.baseline is None:
            return
        for op in history.since(self.baseline).operations:
            self.seen.setdefault(op.identity, op)

    @property
    def known(self) -> bool:
        return self.baseline is not None

    def of(self, resource: str) -> list[Operation]:
        """The guest's operations since the baseline, in the order they ended."""
        ops = [o for o in self.seen.values() if o.resource == resource]
        return sorted(ops, key=lambda o: (o.last_rc_change, o.node, o.call_id))


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
) -> list[GuestMove]:
    """Follow ``moves`` until each is final (see the module doc), reporting each change
    to ``env.progress``; returns them.

    ``baseline`` and ``history`` are the status and operation history from before
    anything was changed (read here when not given); what happened since is judged.
    A guest whose move failed is final only once the cluster has recovered it
    (``crm_resource --wait``): where it ends up is part of the answer. A guest that
    arrived but is lost again while others still move is followed again."""
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


def _in_flight(status: ClusterStatus, guest: str) -> str | None:
    """The action crm_mon shows in flight for the guest, if any. A monitor in flight
    does not hold a guest up: it runs where it arrived."""
    instances = status.instances(guest)
    if any(r.role == "Migrating" for r in instances):  # crm_mon's role while migrate_to runs
        return "Migrating"
    return next((r.pending for r in instances if r.pending and r.pending != "Monitoring"), None)


def _settled_on(status: ClusterStatus, guest: str) -> str | None:
    """The node the guest runs on alone, when that node is up, the guest healthy and
    no action in flight; else None."""
    where = status.where(guest)
    healthy = not any(r.failed for r in status.instances(guest) if r.active)
    if len(where) == 1 and _node_up(status, where[0]) and healthy:
        return None if _in_flight(status, guest) else where[0]
    return None


def _recovered(status: ClusterStatus, guest: str) -> bool:
    return _settled_on(status, guest) is not None


def _recovering(pm: Pacemaker, status: ClusterStatus, guests: Sequence[str]) -> bool:
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
    pending = _in_flight(status, move.guest)
    settled = _settled_on(status, move.guest)
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


def sweep_expired_moves(pm: Pacemaker, now: dt.datetime) -> list[MoveConstraint]:
    """Delete the expired ``havirt-move-*`` constraints (left by a havirt that was
    killed: they no longer apply, but they clutter the CIB and every listing); return
    the unexpired ones (another havirt run is moving guests)."""
    existing = move_constraints_in(pm.cib_xml("constraints"))
    expired = [c.id for c in existing if c.expired(now)]
    if expired:
        pm.delete_constraints(expired)
    return [c for c in existing if not c.expired(now)]


def check_no_move_in_progress(pm: Pacemaker, guests: Sequence[str], now: dt.datetime) -> None:
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
    env: ClusterEnv, moves: Sequence[Move], *, timeout: float, poll: float = POLL_SECONDS
) -> list[GuestMove]:
    """Move guests with temporary constraints and remove the constraints in every case."""
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
        return watch(env, followed, timeout=timeout, baseline=baseline, history=history, poll=poll)
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


def clear_moves(pm: Pacemaker) -> list[str]:
    """Delete every ``havirt-move-*`` constraint (after a havirt run was killed)."""
    ids = [c.id for c in move_constraints_in(pm.cib_xml("constraints"))]
    pm.delete_constraints(ids)
    return ids
