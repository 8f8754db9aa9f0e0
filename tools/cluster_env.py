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
makes it, otherwise it is this machine's. The same object carries the other
boundaries havirt's commands reach (the Pacemaker adapter of the commands that
only read or push the CIB, how ``domain list`` reads its sources, how ``validate``
connects over SSH, whether a directory is writable): each one left out is this
machine's (:func:`command_world`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from havirt.tools.cluster_lock import LockEnv
    from havirt.tools.pacemaker import Pacemaker
    from havirt.tools.placement.moves import GuestMove
    from havirt.tools.records import Sources
    from havirt.tools.validate.engine import Connector

    Progress = Callable[[GuestMove], None]
    # (connect template, timeout, all nodes) -> what domain/node list show
    SourcesReader = Callable[[str | None, float, bool], Sources]
    # (known_hosts, identities, ssh_config, connect timeout) -> validate's connector
    ConnectorMaker = Callable[[Sequence[str], Sequence[str], str | None, float], Connector]


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


def _live_pacemaker() -> Pacemaker:
    from havirt.tools.pacemaker import Pacemaker

    return Pacemaker()


def _live_sources(template: str | None, timeout: float, all_nodes: bool) -> Sources:
    """Read crm_mon, the CIB and every node's libvirt: Pacemaker from the command's
    world, libvirt through the real scanner."""
    from havirt.tools import records

    return records.gather(
        command_world().pacemaker(),
        records.LibvirtScanner(),
        template=template,
        timeout=timeout,
        all_nodes=all_nodes,
    )


def _live_connector(
    known_hosts: Sequence[str],
    identities: Sequence[str],
    ssh_config: str | None,
    connect_timeout: float,
) -> Connector:
    from havirt.tools.validate import ssh  # fabric and paramiko: only when validate runs

    return ssh.make_connector(known_hosts, identities, ssh_config, connect_timeout)


def _live_writable(directory: str) -> bool:
    from havirt.tools.userinput import writable

    return writable(directory)


@dataclass(frozen=True)
class ClusterWorld:
    """Where a command's environment and boundaries come from: the click context
    object's, when it is one of these, else this machine's (see the module doc).
    Every part left out is this machine's."""

    make: Callable[[bool], ClusterEnv] | None = None  # quiet (no lock-waiting lines) -> env
    pacemaker: Callable[[], Pacemaker] = _live_pacemaker  # also that of the live env
    sources: SourcesReader = _live_sources  # domain list|locate, node list
    connector: ConnectorMaker = _live_connector  # validate's SSH
    writable: Callable[[str], bool] = _live_writable  # may an output go into this directory


def command_world() -> ClusterWorld:
    """The world of the click command running now: the one passed as the context
    object, else this machine's."""
    import click

    ctx = click.get_current_context(silent=True)
    world = ctx.find_object(ClusterWorld) if ctx is not None else None
    return world if world is not None else ClusterWorld()


def live_env(quiet: bool = False, pacemaker: Pacemaker | None = None) -> ClusterEnv:
    """This machine: the live cluster's tools (or ``pacemaker``), the real clocks, this
    process."""
    from havirt.tools.lock_cli import live_lock_env

    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    return ClusterEnv(
        pacemaker=pacemaker if pacemaker is not None else _live_pacemaker(),
        monotonic=time.monotonic,
        now=now,
        sleep=time.sleep,
        lock=live_lock_env(quiet, now),
    )


def command_env(quiet: bool = False) -> ClusterEnv:
    """The environment of the click command running now (see the module doc)."""
    world = command_world()
    return world.make(quiet) if world.make is not None else live_env(quiet, world.pacemaker())
