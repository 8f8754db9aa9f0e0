"""The world havirt's cluster commands act in, passed to them, never reached for.

``node standby``/``unstandby``, ``balance``, ``place`` and ``cluster maintenance``
read and change the cluster, wait for it, tell the admin how each guest is doing
and take the cluster lock. Everything of that which is not their own logic comes
in one :class:`ClusterEnv` (after pcs's LibraryEnvironment and pve-ha-manager's
Env): the Pacemaker adapter, the clocks, sleeping, progress reporting and the
lock's environment. No library function reads the real clock or sleeps by itself,
so the same code runs on the live cluster (:func:`live_env`, built by the CLI)
and on a simulated one on a virtual clock (tests/scenarios).

The command layer builds it (tools/cli/world.py: this machine's, or the one a test
hands in through the click context object).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from havirt.tools.cluster.lock import LockEnv
    from havirt.tools.pacemaker import PacemakerAdapter
    from havirt.tools.placement.guest_move import GuestMove

    Progress = Callable[[GuestMove], None]


def _silent(move: GuestMove) -> None:
    return None


@dataclass(frozen=True)
class ClusterEnv:
    pacemaker: PacemakerAdapter  # the only way to the cluster (a simulated one in scenarios)
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
