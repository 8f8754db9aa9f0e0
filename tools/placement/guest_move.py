"""One guest on its way, as the move watcher follows it and the commands report it.

Its own module so that the cluster commands' environment (whose progress callback
takes a :class:`GuestMove`) and the watcher (tools/placement/watch.py, which takes
that environment) do not import each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

# States of a guest being watched; the last four are final.
WAITING, MOVING, DONE, FAILED, STOPPED, TIMED_OUT = (
    "waiting",
    "moving",
    "done",
    "failed",
    "stopped",
    "timed out",
)
FINAL = (DONE, FAILED, STOPPED, TIMED_OUT)
# Details that only say which action was in flight (crm_mon's pending, lower case).
IN_FLIGHT = ("migrating", "starting", "stopping", "promoting", "demoting")

# How a guest got where it ended, judged from Pacemaker's operation history.
LIVE_MIGRATED = "live-migrated"  # migrate_to/migrate_from: it never stopped
RESTARTED = "restarted"  # stopped (or lost with its node) and started again: a cold boot
NOT_RUNNING = "stopped"  # runs nowhere when the watch ended
UNKNOWN = "unknown"  # on several nodes, or the history does not say
NOT_MOVED = "not moved"  # still runs where it ran, never stopped
HOWS = (LIVE_MIGRATED, RESTARTED, NOT_RUNNING, UNKNOWN, NOT_MOVED)

# How long `domain remove` waits for its guest to stop before deleting it (the library's
# default, here in this light module so the command line can show it without importing
# tools/placement/removal.py and its XML library).
REMOVE_WAIT = 120.0


@dataclass(frozen=True)
class Follow:
    """How a command carries out its change: with ``dry_run`` it only says what it
    would do; otherwise it follows what it started for at most ``timeout`` seconds."""

    timeout: float
    dry_run: bool = False


@dataclass
class GuestMove:
    """One guest on its way: to ``target`` (``required``), or just away from ``source``
    (a drain, where ``target`` is where the scheduler is expected to put it).

    ``target`` is the plan; ``node`` is where the cluster really runs the guest when
    the watch ended, ``how`` how it got there and ``outage`` for how long it was down."""

    guest: str
    source: str | None
    target: str | None
    required: bool = True
    state: str = WAITING
    node: str | None = None  # where it runs when watching ended (from the cluster)
    seconds: float | None = None  # from the start of the watch to its final state
    detail: str = ""
    how: str | None = None  # one of HOWS, once final
    outage: float | None = None  # seconds without a running guest; None: unknown or still down
    outage_approximate: bool = False  # a node died: its loss time is havirt's estimate
    outage_note: str = ""  # what the outage was measured from

    @property
    def arrived_ok(self) -> bool:
        """It runs where it was meant to (however it got there)."""
        return self.state == DONE

    @property
    def ok(self) -> bool:
        """Everything went as planned: it arrived by live migration, without an outage."""
        return self.state == DONE and self.how == LIVE_MIGRATED

    def arrived(self, node: str) -> bool:
        return node == self.target if self.required else node != self.source

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class GuestsFollowed:
    """What the reports of the commands that move guests and follow them (standby,
    balance, place) share: ``ok``, for their exit status."""

    guests: list[GuestMove]
    dry_run: bool

    @property
    def ok(self) -> bool:
        """A dry run, or every guest followed went as planned (see :attr:`GuestMove.ok`)."""
        return self.dry_run or all(g.ok for g in self.guests)


Progress = Callable[[GuestMove], None]
