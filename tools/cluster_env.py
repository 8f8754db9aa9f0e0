"""The world havirt's cluster commands act in, passed to them, never reached for.

``node standby``/``unstandby``, ``balance``, ``place`` and ``cluster maintenance``
read and change the cluster, wait for it, tell the admin how each guest is doing
and take the cluster lock. Everything of that which is not their own logic comes
in one :class:`ClusterEnv` (after pcs's LibraryEnvironment and pve-ha-manager's
Env): the Pacemaker adapter, the clocks, sleeping, progress reporting and the
lock's environment. No library function reads the real clock or sleeps by itself,
so the same code runs on the live cluster (:func:`live_env`, built by the CLI)
and on a simulated one on a virtual clock (tests/scenarios).

The CLI finds the environment through the click context object: a
:class:`ClusterWorld` there (tests pass one: ``invoke(..., obj=ClusterWorld(...))``)
makes it, otherwise it is this machine's.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cluster_lock import LockEnv
    from .pacemaker import Pacemaker
    from .placement.moves import GuestMove

    Progress = Callable[[GuestMove], None]


def _silent(move: GuestMove) -> None:
    return None


@dataclass(frozen=True)
class ClusterEnv:
    pacemaker: Pacemaker  # the only way to the cluster (a simulated one in scenarios)
    monotonic: Callable[[], float]  # for durations and timeouts
    now: Callable[[], dt.datetime]  # UTC wall clock: constraint lifetimes, outage times
    sleep: Callable[[float], None]
    lock: LockEnv  # who this process is, for the cluster lock
    progress: Progress = _silent  # each change of a followed guest's state

    def wall(self) -> float:
        """The wall clock in epoch seconds (what Pacemaker's operation history records)."""
        return self.now().timestamp()

    def reporting(self, progress: Progress) -> ClusterEnv:
        """The same environment, reporting progress to ``progress``."""
        return replace(self, progress=progress)


@dataclass(frozen=True)
class ClusterWorld:
    """Where a command's environment comes from: the click context object's, when it
    is one of these, else this machine's (see the module doc)."""

    make: Callable[[bool], ClusterEnv]  # quiet (no lock-waiting lines) -> the environment


def live_env(quiet: bool = False) -> ClusterEnv:
    """This machine: the live cluster's tools, the real clocks, this process."""
    from .lock_cli import live_lock_env
    from .pacemaker import Pacemaker

    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    return ClusterEnv(
        pacemaker=Pacemaker(),
        monotonic=time.monotonic,
        now=now,
        sleep=time.sleep,
        lock=live_lock_env(quiet, now),
    )


def command_env(quiet: bool = False) -> ClusterEnv:
    """The environment of the click command running now (see the module doc)."""
    import click

    ctx = click.get_current_context(silent=True)
    world = ctx.find_object(ClusterWorld) if ctx is not None else None
    return world.make(quiet) if world is not None else live_env(quiet)
