"""The cluster lock at the command line: ``--wait-lock``, the real world the lock needs,
and ``havirt cluster lock`` / ``havirt cluster unlock``. The rules are in
havirt.tools.cluster.lock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from havirt.tools.cli.common import WEEK, Number, print_json
from havirt.tools.cli.world import command_env
from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.cluster.lock import (
    LOCK_MARGIN,
    ClusterLock,
    acquire,
    break_lock,
    read_lock,
)

R = TypeVar("R")

WAIT_LOCK_OPTION = click.option(
    "--wait-lock",
    type=Number(float, 0, WEEK, unit="seconds"),
    default=0.0,
    metavar="SECONDS",
    help="When another havirt command holds the cluster lock, wait this long for it "
    "(default: refuse at once, exit 2).",
)


@contextmanager
def locked(
    env: ClusterEnv, command: str, *, wait: float, timeout: float, quiet: bool = False
) -> Iterator[ClusterLock]:
    """Hold the cluster lock around a command that moves guests; it lives for the
    command's ``timeout`` and a margin, and is released on the way out (Ctrl-C and
    SIGTERM included: see moving.sigterm_unwinds)."""
    lock = acquire(env.pacemaker, command, env.lock, ttl=timeout + LOCK_MARGIN, wait=wait)
    if lock.taken_over and not quiet:
        click.echo(f"havirt: {lock.taken_over}", err=True)
    try:
        yield lock
    finally:
        lock.release()


def run_locked(
    env: ClusterEnv,
    command: str,
    run: Callable[[bool], R],
    *,
    dry_run: bool,
    wait: float,
    timeout: float,
    quiet: bool = False,
) -> R:
    """``run(dry_run)`` a command that changes the cluster, under the cluster lock.

    Checked first without the lock, as a dry run, when nobody holds it: a refusal (no
    room, an unknown node) then leaves the CIB untouched, not even a lock taken and
    given back. Then, under the lock, the command reads the cluster anew, checks again
    and acts: what it found before taking the lock may have changed while it waited.
    A dry run changes nothing and takes no lock."""
    if dry_run:
        return run(True)
    if read_lock(env.pacemaker) is None:
        run(True)
    with locked(env, command, wait=wait, timeout=timeout, quiet=quiet):
        return run(False)


def lock_command_group(group: click.Group) -> None:
    """Add ``lock`` and ``unlock`` to ``havirt cluster``."""

    @group.command("lock")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
    def lock_status(as_json: bool) -> None:
        """Who holds the cluster lock of havirt's commands that move guests, if anyone.

        standby, unstandby, balance, place, domain start|stop|migrate and
        maintenance take it, one at a time across the cluster; it is kept in
        the CIB (crm_config, property set havirt-lock) with its holder, when it
        was taken and when it expires.
        Exit 0 whether it is held or not.
        """
        env = command_env()
        record = read_lock(env.pacemaker)
        now = env.now()
        if as_json:
            body: dict[str, Any] = {"held": record is not None}
            if record is not None:
                body |= {"holder": record.to_dict(), "expired": record.expired(now)}
            print_json(body)
        elif record is None:
            click.echo("the cluster lock is free")
        else:
            click.echo(f"the cluster lock is held: {record.describe(now)}")

    @group.command("unlock")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
    def unlock(as_json: bool) -> None:
        """Remove the cluster lock whoever holds it.

        For a lock whose command is gone (killed with SIGKILL, its node
        crashed) and that has not expired yet. If that command still runs, the
        next admin's command may race it: check with 'havirt cluster lock' first.
        """
        env = command_env()
        record = break_lock(env.pacemaker)
        now = env.now()
        if as_json:
            body = {"removed": record.to_dict() if record is not None else None}
            print_json(body)
        elif record is None:
            click.echo("the cluster lock was free; nothing to remove")
        else:
            click.echo(f"removed the cluster lock: {record.describe(now)}")
