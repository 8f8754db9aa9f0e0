"""``havirt domain start|stop NAME`` and ``havirt domain migrate NAME NODE``: one
guest at a time, through Pacemaker (``remove``, built on the same reading of the
cluster, is in removal.py).

start and stop set the guest resource's ``target-role`` meta attribute (Started,
Stopped) in one CIB change, as ``pcs resource enable|disable`` do, after asking the
scheduler (``crm_simulate`` on a copy of the CIB) what it would do with the change;
a start Pacemaker could not carry out (no room, the guest's rules allow no node) is
refused. So is a start while the guest's domain (by name or UUID) runs on a node
outside Pacemaker's knowledge, or while a node's libvirt cannot be read (the
environment's LibvirtView reads every node's libvirt): a guest never runs on two
nodes. With a wait, the guest is followed until it runs (or is stopped).

migrate asks the scheduler what it would do with a temporary ``havirt-move-NAME``
constraint to NODE and refuses, with the reason, when NODE is not available, lacks
room, a rule forbids it, or another guest would have to stop. Otherwise the move is
carried out with that temporary constraint (tools/placement/moves.carry_out), which is
removed in every case, and judged like every move (live-migrated, restarted, ...).
While crm_mon shows it migrating, its source node's libvirt (the environment's
LibvirtView) is asked how far the migration is, and the progress says so
(tools/placement/migration_job.py).

Every refusal changes nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.errors import BadRequest, Refused
from havirt.tools.json_fields import fields_dict
from havirt.tools.pacemaker import ClusterStatus
from havirt.tools.pacemaker.cib import CibConfig, parse_config
from havirt.tools.placement.constraints import Move
from havirt.tools.placement.guest_move import DONE, FAILED, IN_FLIGHT, MOVING, TIMED_OUT, GuestMove
from havirt.tools.placement.migration_job import JobNotes
from havirt.tools.placement.model import Guest, Layout, describe_load, layout_from
from havirt.tools.placement.moves import carry_out, check_cluster_can_move
from havirt.tools.placement.place import constraints_of
from havirt.tools.placement.predict import Prediction, predict, predict_moves
from havirt.tools.placement.recovery import await_recovery, in_flight, settled_on
from havirt.tools.placement.watch import POLL_SECONDS
from havirt.tools.userinput import parse_xml
from lxml import etree

if TYPE_CHECKING:
    from havirt.tools.records import LibvirtDomain
    from havirt.tools.records.scan import MigrationJob

TARGET_ROLE = "target-role"
STARTED, STOPPED = "Started", "Stopped"
DEFAULT_TIMEOUT = 300.0


@dataclass
class DomainReport:
    """What a start, stop or migrate of one guest did (or would do)."""

    guest: str
    action: str  # start, stop, migrate
    changed: bool  # False: it was so already, nothing was written
    before: tuple[str, ...]  # the nodes it ran on
    expected: str | None = None  # where the scheduler would run it afterwards
    move: GuestMove | None = None  # followed: with a wait, and always for migrate
    notes: list[str] = field(default_factory=list)  # what else the scheduler would do
    job: MigrationJob | None = None  # migrate: libvirt's last reading of its migration job
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """Done as asked: it runs (start), is stopped (stop), live-migrated (migrate)."""
        if self.dry_run or self.move is None:
            return True
        if self.action == "migrate":
            return self.move.ok
        return self.move.state == DONE

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self, after={"changed": {"ok": self.ok}})


@dataclass(frozen=True)
class _Cluster:
    status: ClusterStatus
    cib: str  # the whole CIB (status included: the scheduler's input)
    config: CibConfig
    layout: Layout

    def role(self, guest: str) -> str:
        primitive = self.config.primitives.get(guest)
        return (primitive.meta.get(TARGET_ROLE) if primitive else None) or STARTED


def read_guest(env: ClusterEnv, name: str) -> tuple[_Cluster, Guest]:
    """The cluster as it is and the guest ``name`` in it; BadRequest when there is no
    such guest (naming the guests) or ``name`` is a resource of another kind."""
    pm = env.pacemaker
    status = pm.status()
    cib = pm.cib_xml()
    config = parse_config(cib)
    cluster = _Cluster(status, cib, config, layout_from(status, cib))
    primitive = config.primitives.get(name)
    if primitive is not None and not primitive.is_guest:
        raise BadRequest(
            f"{name} is not a guest: it is a {primitive.agent} resource; nothing was changed",
            "these commands act on VirtualDomain resources only (havirt domain list shows them)",
        )
    return cluster, cluster.layout.require_guest(name)


def _with_role(cib: str, guest: str, role: str) -> str:
    """A copy of the CIB in which ``guest``'s target-role is ``role`` (for the scheduler)."""
    root = parse_xml(cib, "the CIB")
    (primitive,) = root.xpath("configuration/resources//primitive[@id=$id]", id=guest)
    pairs = [
        nv
        for meta in primitive.iterfind("meta_attributes")
        for nv in meta.iterfind("nvpair")
        if nv.get("name") == TARGET_ROLE
    ]
    for nv in pairs:
        nv.set("value", role)
    if not pairs:
        meta = primitive.find("meta_attributes")
        if meta is None:
            meta = etree.SubElement(primitive, "meta_attributes", id=f"{guest}-meta_attributes")
        etree.SubElement(
            meta, "nvpair", id=f"{meta.get('id')}-{TARGET_ROLE}", name=TARGET_ROLE, value=role
        )
    return etree.tostring(root, encoding="unicode")


def predict_role(env: ClusterEnv, cluster: _Cluster, guest: str, role: str) -> Prediction:
    return predict(
        env.pacemaker,
        [g.id for g in cluster.layout.guests],
        cib_xml=_with_role(cluster.cib, guest, role),
    )


def others_affected(prediction: Prediction, guest: str) -> list[str]:
    """What the scheduler would also do to other guests: stop or move them."""
    notes = [f"{g} will be stopped too" for g in prediction.stopped() if g != guest]
    notes += [
        f"{g} on {src} will also move, to {dst} (the scheduler's choice)"
        for g, (src, dst) in sorted(prediction.moved().items())
        if g != guest
    ]
    return notes


def require_managed(guest: Guest, verb: str) -> None:
    """Refuse to ask Pacemaker to start or stop a guest it does not manage."""
    if not guest.managed:
        raise Refused(
            f"{guest.id} is not managed by the cluster: Pacemaker would not {verb} it; "
            "nothing was changed",
            f"let the cluster manage it first (crm_resource --manage --resource {guest.id})",
        )


def _room(cluster: _Cluster) -> str:
    layout = cluster.layout
    return "; ".join(
        f"{h.name} free {describe_load(layout.free(h.name))}"
        if h.eligible
        else f"{h.name} not available"
        for h in layout.hosts
    )


def set_role(
    env: ClusterEnv,
    name: str,
    role: str,
    *,
    wait: float | None = None,
    dry_run: bool = False,
    poll: float = POLL_SECONDS,
    unreadable_ok: bool = False,
) -> DomainReport:
    """Set ``name``'s target-role to ``role`` (Started: start it, Stopped: stop it); with
    ``wait`` follow it until it runs (or is down). A start first asks every node's
    libvirt (``env.libvirt``) whether a copy runs outside Pacemaker; ``unreadable_ok``:
    a node that cannot be read is passed over (with a note) instead of refusing."""
    began = env.monotonic()
    cluster, guest = read_guest(env, name)
    running = role == STARTED
    action = "start" if running else "stop"
    report = DomainReport(name, action, cluster.role(name) != role, guest.nodes, dry_run=dry_run)
    planned = (
        _plan_start(env, cluster, guest, report, unreadable_ok=unreadable_ok)
        if running
        else _plan_stop(env, cluster, guest, report)
    )
    if not planned or dry_run:
        return report
    if report.changed or not running:  # a stop is written even when it was Stopped already
        env.pacemaker.set_resource_meta(name, TARGET_ROLE, role)
        report.changed = True
    if wait is None or report.move is None:
        report.move = None
        return report
    follow(env, report.move, cluster.status, running=running, timeout=wait, poll=poll)
    report.seconds = round(env.monotonic() - began, 2)
    return report


start = functools.partial(set_role, role=STARTED)
stop = functools.partial(set_role, role=STOPPED)


def _plan_start(
    env: ClusterEnv,
    cluster: _Cluster,
    guest: Guest,
    report: DomainReport,
    *,
    unreadable_ok: bool = False,
) -> bool:
    """Refuse a start Pacemaker could not carry out or that would run a second copy, else
    say where it would run the guest; False: it runs, and is meant to (nothing to do)."""
    name = guest.id
    if guest.nodes and cluster.role(name) != STOPPED:
        report.expected = guest.node
        return False
    check_cluster_can_move(cluster.status, f"starting {name}")
    require_managed(guest, "start")
    report.notes = _check_no_copy(env, cluster, guest, unreadable_ok=unreadable_ok)
    prediction = predict_role(env, cluster, name, STARTED)
    if not prediction.after.get(name):
        failed = " It has failed actions." if guest.failed else ""
        fix = f"crm_resource --cleanup --resource {name}, or " if guest.failed else ""
        raise Refused(
            f"Pacemaker would not start {name}: no node has room for it (needs "
            f"{describe_load(guest.utilization)}) or its constraints allow none "
            f"({_room(cluster)}).{failed} Nothing was changed",
            f"{fix}free capacity (havirt domain stop another guest), or look at its "
            f"constraints: havirt place {name}",
        )
    stopped = [g for g in prediction.stopped() if g != name]
    if stopped:
        raise Refused(
            f"starting {name} would stop {', '.join(stopped)}; nothing was changed",
            "free capacity first (havirt domain migrate or stop a guest)",
        )
    report.expected = prediction.destination(name)
    report.notes += others_affected(prediction, name)
    report.move = GuestMove(name, None, report.expected, required=False)
    return True


class Unverified(Refused):
    """A start refused because some nodes' libvirt could not be read (the command says
    how to start without reading them)."""


def _check_no_copy(
    env: ClusterEnv, cluster: _Cluster, guest: Guest, *, unreadable_ok: bool = False
) -> list[str]:
    """Refuse to start ``guest`` while its domain (by name or UUID) runs on a node
    Pacemaker does not run it on, or while a node's libvirt cannot be read (unless
    ``unreadable_ok``); return notes on the nodes that were not looked at."""
    name = guest.id
    primitive = cluster.config.primitives.get(name)
    ident = env.libvirt.identity(primitive) if primitive is not None else None
    names = {name, ident.domain} if ident is not None else {name}
    uuid = ident.uuid.lower() if ident is not None and ident.uuid else None
    scans = env.libvirt.domains(cluster.status, cluster.config)
    copies: list[tuple[str, LibvirtDomain]] = []
    unread: list[tuple[str, str]] = []
    notes = []
    for node, scan in sorted(scans.items()):
        if node in guest.nodes:
            continue  # Pacemaker's own copy (a start keeps it there)
        if not scan.asked:
            notes.append(f"{node} is offline in Pacemaker; its libvirt was not asked about {name}")
        elif scan.error is not None:
            unread.append((node, scan.error))
        else:
            copies += [
                (node, d)
                for d in scan.domains
                if d.active and (d.name in names or (uuid is not None and d.uuid == uuid))
            ]
    if copies:
        seen = ", ".join(
            f"{d.name} on {node}" + (f" ({d.state})" if d.state != "running" else "")
            for node, d in copies
        )
        where = ", ".join(sorted({node for node, _ in copies}))
        raise Refused(
            f"{name} already runs outside Pacemaker: libvirt runs {seen}; starting it "
            "would run it twice; nothing was changed",
            f"shut that copy down (virsh shutdown {copies[0][1].name} on {where}), or let "
            f"Pacemaker find and manage it: crm_resource --refresh --resource {name}",
        )
    if unread and not unreadable_ok:
        raise Unverified(
            f"cannot tell whether {name} runs outside Pacemaker: libvirt could not be read "
            f"on {', '.join(f'{node} ({error})' for node, error in unread)}; nothing was changed",
            f"make libvirt answer there (havirt domain locate {name} asks every node), or "
            f"make sure {name} does not run there",
        )
    notes += [
        f"{node} was not checked for a copy of {name} outside Pacemaker: its libvirt could "
        f"not be read ({error})"
        for node, error in unread
    ]
    return notes


def _plan_stop(env: ClusterEnv, cluster: _Cluster, guest: Guest, report: DomainReport) -> bool:
    """Refuse a stop Pacemaker would not carry out, else say what else it would do; False:
    it is stopped, and meant to be (nothing to do)."""
    if not report.changed and not guest.nodes:
        return False
    if guest.nodes:
        check_cluster_can_move(cluster.status, f"stopping {guest.id}")
        require_managed(guest, "stop")
        report.notes = others_affected(predict_role(env, cluster, guest.id, STOPPED), guest.id)
        report.move = GuestMove(guest.id, guest.node, None, required=False)
    return True


def _failures(status: ClusterStatus, guest: str) -> set[tuple[str, str, str]]:
    failed = status.failed_actions
    return {(f.task, f.node, f.last_rc_change) for f in failed if f.resource == guest}


def follow(
    env: ClusterEnv,
    move: GuestMove,
    baseline: ClusterStatus,
    *,
    running: bool,
    timeout: float,
    poll: float,
) -> None:
    """Follow one guest until it runs settled on a node (``running``) or runs nowhere,
    reporting each change to ``env.progress``. After a failed start, the cluster's
    recovery is waited out (it may start the guest elsewhere) before it is judged."""
    pm, clock = env.pacemaker, env.monotonic
    began = clock()
    known = _failures(baseline, move.guest)
    failed = False
    env.progress(move)
    while True:
        status = pm.status()
        before = (move.state, move.detail)
        for f in status.failed_actions:
            key = (f.task, f.node, f.last_rc_change)
            if f.resource == move.guest and key not in known:
                known.add(key)
                failed = True
                failure = f"{f.task} on {f.node} failed: {f.exitreason or f.exitstatus}"
                keep = move.detail and move.detail not in IN_FLIGHT
                move.detail = f"{move.detail}; {failure}" if keep else failure
        if failed and running and settled_on(status, move.guest) is None:
            if move.detail != before[1]:  # say so now: the recovery may take a while
                move.state = MOVING
                env.progress(move)
                before = (move.state, move.detail)
            status = await_recovery(env, [move.guest], deadline=began + timeout)
        where = status.where(move.guest)
        pending = in_flight(status, move.guest)
        elapsed = round(clock() - began, 2)
        reached = settled_on(status, move.guest) is not None if running else not where
        if reached:
            move.state, move.seconds = DONE, elapsed
            move.node = where[0] if where else None
            move.detail = "" if move.detail in IN_FLIGHT else move.detail
        elif failed and running:
            _end(move, FAILED, where, elapsed)
        elif elapsed >= timeout:
            _end(move, TIMED_OUT, where, elapsed)
        elif pending:
            move.state = MOVING
            move.detail = move.detail or pending.lower()
        if (move.state, move.detail) != before or move.state in (DONE, FAILED, TIMED_OUT):
            env.progress(move)
        if move.state in (DONE, FAILED, TIMED_OUT):
            return
        env.sleep(poll)


def _end(move: GuestMove, state: str, where: tuple[str, ...], elapsed: float) -> None:
    move.state, move.seconds = state, elapsed
    move.node = where[0] if len(where) == 1 else None
    now = f"runs on {', '.join(where)}" if where else "not running"
    keep = move.detail and move.detail not in IN_FLIGHT
    move.detail = f"{move.detail}; {now}" if keep else now


def _why_not(cluster: _Cluster, guest: Guest, node: str) -> tuple[str, str]:
    """Why the scheduler would not run ``guest`` on ``node`` (which is available), and
    what would change that."""
    layout = cluster.layout
    others = f"or pick another node ({_room(cluster)})"
    if not layout.fits(guest, node):
        return (
            f"{node} lacks room: {guest.id} needs {describe_load(guest.utilization)}, "
            f"{node} has free {describe_load(layout.free(node))}",
            f"free room on {node} (stop or move a guest there), {others}",
        )
    rules = [c.describe() for c in constraints_of(cluster.cib, guest.id) if c.kind != "move"]
    listed = "; ".join(rules) if rules else "none of its own: see crm_simulate --show-scores"
    return (
        f"a rule forbids it there (its constraints: {listed})",
        f"change the rule (havirt place {guest.id} lists them and clears havirt's), {others}",
    )


def migrate(
    env: ClusterEnv,
    name: str,
    node: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    dry_run: bool = False,
) -> DomainReport:
    """Move ``name`` to ``node`` with a temporary constraint, after asking the scheduler."""
    began = env.monotonic()
    cluster, guest = read_guest(env, name)
    host = cluster.layout.require_host(node)
    report = DomainReport(name, "migrate", changed=True, before=guest.nodes, dry_run=dry_run)
    if guest.nodes == (node,):
        report.changed, report.expected = False, node
        return report
    if not guest.nodes:
        raise Refused(
            f"{name} is not running: there is nothing to migrate; nothing was changed",
            f"start it (it starts where Pacemaker chooses): havirt domain start {name}",
        )
    if guest.node is None:
        raise Refused(
            f"{name} is listed on several nodes ({', '.join(guest.nodes)}); nothing was changed",
            f"let the cluster recover it first (crm_mon; crm_resource --cleanup --resource {name})",
        )
    if not guest.managed:
        raise Refused(
            f"{name} is not managed by the cluster: Pacemaker would not move it; "
            "nothing was changed",
            f"let the cluster manage it first (crm_resource --manage --resource {name})",
        )
    if guest.failed:
        raise Refused(
            f"{name} has failed actions: Pacemaker may not move it as asked; nothing was changed",
            f"look at them (crm_mon) and clear them: crm_resource --cleanup --resource {name}",
        )
    check_cluster_can_move(cluster.status, f"moving {name} to {node}")
    if not host.eligible:
        why = "offline" if not host.online else "in standby" if host.standby else "in maintenance"
        raise Refused(
            f"{node} is {why}: Pacemaker runs no guest there; nothing was changed",
            f"pick an available node ({', '.join(cluster.layout.eligible) or 'none'})",
        )
    move = Move(name, guest.node, node)
    prediction = predict_moves(env, cluster.layout, [move], timeout=timeout)
    if prediction.destination(name) != node:
        why, fix = _why_not(cluster, guest, node)
        raise Refused(f"Pacemaker would not run {name} on {node}: {why}; nothing was changed", fix)
    stopped = [g for g in prediction.stopped() if g != name]
    if stopped:
        raise Refused(
            f"moving {name} to {node} would stop {', '.join(stopped)}: Pacemaker would find "
            f"no other node for {'it' if len(stopped) == 1 else 'them'}; nothing was changed",
            "free room first, or pick another node",
        )
    report.expected = node
    report.notes = others_affected(prediction, name)
    if name in prediction.restarts():
        report.notes.append(f"{name} will be restarted, not live-migrated (allow-migrate is off)")
    report.move = GuestMove(name, guest.node, node)
    if dry_run:
        return report
    primitive = cluster.config.primitives.get(name)
    domain = env.libvirt.identity(primitive).domain if primitive is not None else name
    jobs = JobNotes(env, cluster.config, {name: domain})
    report.move = carry_out(env, [move], timeout=timeout, jobs=jobs)[0]
    report.job = jobs.last.get(name)
    report.seconds = round(env.monotonic() - began, 2)
    return report
