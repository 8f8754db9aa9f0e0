"""What every check sees (:class:`Context`) and what it compares against: the
**reference**, the value most nodes have (a tie goes to the node listed first).
With a new host only the existing members vote, so the members are the reference
and the host about to join is measured against them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from havirt.tools.domains.drift import Stored
from havirt.tools.validate.facts import NodeFacts
from havirt.tools.validate.targets import Target

V = TypeVar("V", bound=Hashable)
ALL_NODES = "*"  # the node of a finding about the whole cluster


@dataclass
class CheckOptions:
    max_clock_offset: float = 1.0  # seconds between any node and the others' median
    memory_reserve_mib: int = 1024  # kept free on every node for the host itself
    migration_user: str | None = None  # user@ of qemu+ssh:// (None: the SSH login user)


@dataclass
class Context:
    """What the checks see: the nodes in order, their facts, the mode, the options."""

    targets: list[Target]
    facts: dict[str, NodeFacts]  # reachable nodes only
    new_host: str | None = None
    options: CheckOptions = field(default_factory=CheckOptions)
    login_users: dict[str, str] = field(default_factory=dict)  # node -> SSH user
    cpu_baseline: str | None = None  # <cpu> every node can run, when CPUs differ
    # guest -> its current definition in the store; None: no store to compare with
    definitions: Mapping[str, Stored] | None = None

    @property
    def order(self) -> list[str]:
        return [t.name for t in self.targets if t.name in self.facts]

    def target(self, name: str) -> Target:
        return next(t for t in self.targets if t.name == name)

    def voters(self, nodes: Sequence[str]) -> list[str]:
        """Who sets the reference: the members (not the new host) when there are any."""
        members = [n for n in nodes if n != self.new_host]
        return members or list(nodes)

    def migration_user(self, node: str) -> str:
        return self.options.migration_user or self.login_users.get(node) or "root"


def reference(ctx: Context, values: Mapping[str, V]) -> V | None:
    """The value most voting nodes have; a tie goes to the first such node in order."""
    voters = [n for n in ctx.voters(list(values)) if n in values]
    if not voters:
        return None
    counts = Counter(values[n] for n in voters)
    best = max(counts.values())
    return next(values[n] for n in voters if counts[values[n]] == best)


def outliers(ctx: Context, values: Mapping[str, V]) -> tuple[V | None, list[str], list[str]]:
    """(reference, nodes that have it, nodes that differ), nodes in order."""
    ref = reference(ctx, values)
    order = [n for n in ctx.order if n in values]
    same = [n for n in order if values[n] == ref]
    return ref, same, [n for n in order if values[n] != ref]


def nodes_text(nodes: Sequence[str]) -> str:
    return ", ".join(nodes) if nodes else "no other node"


def short(name: str) -> str:
    return name.split(".", 1)[0].lower()


def source_text(source: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in source) if source else "none"


def show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return source_text(value)
    return "none" if value is None else f"'{value}'"
