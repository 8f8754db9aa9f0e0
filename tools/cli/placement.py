"""`havirt balance` and `havirt place`: parse and render only (havirt.tools.placement decides).

Exit codes as for `havirt node standby`: 0 done; 1 a guest did not arrive or a
tool failed; 2 refused, nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable

import click
from havirt.tools.cli import moving
from havirt.tools.cli.common import F, Number, seconds
from havirt.tools.cli.lock import WAIT_LOCK_OPTION, run_locked
from havirt.tools.cli.world import command_env
from havirt.tools.errors import BadRequest


def _share_option(name: str, default: float, help: str) -> Callable[[F], F]:
    """An option of a share of a node's capacity (0 to 1), its default shown."""
    return click.option(
        name, type=Number(float, 0, 1), default=default, show_default=True, help=help
    )


@click.command("balance")
@_share_option("--threshold", 0.15, "Spread of node loads (busiest minus idlest, 0-1) left alone.")
@_share_option(
    "--min-gain", 0.02, "Least cut of the imbalance (std. deviation of loads) a move must bring."
)
@click.option(
    "--max-moves",
    type=Number(int, 1, 1000),
    default=5,
    show_default=True,
    help="Moves per run, at most.",
)
@moving.options
def balance_command(threshold: float, min_gain: float, max_moves: int, run: moving.Run) -> None:
    """Even out the nodes' load by live-migrating a few guests.

    A node's load is its busiest utilization dimension (cpu, hv_memory) as a
    share of its capacity, from the CIB. The plan is checked with Pacemaker's
    scheduler (crm_simulate) before anything moves: it must stop or restart no
    guest, move no other guest, and hold once its temporary constraints
    (havirt-move-GUEST, with a lifetime) are removed, which they always are,
    also when a move fails. Run it twice and the second run moves nothing.
    """
    from havirt.tools.placement.balance import BalancePolicy, balance

    policy = BalancePolicy(threshold=threshold, min_gain=min_gain, max_moves=max_moves)
    env = run.env()
    report = run.locked(
        env, "balance", lambda dry: balance(env, policy, dry_run=dry, timeout=run.timeout)
    )
    plan = report.plan
    loads = ", ".join(
        f"{n} {plan.loads_before[n]:.0%}->{plan.loads_after[n]:.0%}" for n in plan.loads_before
    )
    lines = [f"loads: {loads}", f"spread {plan.spread_before:.0%} -> {plan.spread_after:.0%}"]
    if not plan.moves:
        lines.append(f"nothing to move: {plan.reason}")
    else:
        verb = "would move" if run.dry_run else "moved" if report.ok else "tried to move"
        lines.append(f"{verb} ({plan.reason}):")
        lines += [moving.move_line(m) for m in report.guests]
        if not run.dry_run and report.guests:
            lines += moving.outcome_summary(report.guests, "arrived", report.seconds)
    lines += [f"  skipped {move}: {why}" for move, why in sorted(report.dropped.items())]
    run.finish(report, "\n".join(lines))


@click.command("place")
@click.argument("guest", required=False)
@click.option("--prefer", metavar="NODE", help="Run GUEST on NODE whenever NODE can.")
@click.option("--avoid", metavar="NODE", help="Never run GUEST on NODE.")
@click.option("--apart", metavar="GUEST2", help="Never run GUEST and GUEST2 on the same node.")
@click.option(
    "--score",
    metavar="SCORE",
    help="Make the wish softer: e.g. 50 for --prefer, -100 for --avoid/--apart.",
)
@click.option(
    "--clear", is_flag=True, help="Remove havirt's wishes for GUEST (or just the one given)."
)
@click.option(
    "--clear-moves",
    is_flag=True,
    help="Remove every temporary havirt-move-* constraint (left by a havirt run that was "
    "killed; refused while another havirt command holds the cluster lock).",
)
@click.option("--force", is_flag=True, help="Accept a wish even if Pacemaker must stop a guest.")
@moving.DRY_RUN_OPTION
@click.option(
    "--wait",
    "wait",
    type=seconds(),
    metavar="SECONDS",
    help="Follow the moves the wish causes, up to SECONDS.",
)
@WAIT_LOCK_OPTION
@moving.JSON_OPTION
def place_command(
    guest: str | None,
    prefer: str | None,
    avoid: str | None,
    apart: str | None,
    score: str | None,
    clear: bool,
    clear_moves: bool,
    force: bool,
    dry_run: bool,
    wait: float | None,
    wait_lock: float,
    as_json: bool,
) -> None:
    """Where GUEST may run: prefer or avoid a node, or keep it apart from GUEST2.

    Without an option, lists the location and colocation constraints naming
    GUEST. Scores default to pcs's: INFINITY for --prefer (it still fails over
    when NODE is down), -INFINITY for --avoid and --apart. Pacemaker's scheduler
    is asked first: a wish that would stop a guest is refused unless --force,
    and the moves it causes are shown.

    pcs: 'pcs constraint location GUEST prefers|avoids NODE', 'pcs constraint
    colocation add GUEST with GUEST2 -INFINITY'; crmsh: 'crm configure location'
    and 'crm configure colocation'.
    """
    import json

    from havirt.tools.placement.moves import clear_moves as clear_all_moves
    from havirt.tools.placement.place import Wish, check_score, place

    if clear_moves:
        # Under the cluster lock: a live balance or unstandby --return holds it while its
        # own havirt-move-* constraints are in place; a dead one's lock goes first.
        env = command_env()
        ids = run_locked(
            env,
            "place --clear-moves",
            lambda dry: [] if dry else clear_all_moves(env.pacemaker),
            dry_run=dry_run,
            wait=wait_lock,
            timeout=0.0,
        )
        click.echo(
            json.dumps({"removed": ids}) if as_json else f"removed: {', '.join(ids) or 'none'}"
        )
        return
    if not guest:
        raise click.UsageError("GUEST is missing (e.g. havirt place vm1 --avoid node2)")
    try:  # bad input is refused before the lock is taken
        check_score(score, bool(apart))
    except BadRequest as exc:
        raise BadRequest(f"--score: {exc.message}", exc.hint) from None
    wish = Wish(prefer=prefer, avoid=avoid, apart=apart, score=score, clear=clear)
    run = moving.Run(  # a listing changes nothing: no lock
        wait or 0.0, wait_lock, dry_run=dry_run or not wish.changes, quiet=False, as_json=as_json
    )
    env = run.env()
    report = run.locked(
        env,
        f"place {guest}",
        lambda dry: place(
            env, guest, wish, force=force, dry_run=dry if wish.changes else dry_run, wait=wait
        ),
    )
    verb = "would " if dry_run else ""
    lines = [f"{verb}add {cid}" for cid in report.added]
    lines += [f"{verb}remove {cid}" for cid in report.removed]
    lines += [
        f"  {g} {verb or 'will '}move: {src} -> {dst}"
        for g, (src, dst) in sorted(report.moves.items())
    ]
    lines.append(
        f"{guest}: " + ("no placement constraints" if not report.constraints else "constraints:")
    )
    lines += [f"  {c.describe()}" for c in report.constraints]
    lines += [moving.move_line(m) for m in report.guests]
    if report.guests:
        seconds = max(g.seconds or 0.0 for g in report.guests)
        lines += moving.outcome_summary(report.guests, "arrived", seconds)
    run.finish(report, "\n".join(lines))
