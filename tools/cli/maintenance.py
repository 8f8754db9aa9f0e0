"""`havirt node standby|unstandby` and `havirt cluster maintenance`: parse and render only.

The decisions are in havirt.tools.maintenance (imported inside the commands, so
`havirt --help` stays fast); progress lines go to stderr as each guest's state
changes, the result to stdout (or JSON with --json).

Exit codes: 0 done, every guest live-migrated; 1 not everything went as planned
(a guest did not arrive, was restarted instead of live-migrated, stopped, or its
end is unknown) or a tool failed; 2 refused, nothing changed (unknown node, no
room, no quorum, another havirt command holds the cluster lock, ...).

Every command here that changes the cluster holds the cluster lock while it
checks and acts (havirt.tools.cluster.lock); --dry-run takes no lock.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from havirt.tools.cli.common import print_json, seconds
from havirt.tools.cli.lock import WAIT_LOCK_OPTION, lock_command_group, run_locked
from havirt.tools.cli.world import command_env
from havirt.tools.cluster.env import ClusterEnv

if TYPE_CHECKING:
    from havirt.tools.placement.guest_move import GuestMove
    from havirt.tools.placement.standby import StandbyReport

TIMEOUT_OPTION = click.option(
    "--timeout",
    type=seconds(),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the guests to arrive.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
QUIET_OPTION = click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
DRY_RUN_OPTION = click.option(
    "--dry-run",
    is_flag=True,
    help="Say what would happen (Pacemaker's own prediction); change nothing.",
)


def moving_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--timeout, --wait-lock, --dry-run, --quiet and --json: the options of every command
    that moves guests."""
    options = (TIMEOUT_OPTION, WAIT_LOCK_OPTION, DRY_RUN_OPTION, QUIET_OPTION, JSON_OPTION)
    for option in reversed(options):
        command = option(command)
    return command


def how_text(move: GuestMove) -> str:
    """How it got there and how long it was down: ``restarted, outage ~5.3 s (...)``."""
    if move.how is None:
        return ""
    if move.how == "restarted":
        if move.outage is None:
            text = f"restarted, outage unknown ({move.outage_note})"
        else:
            approx = "~" if move.outage_approximate else ""
            text = f"restarted, outage {approx}{move.outage:.1f} s"
            text += f" (approximate: {move.outage_note})" if move.outage_approximate else ""
        return text
    if move.how == "live-migrated":
        return "live-migrated, no outage"
    if move.how == "stopped":
        return "still down" if move.state == "stopped" else "stopped, still down"
    if move.how == "unknown":
        return f"how unknown ({move.outage_note})" if move.outage_note else "how unknown"
    return move.how


def move_line(move: GuestMove) -> str:
    """One guest's state: ``vm1   node1 -> node2   done: live-migrated, no outage (1.1 s)``.

    Once final, the route names where the cluster really runs the guest (``-``: nowhere,
    ``?``: several nodes), never the plan; a plan that was not followed is said."""
    final = move.state in ("done", "failed", "stopped", "timed out")
    if final:
        target = move.node or ("-" if move.how == "stopped" else "?")
    else:
        target = move.target or move.node or "?"
    route = f"{move.source or '-'} -> {target}"
    troubled = move.state != "done" or move.how not in (None, "live-migrated")
    color = {"done": "green"}.get(move.state, "red") if final else None
    if final and move.state == "done" and troubled:
        color = "yellow"
    outcome = how_text(move) if final else ""
    state = click.style(move.state, fg=color) if color else move.state
    state += f": {outcome}" if outcome else ""
    extra = [f"{move.seconds:.1f} s"] if move.seconds is not None else []
    if final and move.target and move.node and move.target != move.node:
        extra.append(f"planned {move.target}")
    extra += [move.detail] if move.detail else []
    return f"  {move.guest:<14} {route:<22} {state}" + (f" ({'; '.join(extra)})" if extra else "")


def outcome_summary(guests: list[GuestMove], verb: str, seconds: float) -> list[str]:
    """``3 of 3 guests arrived in 9.1 s: 2 live-migrated, 1 restarted``, and when not
    everything went as planned, a line that says which guests and why."""
    arrived = sum(g.arrived_ok for g in guests)
    counts: dict[str, int] = {}
    for g in guests:
        counts[g.how or g.state] = counts.get(g.how or g.state, 0) + 1
    how = ", ".join(f"{n} {what}" for what, n in counts.items())
    lines = [f"{arrived} of {len(guests)} guests {verb} in {seconds:.1f} s: {how}"]
    troubled = [g for g in guests if not g.ok]
    if troubled:
        listed = ", ".join(f"{g.guest} {g.how or g.state}" for g in troubled)
        lines.append(f"not everything went as planned: {listed}")
    return lines


def progress_printer(quiet: bool) -> Callable[[GuestMove], None]:
    def show(move: GuestMove) -> None:
        if not quiet:
            click.echo(move_line(move), err=True)

    return show


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so temporary constraints are removed on the way out."""

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Python lets only the main thread handle signals (a command run in another
    # thread, as the scenario tests do, gets none to handle).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, raise_interrupt) if main else None
    try:
        yield
    except KeyboardInterrupt:
        click.echo("havirt: interrupted; temporary constraints were removed", err=True)
        sys.exit(130)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def finish(report: Any, as_json: bool, human: str) -> None:
    """Print the result; exit 1 when not everything went as planned: a guest did not
    arrive, or was restarted instead of live-migrated, or stopped, or its end is unknown."""
    if as_json:
        print_json(report.to_dict())
    else:
        click.echo(human)
    if not report.ok:
        sys.exit(1)


def moving_env(quiet: bool) -> ClusterEnv:
    """The command's environment, its progress lines on stderr unless ``quiet``."""
    return command_env().reporting(progress_printer(quiet))


def _standby_text(report: StandbyReport, verb: str, dry_run: bool) -> str:
    lines = []
    if dry_run:
        lines.append(
            f"{report.node}: {verb} would move:"
            if report.guests
            else f"{report.node}: nothing to move"
        )
    elif not report.changed:
        lines.append(f"{report.node}: already {'in standby' if verb == 'standby' else 'active'}")
    else:
        lines.append(f"{report.node}: {verb} set")
    lines += [move_line(m) for m in report.guests]
    lines += [f"  note: {n.message}" for n in report.notes]
    if not dry_run and report.guests:
        verb = f"left {report.node}" if verb == "standby" else "arrived"
        lines += outcome_summary(report.guests, verb, report.seconds)
    return "\n".join(lines)


@click.group("node")
def node_group() -> None:
    """Cluster nodes: list them, drain them for maintenance, bring them back."""


@node_group.command("standby")
@click.argument("node")
@click.option(
    "--force", is_flag=True, help="Go to standby even if some guests must stop (no room)."
)
@moving_options
def standby_command(
    node: str,
    timeout: float,
    wait_lock: float,
    force: bool,
    dry_run: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Put NODE in standby: its guests live-migrate away, each one followed.

    Refuses (exit 2, nothing changed) when Pacemaker, asked beforehand with
    crm_simulate, would have to stop a guest for want of room or of an allowed
    node, and says what each stranded guest needs and what the other nodes have
    free. The guests that ran on NODE are remembered in the CIB (node attribute
    havirt-drained-guests) for 'havirt node unstandby --return'.

    Like 'pcs node standby NODE --wait' (crmsh: 'crm node standby NODE'), plus
    the check, the progress and the memory of where the guests came from.
    """
    from havirt.tools.errors import Refused
    from havirt.tools.placement.standby import Forcible, standby

    env = moving_env(quiet or as_json)
    with sigterm_unwinds():
        try:
            report = run_locked(
                env,
                f"node standby {node}",
                lambda dry: standby(env, node, timeout=timeout, force=force, dry_run=dry),
                dry_run=dry_run,
                wait=wait_lock,
                timeout=timeout,
            )
        except Forcible as refused:  # the library cannot name the option that forces it
            hint = f"{refused.hint}, or pass --force to {refused.forcing}"
            raise Refused(refused.message, hint) from None
    finish(report, as_json, _standby_text(report, "standby", dry_run))


@node_group.command("unstandby")
@click.argument("node")
@click.option(
    "--return",
    "return_guests",
    is_flag=True,
    help="Move the guests the last standby took off NODE back to it.",
)
@moving_options
def unstandby_command(
    node: str,
    return_guests: bool,
    timeout: float,
    wait_lock: float,
    dry_run: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Take NODE out of standby; with --return, bring its guests back.

    Without --return the guests stay where they are (stickiness), and the record
    of where they came from is dropped. With --return each recorded guest is
    live-migrated back with a temporary constraint that is removed afterwards in
    every case (a failed move, a timeout, Ctrl-C). Guests Pacemaker would not put
    back (no room, constraints) are skipped with the reason.
    """
    from havirt.tools.placement.standby import unstandby

    env = moving_env(quiet or as_json)
    command = f"node unstandby {node}" + (" --return" if return_guests else "")
    with sigterm_unwinds():
        report = run_locked(
            env,
            command,
            lambda dry: unstandby(
                env, node, return_guests=return_guests, timeout=timeout, dry_run=dry
            ),
            dry_run=dry_run,
            wait=wait_lock,
            timeout=timeout,
        )
    text = _standby_text(report, "unstandby", dry_run)
    text += "".join(f"\n  {g}: not returned, {why}" for g, why in sorted(report.skipped.items()))
    if report.forgotten:
        text += (
            f"\n  the guests drained from {node} stay where they are: "
            f"{', '.join(report.forgotten)} (use --return to move them back)"
        )
    finish(report, as_json, text)


@click.group("cluster")
def cluster_group() -> None:
    """The whole cluster: maintenance mode, the lock of havirt's commands."""


lock_command_group(cluster_group)


@cluster_group.command("maintenance")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option(
    "--no-refresh",
    is_flag=True,
    help="Leave maintenance without re-probing the resources first (not recommended).",
)
@DRY_RUN_OPTION
@click.option(
    "--timeout",
    type=seconds(),
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="For the probes.",
)
@WAIT_LOCK_OPTION
@JSON_OPTION
def maintenance_command(
    state: str, no_refresh: bool, dry_run: bool, timeout: float, wait_lock: float, as_json: bool
) -> None:
    """Turn the cluster's maintenance mode on or off.

    on: Pacemaker stops starting, stopping and monitoring anything; work on the
    guests by hand. off: every resource is re-probed first (crm_resource
    --refresh) so Pacemaker knows what really runs where, then the scheduler's
    plan for leaving maintenance is shown, and maintenance-mode is set to false.

    Like 'pcs property set maintenance-mode=true|false' (crmsh: 'crm
    maintenance on|off'), with the re-probe before leaving.
    """
    from havirt.tools.placement.maintenance import maintenance

    env = command_env()
    command = f"cluster maintenance {state}"
    with sigterm_unwinds():
        report = run_locked(
            env,
            command,
            lambda dry: maintenance(
                env, state == "on", refresh=not no_refresh, dry_run=dry, timeout=timeout
            ),
            dry_run=dry_run,
            wait=wait_lock,
            timeout=timeout,
        )
    if as_json:
        print_json(report.to_dict())
        return
    if not report.changed:
        click.echo(f"maintenance mode is already {state}")
        return
    verb = "would be" if dry_run else "is now"
    lines = [f"maintenance mode {verb} {state}"]
    if report.refreshed:
        lines.append("  every resource was re-probed first")
    if state == "off":
        lines += [f"  the cluster {'would' if dry_run else 'will'}: {a}" for a in report.actions]
        if not report.actions:
            lines.append("  the cluster has nothing to do: every guest is where Pacemaker expects")
    click.echo("\n".join(lines))
