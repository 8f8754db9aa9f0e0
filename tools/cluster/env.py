"""The world havirt's cluster commands act in, passed to them, never reached for.

``node standby``/``unstandby``, ``balance``, ``place`` and ``cluster maintenance``
read and change the cluster, wait for it, tell the admin how each guest is doing
and take the cluster lock. Everything of that which is not their own logic comes
in one :class:`ClusterEnv` (after pcs's LibraryEnvironment and pve-ha-manager's
Env): the Pacemaker adapter, the clocks, sleeping, progress reporting, the
lock's environment and, for ``domain start`` and ``domain migrate``, what each node's
libvirt runs and how far a live migration is (:class:`LibvirtView`). No library function
reads the real clock or sleeps by itself, so the same code runs on the live cluster
(:func:`live_env`, built by the CLI) and on a simulated one on a virtual clock
(tests/scenarios).

The command layer builds it (tools/cli/world.py: this machine's, or the one a test
hands in through the click context object).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from havirt.tools.cluster.lock import LockEnv
    from havirt.tools.pacemaker import ClusterStatus, PacemakerAdapter
    from havirt.tools.pacemaker.cib import CibConfig, Primitive
    from havirt.tools.placement.guest_move import GuestMove
    from havirt.tools.records import GuestIdentity, NodeScan
    from havirt.tools.records.scan import MigrationJob

    Progress = Callable[[GuestMove], None]


def _silent(move: GuestMove) -> None:
    return None


class LibvirtView(Protocol):
    """What each node's libvirt runs, read outside Pacemaker: the real one is
    tools/records' ``NodesLibvirt`` (over the network, as ``havirt domain locate``
    reads it); tests hand in a fake."""

    def domains(self, status: ClusterStatus, config: CibConfig) -> Mapping[str, NodeScan]:
        """Node name -> what its libvirt lists: its domains (name, UUID, state), or
        ``error`` when it could not be read, or ``asked`` False when it was not asked.
        A node missing from the answer is known to run nothing."""
        ...

    def identity(self, primitive: Primitive) -> GuestIdentity:
        """The libvirt domain a guest resource runs (its config file's name and UUID)."""
        ...

    def job(
        self, status: ClusterStatus, config: CibConfig, node: str, domain: str
    ) -> MigrationJob | None:
        """The job (a live migration's progress) ``domain`` runs on ``node``'s libvirt;
        None when it runs none, or the node cannot be read. Never raises."""
        ...


class NoneKnown:
    """The default view: no node's libvirt is known to run anything (the commands that
    do not look, and the simulated cluster of tests/scenarios unless it says)."""

    def domains(self, status: ClusterStatus, config: CibConfig) -> Mapping[str, NodeScan]:
        return {}

    def identity(self, primitive: Primitive) -> GuestIdentity:
        from havirt.tools.records import GuestIdentity

        return GuestIdentity(primitive.id, primitive.id)

    def job(
        self, status: ClusterStatus, config: CibConfig, node: str, domain: str
    ) -> MigrationJob | None:
        return None


NONE_KNOWN = NoneKnown()


@dataclass(frozen=True)
class ClusterEnv:
    pacemaker: PacemakerAdapter  # the only way to the cluster (a simulated one in scenarios)
    monotonic: Callable[[], float]  # for durations and timeouts
    now: Callable[[], dt.datetime]  # UTC wall clock: constraint lifetimes, outage times
    sleep: Callable[[float], None]
    lock: LockEnv  # who this process is, for the cluster lock
    progress: Progress = _silent  # each change of a followed guest's state
    libvirt: LibvirtView = NONE_KNOWN  # what each node's libvirt runs (domain start, migrate)

    def wall(self) -> float:
        """The wall clock in epoch seconds (what Pacemaker's operation history records)."""
        return self.now().timestamp()

    def reporting(self, progress: Progress) -> ClusterEnv:
        """The same environment, reporting progress to ``progress``."""
        return replace(self, progress=progress)

    def seeing(self, libvirt: LibvirtView) -> ClusterEnv:
        """The same environment, reading each node's libvirt through ``libvirt``."""
        return replace(self, libvirt=libvirt)
