"""`havirt domain start|stop|remove NAME` and `havirt domain migrate NAME NODE`: parse and
render only (havirt.tools.placement.domain decides). They join the ``domain`` group of
tools/cli/records.py in tools/cli/main.py.

Exit codes as for `havirt node standby`: 0 done (migrate: live-migrated); 1 the guest
did not get there (or was restarted instead of live-migrated) or a tool failed; 2
refused, nothing changed. Each holds the cluster lock while it checks and acts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from havirt.tools.cli import moving
from havirt.tools.cli.common import Number, seconds, seconds_option
from havirt.tools.cli.domains import open_store, store_options
from havirt.tools.cli.lock import WAIT_LOCK_OPTION
from havirt.tools.cli.records import LIBVIRT_OPTIONS, TIMEOUT
from havirt.tools.cli.world import command_env, command_world
from havirt.tools.placement.guest_move import REMOVE_WAIT

if TYPE_CHECKING:
    from havirt.tools.cluster.env import ClusterEnv, LibvirtView
    from havirt.tools.placement.domain import DomainReport
    from havirt.tools.placement.guest_move import GuestMove
    from havirt.tools.placement.removal import RemoveReport

DEFAULT_WAIT = 300.0

WAIT_OPTION = click.option(
    "--wait",
    "wait",
    type=seconds(),
    is_flag=False,
    flag_value=DEFAULT_WAIT,
    default=None,
    metavar="[SECONDS]",
    help=f"Follow the guest until it gets there, up to SECONDS (default {DEFAULT_WAIT:g}).",
)


def state_line(move: GuestMove, running: bool) -> str:
    """One guest on its way up or down: ``vm1   starting``, ``vm1   running on node2 (1.2 s)``."""
    verb = "starting" if running else "stopping"
    if move.state == "done":
        text = f"running on {move.node}" if running else "stopped"
        text = click.style(text, fg="green")
    elif move.state in ("failed", "timed out"):
        text = click.style(f"{move.state} {verb}", fg="red")
    else:
        text = verb
    extra = [f"expected on {move.target}"] if running and move.target and not move.node else []
    extra += [f"{move.seconds:.1f} s"] if move.seconds is not None else []
    extra += [move.detail] if move.detail else []
    return f"  {move.guest:<14} {text}" + (f" ({'; '.join(extra)})" if extra else "")


def _env(run: moving.Run, running: bool) -> ClusterEnv:
    """The command's environment: a state line on stderr (unless --quiet or --json) each
    time the guest's way up (``running``) or down changes."""
    quiet = run.quiet or run.as_json

    def show(move: GuestMove) -> None:
        if not quiet:
            click.echo(state_line(move, running), err=True)

    return command_env(quiet).reporting(show)


@dataclass(frozen=True)
class _Look:
    """How ``domain start`` reads each node's libvirt: its options."""

    template: str | None
    timeout: float
    all_nodes: bool
    ignore_unreadable: bool


IGNORE_UNREADABLE_OPTION = click.option(
    "--ignore-unreadable",
    is_flag=True,
    help="Start even if a node's libvirt cannot be read (no answer, refused): that "
    "node is not checked for a copy of NAME, and the output says so. Only when you "
    "know NAME does not run there.",
)
LOOK_OPTIONS = (*LIBVIRT_OPTIONS, IGNORE_UNREADABLE_OPTION)


def _libvirt_view(template: str | None, timeout: float, all_nodes: bool) -> LibvirtView:
    """How the command reads each node's libvirt; BadRequest (exit 2, before the lock)
    for a connect template that cannot work."""
    from havirt.tools.errors import BadRequest, HavirtError
    from havirt.tools.records.scan import check_template

    if template:
        try:
            check_template(template)
        except HavirtError as exc:
            raise BadRequest(exc.message, exc.hint) from None
    return command_world().libvirt(template, timeout, all_nodes)


def _run(action: str, name: str, wait: float | None, run: moving.Run, look: _Look | None) -> None:
    from havirt.tools.errors import Refused
    from havirt.tools.placement.domain import Unverified, set_role

    running = action == "start"
    env = _env(run, running)
    if look is not None:
        env = env.seeing(_libvirt_view(look.template, look.timeout, look.all_nodes))
    role = "Started" if running else "Stopped"
    unreadable_ok = look is not None and look.ignore_unreadable
    try:
        report = run.locked(
            env,
            f"domain {action} {name}",
            lambda dry: set_role(
                env, name, role, wait=wait, dry_run=dry, unreadable_ok=unreadable_ok
            ),
            # no temporary constraint to remove: say what stays
            interrupted=f"{name}'s target-role stays as it is now and Pacemaker carries on "
            f"(havirt domain locate {name} shows where it runs)",
        )
    except Unverified as refused:  # the library cannot name the option that skips the check
        raise Refused(refused.message, f"{refused.hint} and pass --ignore-unreadable") from None
    run.finish(report, _role_text(report, running))


def _role_text(report: DomainReport, running: bool) -> str:
    name, role = report.guest, "Started" if running else "Stopped"
    where = f" on {', '.join(report.before)}" if report.before else ""
    if report.dry_run:
        head = f"{name}: would set target-role {role}" if report.changed else f"{name}: as is"
        if running and report.expected:
            head += f"; Pacemaker would start it on {report.expected}"
        elif report.move is not None:
            head += f"; Pacemaker would stop it{where}"
    elif running and not report.changed and report.before:
        head = f"{name}: already running{where}"
    elif not running and not report.changed and not report.before:
        head = f"{name}: already stopped"
    else:
        head = f"{name}: target-role set to {role}" if report.changed else f"{name}: meant to run"
        if report.move is None and running and report.expected:
            head += f"; Pacemaker starts it on {report.expected} (--wait follows it)"
        elif report.move is None and not running and report.before:
            head += f"; Pacemaker stops it{where} (--wait follows it)"
    lines = [head, *(f"  note: {n}" for n in report.notes)]
    if report.move is not None and not report.dry_run:
        lines.append(state_line(report.move, running))
    return "\n".join(lines)


def _role_command(action: str, doc: str, *look_options: Callable[[Any], Any]) -> click.Command:
    """`domain start` or `domain stop` (``action``), with the help text ``doc``: the two
    take the same options, start also ``look_options`` (how it reads each node's libvirt),
    and differ in the target-role they set."""

    def command(
        name: str,
        wait: float | None,
        dry_run: bool,
        wait_lock: float,
        quiet: bool,
        as_json: bool,
        **look: Any,
    ) -> None:
        run = moving.Run(wait or 0.0, wait_lock, dry_run, quiet, as_json)
        _run(action, name, wait, run, _Look(**look) if look_options else None)

    command.__doc__ = doc
    options = (
        click.argument("name"),
        WAIT_OPTION,
        *look_options,
        moving.DRY_RUN_OPTION,
        WAIT_LOCK_OPTION,
        moving.QUIET_OPTION,
        moving.JSON_OPTION,
    )
    for option in reversed(options):
        command = option(command)
    return click.command(action)(command)


domain_start = _role_command(
    "start",
    """Start guest NAME: Pacemaker starts it where its scheduler chooses.

    Sets the resource's target-role meta attribute to Started (one CIB change, as
    'pcs resource enable NAME'), after asking the scheduler (crm_simulate) where it
    would run: refused (exit 2, nothing changed) when no node has room or its
    constraints allow none, when another guest would have to stop, or when the
    cluster is in maintenance mode or without quorum. --wait follows it until it
    runs.

    A guest never runs on two nodes: before the change, every node Pacemaker has
    online is asked over libvirt, as 'havirt domain locate' asks (--connect-template,
    --timeout, --all-nodes), whether it runs NAME's domain (by name or UUID)
    outside Pacemaker. Refused when one does (stop that copy, or let Pacemaker find
    it: crm_resource --refresh --resource NAME), and when a node's libvirt cannot
    be read, unless --ignore-unreadable. Not asked when NAME already runs under
    Pacemaker and is meant to.
    """,
    *LOOK_OPTIONS,
)
domain_stop = _role_command(
    "stop",
    """Stop guest NAME (a clean shutdown by its agent) and keep it stopped.

    Sets the resource's target-role meta attribute to Stopped (one CIB change, as
    'pcs resource disable NAME'). Refused (exit 2, nothing changed) when the
    cluster is in maintenance mode or without quorum. --wait follows it until it
    runs nowhere.
    """,
)


@click.command("migrate")
@click.argument("name")
@click.argument("node")
@LIBVIRT_OPTIONS[0]  # --connect-template
@click.option(
    "--libvirt-timeout",
    type=Number(float, 0.1, 3600, unit="seconds"),
    default=TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="How long the source node's libvirt may take to answer each reading of the "
    "migration's progress (--timeout is how long the move is followed).",
)
@moving.options
def domain_migrate(
    name: str, node: str, template: str | None, libvirt_timeout: float, run: moving.Run
) -> None:
    """Live-migrate guest NAME to NODE, and follow it there.

    Pacemaker's scheduler is asked first (crm_simulate, with a temporary
    havirt-move-NAME constraint): refused with the reason (exit 2, nothing
    changed) when NODE is offline or in standby, lacks room, a rule forbids
    NAME there, or another guest would have to stop. The temporary constraint
    is removed afterwards in every case (success, failure, timeout, Ctrl-C), so
    Pacemaker may later move NAME again as its rules say (use 'havirt place
    NAME --prefer NODE' for a lasting wish).

    While crm_mon shows NAME migrating, the source node's libvirt is asked how
    far the migration is (reached as 'havirt domain locate' reaches it, or
    through --connect-template; each reading within --libvirt-timeout), and
    the progress lines say so
    ("migrating: 312 of 1024 MiB left, 69 %, 85 MiB/s"). A node whose libvirt
    cannot be read gives no numbers (and is not asked again); the move goes on.

    Like 'pcs resource move NAME NODE', without the constraint it leaves behind.
    """
    from havirt.tools.placement.domain import migrate

    env = run.env().seeing(_libvirt_view(template, libvirt_timeout, all_nodes=False))
    report = run.locked(
        env,
        f"domain migrate {name} {node}",
        lambda dry: migrate(env, name, node, timeout=run.timeout, dry_run=dry),
    )
    if not report.changed:
        lines = [f"{name}: already runs on {node}"]
    elif report.dry_run:
        lines = [f"{name} would move: {', '.join(report.before)} -> {node}"]
    else:
        lines = []
    lines += [f"  note: {n}" for n in report.notes]
    if report.move is not None and not report.dry_run:
        lines.append(moving.move_line(report.move))
        lines += moving.outcome_summary([report.move], "arrived", report.seconds)
    run.finish(report, "\n".join(lines))


@click.command("remove")
@click.argument("name")
@seconds_option(
    "--wait",
    default=REMOVE_WAIT,
    help="How long to wait for the guest to stop before its resource is deleted.",
)
@moving.DRY_RUN_OPTION
@click.option("--purge", is_flag=True, help="Also delete its definition history from the store.")
@store_options
@WAIT_LOCK_OPTION
@moving.QUIET_OPTION
@moving.JSON_OPTION
def domain_remove(
    name: str,
    wait: float,
    dry_run: bool,
    purge: bool,
    store: str | None,
    inventory: str | None,
    wait_lock: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Remove guest NAME from the cluster: stop it, then delete its resource.

    Sets target-role Stopped (as 'havirt domain stop'), waits until it runs
    nowhere (--wait), then deletes the resource and every constraint that
    names it (location, colocation, order, havirt's) in one CIB transaction.
    Its definition history stays in the store unless --purge (which needs
    --store or --inventory) deletes it, after the resource is gone. Refused
    (exit 2, nothing changed) as 'domain stop' is; exit 1 when it did not stop
    in time (then nothing is deleted and it stays stopped).
    """
    from havirt.tools.placement.removal import remove

    if (store or inventory) and not purge:
        raise click.UsageError("--store and --inventory only say where --purge deletes")
    if purge and not (store or inventory):
        raise click.UsageError("--purge needs the store's place: --store DIR or --inventory FILE")
    purger = None
    if purge:
        where = open_store(store, inventory)

        def purger(guest: str) -> int | None:
            return where.purge(guest) if guest in where.guests() else None

    run = moving.Run(wait, wait_lock, dry_run, quiet, as_json)
    env = _env(run, running=False)
    report = run.locked(
        env,
        f"domain remove {name}",
        lambda dry: remove(env, name, run.follow(dry), purge=purger),
        interrupted=f"{name} is not removed (its target-role may be Stopped now; "
        f"havirt domain locate {name} shows where it runs)",
    )
    run.finish(report, _remove_text(report, purge))


def _remove_text(report: RemoveReport, purge: bool) -> str:
    name = report.guest
    where = f" on {', '.join(report.before)}" if report.before else ""
    rules = ", ".join(report.constraints)
    if report.dry_run:
        lines = [
            f"{name}: would stop it{where}" if report.before else f"{name}: not running",
            f"{name}: would delete its resource"
            + (f" and its constraints {rules}" if rules else ""),
        ]
        if purge:
            lines.append(f"{name}: would delete its definition history from the store")
        return "\n".join([*lines, *(f"  note: {n}" for n in report.notes)])
    lines = [f"  note: {n}" for n in report.notes]
    if report.move is not None:
        lines.append(state_line(report.move, False))
    if not report.removed:
        lines.append(
            f"{name}: did not stop within the wait; its resource was not deleted "
            f"(target-role stays Stopped). Try again, with a longer --wait, once it is down"
        )
        return "\n".join(lines)
    lines.append(f"{name}: resource deleted" + (f", with its constraints {rules}" if rules else ""))
    if not purge:
        lines.append(
            f"{name}: its definition history stays in the store (havirt domain history "
            f"{name}); to add it again: havirt domain add {name} --from-store --inventory FILE"
        )
    elif report.purged is None:
        lines.append(f"{name}: the store had no history of it; nothing purged")
    else:
        lines.append(f"{name}: definition history purged ({report.purged} revisions)")
    return "\n".join(lines)


DOMAIN_COMMANDS = (domain_start, domain_stop, domain_migrate, domain_remove)
