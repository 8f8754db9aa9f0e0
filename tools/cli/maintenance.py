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

from typing import TYPE_CHECKING

import click
from havirt.tools.cli import moving
from havirt.tools.cli.common import print_json, seconds_option
from havirt.tools.cli.lock import WAIT_LOCK_OPTION, lock_command_group
from havirt.tools.cli.world import command_env

if TYPE_CHECKING:
    from havirt.tools.placement.standby import StandbyReport


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
    lines += [moving.move_line(m) for m in report.guests]
    lines += [f"  note: {n.message}" for n in report.notes]
    if not dry_run and report.guests:
        verb = f"left {report.node}" if verb == "standby" else "arrived"
        lines += moving.outcome_summary(report.guests, verb, report.seconds)
    return "\n".join(lines)


@click.group("node")
def node_group() -> None:
    """Cluster nodes: list them, drain them for maintenance, bring them back."""


@node_group.command("standby")
@click.argument("node")
@click.option(
    "--force", is_flag=True, help="Go to standby even if some guests must stop (no room)."
)
@moving.options
def standby_command(node: str, force: bool, run: moving.Run) -> None:
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

    env = run.env()
    try:
        report = run.locked(
            env,
            f"node standby {node}",
            lambda dry: standby(env, node, run.follow(dry), force=force),
        )
    except Forcible as refused:  # the library cannot name the option that forces it
        hint = f"{refused.hint}, or pass --force to {refused.forcing}"
        raise Refused(refused.message, hint) from None
    run.finish(report, _standby_text(report, "standby", run.dry_run))


@node_group.command("unstandby")
@click.argument("node")
@click.option(
    "--return",
    "return_guests",
    is_flag=True,
    help="Move the guests the last standby took off NODE back to it.",
)
@moving.options
def unstandby_command(node: str, return_guests: bool, run: moving.Run) -> None:
    """Take NODE out of standby; with --return, bring its guests back.

    Without --return the guests stay where they are (stickiness), and the record
    of where they came from is dropped. With --return each recorded guest is
    live-migrated back with a temporary constraint that is removed afterwards in
    every case (a failed move, a timeout, Ctrl-C). Guests Pacemaker would not put
    back (no room, constraints) are skipped with the reason.
    """
    from havirt.tools.placement.standby import unstandby

    env = run.env()
    command = f"node unstandby {node}" + (" --return" if return_guests else "")
    report = run.locked(
        env,
        command,
        lambda dry: unstandby(env, node, run.follow(dry), return_guests=return_guests),
    )
    text = _standby_text(report, "unstandby", run.dry_run)
    text += "".join(f"\n  {g}: not returned, {why}" for g, why in sorted(report.skipped.items()))
    if report.forgotten:
        text += (
            f"\n  the guests drained from {node} stay where they are: "
            f"{', '.join(report.forgotten)} (use --return to move them back)"
        )
    run.finish(report, text)


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
@moving.DRY_RUN_OPTION
@seconds_option("--timeout", default=120.0, help="For the probes.")
@WAIT_LOCK_OPTION
@moving.JSON_OPTION
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
    run = moving.Run(timeout, wait_lock, dry_run, quiet=False, as_json=as_json)
    report = run.locked(
        env,
        command,
        lambda dry: maintenance(env, state == "on", run.follow(dry), refresh=not no_refresh),
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
