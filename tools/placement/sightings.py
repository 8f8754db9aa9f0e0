"""What the move watcher sees poll by poll and keeps: where each guest was listed and
when each node was lost (:class:`Sightings`), and every operation of Pacemaker's history
since the watch began (:class:`HistoryLog`), which the CIB itself does not keep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from havirt.tools.pacemaker import (
    ClusterStatus,
    Operation,
    OperationHistory,
    PacemakerAdapter,
    PacemakerError,
)


def read_history(pm: PacemakerAdapter) -> OperationHistory | None:
    """The operation history, or None when it cannot be read (then outcomes are unknown)."""
    try:
        return pm.history()
    except PacemakerError:
        return None


def node_up(status: ClusterStatus, name: str) -> bool:
    """Whether the node is online and clean (a node crm_mon does not list counts as up)."""
    node = status.node(name)
    return node is None or (node.online and not node.unclean)


@dataclass
class Sightings:
    """What the watcher saw poll by poll (wall-clock seconds): where each guest was
    listed, the last time it ran on a node that was up, and when each node was first
    seen lost. A dead node's history is erased, so this is what dates its guests' loss."""

    first: dict[str, tuple[str, ...]] = field(default_factory=dict)  # guest -> where at first
    listed: dict[str, list[tuple[float, tuple[str, ...]]]] = field(default_factory=dict)
    last_seen: dict[tuple[str, str], float] = field(default_factory=dict)  # (guest, node)
    up: set[str] = field(default_factory=set)  # nodes seen up
    last_up: dict[str, float] = field(default_factory=dict)  # node -> last time seen up
    lost: dict[str, float] = field(default_factory=dict)  # node -> first seen down
    seen_before_loss: dict[tuple[str, str], float] = field(default_factory=dict)

    def see(self, status: ClusterStatus, guests: Sequence[str], now: float) -> None:
        for node in status.nodes:
            if node_up(status, node.name):
                self.up.add(node.name)
                self.last_up[node.name] = now
            elif node.name in self.up and node.name not in self.lost:
                self.lost[node.name] = now
                for (guest, on), at in self.last_seen.items():
                    if on == node.name:
                        self.seen_before_loss[(guest, on)] = at
        for guest in guests:
            where = status.where(guest)
            self.first.setdefault(guest, where)
            listed = self.listed.setdefault(guest, [])
            if not listed or listed[-1][1] != where:
                listed.append((now, where))
            for name in where:
                if node_up(status, name):
                    self.last_seen[(guest, name)] = now

    def listed_at(self, guest: str, when: float, *, before: bool = False) -> tuple[str, ...]:
        """Where ``guest`` was listed at ``when`` (``before``: at the poll before it)."""
        found: tuple[str, ...] = ()
        for at, where in self.listed.get(guest, []):
            if at > when or (before and at >= when):
                break
            found = where
        return found

    def there_when_lost(self, guest: str, node: str, lost: float) -> tuple[str, ...] | None:
        """Where ``guest`` was listed when ``node`` was first seen lost, if it ran there:
        in that poll, or in the poll before when the cluster had already restarted it
        elsewhere by the poll that saw the loss; None if it did not run on ``node``."""
        for where in (self.listed_at(guest, lost), self.listed_at(guest, lost, before=True)):
            if node in where:
                return where
        return None


class HistoryLog:
    """Every operation seen since ``baseline``, accumulated over several reads: the CIB
    keeps only the last operation of each kind per resource and node (a start is
    overwritten by the next stop), and fencing erases a node's history, so the
    watcher reads it whenever the cluster's view changes and keeps what it saw."""

    def __init__(self, baseline: OperationHistory | None) -> None:
        self.baseline = baseline
        self.seen: dict[tuple[str, str, str, int, int], Operation] = {}

    def add(self, history: OperationHistory | None) -> None:
        if history is None or self.baseline is None:
            return
        for op in history.since(self.baseline).operations:
            self.seen.setdefault(op.identity, op)

    @property
    def known(self) -> bool:
        return self.baseline is not None

    def of(self, resource: str) -> list[Operation]:
        """The guest's operations since the baseline, in the order they ended."""
        ops = [o for o in self.seen.values() if o.resource == resource]
        return sorted(ops, key=lambda o: (o.last_rc_change, o.node, o.call_id))
