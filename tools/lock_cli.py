"""The cluster lock at the command line: ``--wait-lock``, the real world the lock needs,
and ``havirt cluster lock`` / ``havirt cluster unlock``. The rules are in
havirt.tools.cluster_lock."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from .cli_types import WEEK, Number
from .cluster_lock import (
    LOCK_MARGIN,
    ClusterLock,
    Holder,
    LockEnv,
    LockRecord,
    LockStore,
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


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class LockWorld:
    """Where the lock's environment comes from: the real machine unless the click
    context object says otherwise (tests pass one: ``invoke(..., obj=LockWorld(...))``)."""

    make: Callable[[bool], LockEnv]  # quiet -> the environment


def _lock_env(quiet: bool) -> LockEnv:
    ctx = click.get_current_context(silent=True)
    world = ctx.find_object(LockWorld) if ctx is not None else None
    return world.make(quiet) if world is not None else live_env(quiet)


def live_env(quiet: bool) -> LockEnv:
    """The lock's view of this machine: this process, the clocks, /proc."""
    from havirt.ocf.host import Host

    host = Host()
    started = host.process_started(os.getpid())

    def alive(pid: int, start: int) -> bool:
        begun = host.process_started(pid)
        return begun is not None and (not start or abs(begun - start) < 2)

    def waiting(record: LockRecord) -> None:
        if not quiet:
            now = dt.datetime.now(dt.UTC)
            click.echo(f"havirt: waiting for the cluster lock: {record.describe(now)}", err=True)

    return LockEnv(
        me=Holder("", _user(), host.node_name(), os.getpid(), int(started or 0)),
        now=lambda: dt.datetime.now(dt.UTC),
        monotonic=time.monotonic,
        sleep=time.sleep,
        alive=alive,
        new_token=lambda: uuid.uuid4().hex,
        waiting=waiting,
    )


@contextmanager
def locked(
    store: LockStore, command: str, *, wait: float, timeout: float, quiet: bool = False
) -> Iterator[ClusterLock]:
    """Hold the cluster lock around a command that moves guests; it lives for the
    command's ``timeout`` and a margin, and is released on the way out (Ctrl-C and
    SIGTERM included: see maintenance_cli.sigterm_unwinds)."""
    lock = acquire(store, command, _lock_env(quiet), ttl=timeout + LOCK_MARGIN, wait=wait)
    if lock.taken_over and not quiet:
        click.echo(f"havirt: {lock.taken_over}", err=True)
    try:
        yield lock
    finally:
        lock.release()


def run_locked(
    store: LockStore,
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
    if read_lock(store) is None:
        run(True)
    with locked(store, command, wait=wait, timeout=timeout, quiet=quiet):
        return run(False)


def _pacemaker() -> Any:
    from .pacemaker import Pacemaker

    return Pacemaker()


def lock_command_group(group: click.Group) -> None:
    """Add ``lock`` and ``unlock`` to ``havirt cluster``."""

    @group.command("lock")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
    def lock_status(as_json: bool) -> None:
        """Who holds the cluster lock of havirt's commands that move guests, if anyone.

        standby, unstandby, balance, place and maintenance take it, one at a
        time across the cluster; it is kept in the CIB (crm_config, property set
        havirt-lock) with its holder, when it was taken and when it expires.
        Exit 0 whether it is held or not.
        """
        record = read_lock(_pacemaker())
        now = dt.datetime.now(dt.UTC)
        if as_json:
            body: dict[str, Any] = {"held": record is not None}
            if record is not None:
                body |= {"holder": record.to_dict(), "expired": record.expired(now)}
            click.echo(json.dumps(body, indent=2, sort_keys=True))
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
        record = break_lock(_pacemaker())
        now = dt.datetime.now(dt.UTC)
        if as_json:
            body = {"removed": record.to_dict() if record is not None else None}
            click.echo(json.dumps(body, indent=2, sort_keys=True))
        elif record is None:
            click.echo("the cluster lock was free; nothing to remove")
        else:
            click.echo(f"removed the cluster lock: {record.describe(now)}")
