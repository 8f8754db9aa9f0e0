"""What the commands that move guests share: their options, how they run (under the
cluster lock, SIGTERM unwinding like Ctrl-C), and how they show a guest's move and the
result. Used as a module: ``moving.options``, ``moving.move_line``, ``moving.finish``.

Exit codes (:func:`finish`): 0 done, every guest live-migrated; 1 not everything went as
planned (a guest did not arrive, was restarted instead of live-migrated, stopped, or its
end is unknown) or a tool failed; 2 refused, nothing changed.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click
from havirt.tools.cli.common import print_json, seconds_option
from havirt.tools.cli.lock import WAIT_LOCK_OPTION, run_locked
from havirt.tools.cli.world import command_env
from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.placement.guest_move import Follow

if TYPE_CHECKING:
    from havirt.tools.placement.guest_move import GuestMove

R = TypeVar("R")

# What Ctrl-C or SIGTERM leaves of a command that moves guests (see sigterm_unwinds).
UNWOUND = "temporary constraints were removed"

TIMEOUT_OPTION = seconds_option(
    "--timeout", default=300.0, help="How long to wait for the guests to arrive."
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
QUIET_OPTION = click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
DRY_RUN_OPTION = click.option(
    "--dry-run",
    is_flag=True,
    help="Say what would happen (Pacemaker's own prediction); change nothing.",
)
_RUN_OPTIONS = (TIMEOUT_OPTION, WAIT_LOCK_OPTION, DRY_RUN_OPTION, QUIET_OPTION, JSON_OPTION)


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
def sigterm_unwinds(interrupted: str = UNWOUND) -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so temporary constraints are removed on the way out;
    then ``havirt: interrupted; INTERRUPTED`` on stderr and exit 130."""

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Python lets only the main thread handle signals (a command run in another
    # thread, as the scenario tests do, gets none to handle).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, raise_interrupt) if main else None
    try:
        yield
    except KeyboardInterrupt:
        click.echo(f"havirt: interrupted; {interrupted}", err=True)
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


def progress_env(quiet: bool) -> ClusterEnv:
    """The command's environment, its progress lines on stderr unless ``quiet``."""
    return command_env().reporting(progress_printer(quiet))


@dataclass(frozen=True)
class Run:
    """How a command that changes the cluster was asked to run: the options every command
    that moves guests takes (:func:`options` hands them over as one of these)."""

    timeout: float  # how long to follow the guests; the lock lives that long and a margin
    wait_lock: float
    dry_run: bool
    quiet: bool
    as_json: bool

    def env(self) -> ClusterEnv:
        """The command's environment, its progress lines on stderr unless --quiet or --json."""
        return progress_env(self.quiet or self.as_json)

    def locked(
        self,
        env: ClusterEnv,
        command: str,
        act: Callable[[bool], R],
        interrupted: str = UNWOUND,
    ) -> R:
        """``act(dry_run)`` under the cluster lock (none for a dry run), SIGTERM unwinding
        like Ctrl-C (see :func:`sigterm_unwinds`)."""
        with sigterm_unwinds(interrupted):
            return run_locked(
                env, command, act, dry_run=self.dry_run, wait=self.wait_lock, timeout=self.timeout
            )

    def follow(self, dry_run: bool) -> Follow:
        """How the library carries out this run's change (``dry_run``: as run_locked says)."""
        return Follow(self.timeout, dry_run)

    def finish(self, report: Any, human: str) -> None:
        """Print the result, as JSON with --json (see :func:`finish`)."""
        finish(report, self.as_json, human)


def options(command: Callable[..., None]) -> Callable[..., None]:
    """--timeout, --wait-lock, --dry-run, --quiet and --json: the options of every command
    that moves guests, handed to it as one ``run`` (a :class:`Run`)."""

    @functools.wraps(command)
    def gathered(
        *, timeout: float, wait_lock: float, dry_run: bool, quiet: bool, as_json: bool, **rest: Any
    ) -> None:
        command(run=Run(timeout, wait_lock, dry_run, quiet, as_json), **rest)

    decorated: Callable[..., None] = gathered
    for option in reversed(_RUN_OPTIONS):
        decorated = option(decorated)
    return decorated
