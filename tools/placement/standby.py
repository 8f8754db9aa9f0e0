"""``havirt node standby|unstandby``: drain a host by live migration, and bring its guests back.

standby: refuses (changing nothing) when the cluster could not move every guest
away — no quorum, maintenance mode, or Pacemaker's scheduler, asked with
``crm_simulate`` on a copy of the CIB, would stop a guest for want of room or
of an allowed node. Otherwise it records which guests ran on the node (a node
attribute in the CIB, so any node can bring them back later, even after the
admin's shell is gone), sets the node's ``standby`` attribute (what
``pcs node standby`` does) and follows each guest until it runs elsewhere.

unstandby: clears ``standby``; with ``return_guests`` it moves the recorded
guests back with temporary constraints that are removed in every case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.errors import Refused
from havirt.tools.findings import NOTE, Finding
from havirt.tools.pacemaker import ClusterStatus, PacemakerAdapter
from havirt.tools.placement.constraints import Move
from havirt.tools.placement.guest_move import Follow, GuestMove, GuestsFollowed
from havirt.tools.placement.model import Guest, Host, Layout, describe_load, layout_from
from havirt.tools.placement.moves import carry_out, check_cluster_can_move, sweep_expired_moves
from havirt.tools.placement.predict import Prediction, predict, predict_moves
from havirt.tools.placement.sightings import read_history
from havirt.tools.placement.watch import watch

DRAINED_ATTRIBUTE = "havirt-drained-guests"  # the guests a standby moved away, space-separated
DEFAULT_TIMEOUT = 300.0
FOLLOW = Follow(DEFAULT_TIMEOUT)  # follow the guests' moves for up to 5 minutes
# The codes of a standby's notes
STOPPED = "stopped"  # forced: a guest with no room elsewhere stops
STAYS = "stays"  # forced: a guest the cluster does not move stays
RESTARTED = "restarted"  # a guest is restarted, not live-migrated
ALSO_MOVES = "also-moves"  # the scheduler moves a guest of another node too


class Forcible(Refused):
    """A standby refused because some guests could not be moved away; ``forcing`` says
    what forcing it would do instead (the command says how to force it)."""

    def __init__(self, message: str, hint: str, forcing: str) -> None:
        super().__init__(message, hint)
        self.forcing = forcing


@dataclass
class StandbyReport(GuestsFollowed):
    node: str
    changed: bool  # False: the node was in standby already
    guests: list[GuestMove] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)  # NOTE findings: what else happens
    seconds: float = 0.0
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "changed": self.changed,
            "ok": self.ok,
            "guests": [g.to_dict() for g in self.guests],
            "notes": [n.message for n in self.notes],
            "seconds": self.seconds,
            "dry_run": self.dry_run,
        }


@dataclass
class UnstandbyReport(StandbyReport):
    skipped: dict[str, str] = field(default_factory=dict)  # guest -> why it was not returned
    forgotten: list[str] = field(default_factory=list)  # recorded guests dropped without --return

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "skipped": self.skipped, "forgotten": self.forgotten}


def _read(pm: PacemakerAdapter, node: str) -> tuple[ClusterStatus, Layout, Host]:
    """The cluster as it is, and ``node`` in it (refused when the cluster has no such node)."""
    status = pm.status()
    layout = layout_from(status, pm.cib_xml("configuration"))
    return status, layout, layout.require_host(node)


def _since(env: ClusterEnv, start: float) -> float:
    """Seconds since ``start`` on the environment's monotonic clock, as reports give them."""
    return round(env.monotonic() - start, 2)


def _why_stranded(layout: Layout, guest: Guest, node: str) -> str:
    others = [h for h in layout.hosts if h.name != node]
    room = [
        f"{h.name} "
        + (f"free {describe_load(layout.free(h.name))}" if h.eligible else "not available")
        for h in others
    ]
    fits = [h.name for h in others if h.eligible and layout.fits(guest, h.name)]
    leaving = [g.id for g in layout.guests_on(node) if g.id != guest.id]
    if fits and leaving:
        why = (
            f"{', '.join(fits)} would have room for it alone, but not together with the "
            f"other guests leaving {node} ({', '.join(leaving)}), or its constraints forbid "
            "those nodes"
        )
    elif fits:
        why = f"its constraints allow it none of the nodes with room ({', '.join(fits)})"
    else:
        why = "no other node has room for it"
    needs = describe_load(guest.utilization)
    return f"{guest.id} (needs {needs}): {why}; {'; '.join(room) or 'no other node'}"


def standby(
    env: ClusterEnv, node: str, how: Follow = FOLLOW, *, force: bool = False
) -> StandbyReport:
    """Put ``node`` in standby and follow its guests away (see the module doc).

    Refused (:class:`Forcible`, nothing changed) when Pacemaker would stop a guest for
    want of room or leave an unmanaged one running there; with ``force`` those stop or
    stay, and the report's notes say which."""
    pm = env.pacemaker
    start = env.monotonic()
    status, layout, host = _read(pm, node)
    on_node = layout.guests_on(node)
    report = StandbyReport(node, changed=not host.standby, dry_run=how.dry_run)
    if on_node:
        check_cluster_can_move(status, f"moving the guests off {node}")
    prediction = predict(pm, [g.id for g in layout.guests], standby=[node])
    stranded = [g for g in on_node if not prediction.after.get(g.id)]
    # Guests the scheduler leaves where they are (unmanaged): following them would only
    # wait out the timeout.
    staying = [g for g in on_node if node in prediction.after.get(g.id, ())]
    if stranded and not force:
        reasons = "\n  ".join(_why_stranded(layout, g, node) for g in stranded)
        raise Forcible(
            f"{node} cannot go to standby: Pacemaker would stop "
            f"{', '.join(g.id for g in stranded)}, nothing was changed:\n  {reasons}",
            "free capacity elsewhere (stop or shrink a guest, bring a node back)",
            forcing="stop the guests that do not fit",
        )
    if staying and not force:
        raise Forcible(
            f"{node} cannot be drained: Pacemaker would leave "
            f"{', '.join(g.id for g in staying)} running on it (not managed by the cluster), "
            "nothing was changed",
            "let the cluster manage it (crm_resource --manage --resource GUEST)",
            forcing="go to standby with it still running there",
        )
    report.notes += _side_effects(prediction, on_node, stranded)
    report.notes += [
        Finding(
            STAYS,
            NOTE,
            f"forced: {g.id} stays on {node} (Pacemaker does not move it)",
            node=node,
            guest=g.id,
        )
        for g in staying
    ]
    # Forced: the stranded guests stop and the staying ones stay (see the notes); the
    # others are followed.
    report.guests = [
        GuestMove(g.id, node, prediction.destination(g.id), required=False)
        for g in on_node
        if g not in stranded and g not in staying
    ]
    if how.dry_run:
        return report
    sweep_expired_moves(pm, env.now())  # left by a havirt that was killed mid-move
    history = read_history(pm)  # before anything moves: what happens next is judged from it
    if on_node:
        recorded = set(_recorded(layout, node)) | {g.id for g in on_node}
        pm.set_node_attribute(node, DRAINED_ATTRIBUTE, " ".join(sorted(recorded)))
    if report.changed:
        pm.set_node_attribute(node, "standby", "on")
    for move in report.guests:
        env.progress(move)
    watch(env, report.guests, timeout=how.timeout, baseline=status, history=history)
    report.seconds = _since(env, start)
    return report


def _side_effects(
    prediction: Prediction, on_node: tuple[Guest, ...], stranded: list[Guest]
) -> list[Finding]:
    notes = []
    if stranded:
        stopped = ", ".join(g.id for g in stranded)
        notes.append(
            Finding(STOPPED, NOTE, f"forced: {stopped} will be stopped (no room elsewhere)")
        )
    ours = {g.id for g in on_node}
    restarted = [g for g in prediction.restarts() if g in ours]
    if restarted:
        notes.append(
            Finding(
                RESTARTED,
                NOTE,
                f"{', '.join(restarted)} will be restarted, not live-migrated "
                "(allow-migrate is off)",
            )
        )
    others = {g: m for g, m in prediction.moved().items() if g not in ours}
    for guest, (src, dst) in sorted(others.items()):
        notes.append(
            Finding(
                ALSO_MOVES,
                NOTE,
                f"{guest} on {src} will also move, to {dst} (the scheduler's choice)",
                node=src,
                guest=guest,
            )
        )
    return notes


def _recorded(layout: Layout, node: str) -> list[str]:
    return (layout.attributes.get(node, {}).get(DRAINED_ATTRIBUTE) or "").split()


def unstandby(
    env: ClusterEnv, node: str, how: Follow = FOLLOW, *, return_guests: bool = False
) -> UnstandbyReport:
    """Take ``node`` out of standby; with ``return_guests`` move its recorded guests back."""
    pm = env.pacemaker
    start = env.monotonic()
    status, layout, host = _read(pm, node)
    report = UnstandbyReport(node, changed=host.standby, dry_run=how.dry_run)
    recorded = _recorded(layout, node)
    moves: list[Move] = []
    if return_guests:
        moves, report.skipped = _returns(layout, node, recorded)
        if moves:
            check_cluster_can_move(status, "moving the guests back")
            _check_return(env, layout, node, moves, report, standby_cleared=not report.changed)
            moves = [m for m in moves if m.guest not in report.skipped]
    if how.dry_run:
        report.guests = [GuestMove(m.guest, m.source, m.target) for m in moves]
        return report
    if report.changed:
        pm.set_node_attribute(node, "standby", None)
    if not return_guests:
        if recorded:
            pm.set_node_attribute(node, DRAINED_ATTRIBUTE, None)
            report.forgotten = recorded
        report.seconds = _since(env, start)
        return report
    report.guests = carry_out(env, moves, timeout=how.timeout)
    returned = {g.guest for g in report.guests if g.arrived_ok} | {
        g for g, why in report.skipped.items() if why == "already there"
    }
    remaining = [g for g in recorded if g not in returned and layout.guest(g) is not None]
    pm.set_node_attribute(node, DRAINED_ATTRIBUTE, " ".join(remaining) or None)
    report.seconds = _since(env, start)
    return report


def _returns(layout: Layout, node: str, recorded: list[str]) -> tuple[list[Move], dict[str, str]]:
    moves, skipped = [], {}
    for name in recorded:
        guest = layout.guest(name)
        if guest is None:
            skipped[name] = "no longer a cluster resource"
        elif guest.node == node:
            skipped[name] = "already there"
        elif not guest.managed:
            skipped[name] = "unmanaged"
        elif guest.failed:
            skipped[name] = "has failed actions (crm_resource --cleanup first)"
        elif guest.node is None:
            skipped[name] = "not running" if not guest.nodes else "runs on several nodes"
        else:
            moves.append(Move(name, guest.node, node))
    return moves, skipped


def _check_return(
    env: ClusterEnv,
    layout: Layout,
    node: str,
    moves: list[Move],
    report: UnstandbyReport,
    standby_cleared: bool,
) -> None:
    """Ask the scheduler; drop guests it would not put back, refuse if anything would stop."""
    prediction = predict_moves(
        env, layout, moves, timeout=DEFAULT_TIMEOUT, active=[] if standby_cleared else [node]
    )
    if prediction.stopped():
        raise Refused(
            f"moving the guests back to {node} would stop {', '.join(prediction.stopped())}; "
            "nothing was changed",
            "return fewer guests (havirt place / crm_resource --move one at a time)",
        )
    for move in moves:
        if prediction.destination(move.guest) != node:
            report.skipped[move.guest] = (
                f"Pacemaker would not place it on {node} (room or constraints)"
            )
