"""The libvirt objects every node must define alike: networks and storage pools
(presence, then each property), each difference with the virsh commands that fix it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate.checks.context import Context, nodes_text, outliers, show, source_text

Fix = Callable[[str, str, Any], str]  # (node, object name, reference value) -> the fix


@dataclass(frozen=True)
class Field:
    """One compared property of a network or pool, and how to fix a difference."""

    attr: str
    label: str
    fix: Fix


def _edited(kind: str, change: Callable[[Any], str]) -> Fix:
    """The fix of a property ``virsh KIND-edit`` changes: the edit, then a restart of the
    object, without which the change does not take effect."""
    return lambda node, name, ref: (
        f"on {node}: virsh {kind}-edit {name}{change(ref)}, "
        f"then virsh {kind}-destroy {name}; virsh {kind}-start {name}"
    )


def _states(kind: str) -> tuple[Field, ...]:
    """Whether the object runs, and whether it starts with libvirt: the same on each node."""
    return (
        Field("active", "active", lambda n, name, ref: _activate(kind, n, name, ref)),
        Field("autostart", "autostart", lambda n, name, ref: _autostart(kind, n, name, ref)),
    )


def _net_fields() -> tuple[Field, ...]:
    return (
        Field("bridge", "bridge", _edited("net", lambda ref: f", set <bridge name='{ref}'/>")),
        Field(
            "forward",
            "forward mode",
            lambda n, name, ref: (
                f"on {n}: virsh net-edit {name} and set "
                + ("no <forward> element" if ref == "isolated" else f"<forward mode='{ref}'/>")
            ),
        ),
        *_states("net"),
    )


def _pool_fields() -> tuple[Field, ...]:
    return (
        Field(
            "type",
            "type",
            lambda n, name, ref: (
                f"on {n}: redefine pool {name} as type '{ref}' "
                "(virsh pool-dumpxml on a node that has it right, then virsh pool-define)"
            ),
        ),
        Field(
            "source",
            "source",
            _edited(
                "pool", lambda ref: f" and make <source> ({source_text(ref)}) as on the others"
            ),
        ),
        Field(
            "target",
            "target path",
            _edited(
                "pool",
                lambda ref: (
                    f" and set <target><path>{ref}</path></target> (guests' disk paths must be "
                    "the same on every node)"
                ),
            ),
        ),
        *_states("pool"),
    )


def _activate(kind: str, node: str, name: str, ref: bool) -> str:
    if ref:
        return f"on {node}: virsh {kind}-start {name}"
    return f"on {node}: virsh {kind}-destroy {name} (or start it on every node)"


def _autostart(kind: str, node: str, name: str, ref: bool) -> str:
    if ref:
        return f"on {node}: virsh {kind}-autostart {name}"
    return f"on {node}: virsh {kind}-autostart --disable {name} (or enable it everywhere)"


def compare_objects(
    ctx: Context,
    check: str,
    kind: str,
    verbs: str,
    per_node: Mapping[str, Mapping[str, Any]],
    fields: Sequence[Field],
) -> list[Finding]:
    """Compare named libvirt objects (networks, pools): presence, then each field."""
    found: list[Finding] = []
    order = [n for n in ctx.order if n in per_node]
    names: list[str] = []
    for node in order:
        names += [name for name in per_node[node] if name not in names]
    for name in names:
        item = f"{kind} '{name}'"
        presence = {n: name in per_node[n] for n in order}
        ref, _, odd = outliers(ctx, presence)
        voters = ctx.voters(order)
        if sum(presence[n] for n in voters) * 2 == len(voters):
            ref, odd = True, [n for n in order if not presence[n]]  # a tie: it is missing
        have = [n for n in order if presence[n]]
        lack = [n for n in order if not presence[n]]
        if ref is False and have:  # only a minority (or only the new host) has it
            for node in odd:
                severity = WARNING if node == ctx.new_host else ERROR
                found.append(
                    Finding(
                        check,
                        severity,
                        f"defined on {node} only, not on {nodes_text(lack)}",
                        f"define it on the other nodes too (from {node}: virsh {verbs}-dumpxml "
                        f"{name} > {name}.xml, then on each: virsh {verbs}-define {name}.xml), or "
                        f"remove it from {node}: virsh {verbs}-destroy {name}; "
                        f"virsh {verbs}-undefine {name}",
                        node=node,
                        item=item,
                        expected="absent",
                        actual="present",
                    )
                )
        else:
            for node in lack:
                source = have[0]
                found.append(
                    Finding(
                        check,
                        ERROR,
                        f"missing on {node}; defined on {nodes_text(have)}",
                        f"copy it from {source}: (on {source}) virsh {verbs}-dumpxml {name} > "
                        f"{name}.xml; (on {node}) virsh {verbs}-define {name}.xml; "
                        f"virsh {verbs}-start {name}; virsh {verbs}-autostart {name}",
                        node=node,
                        item=item,
                        expected="present",
                        actual="absent",
                    )
                )
        for spec in fields:
            values = {n: getattr(per_node[n][name], spec.attr) for n in have}
            ref_value, same, differ = outliers(ctx, values)
            for node in differ:
                found.append(
                    Finding(
                        check,
                        ERROR,
                        f"{spec.label} is {show(values[node])} on {node}; "
                        f"{nodes_text(same)} {'has' if len(same) == 1 else 'have'} "
                        f"{show(ref_value)}",
                        spec.fix(node, name, ref_value),
                        node=node,
                        item=item,
                        expected=_jsonable(ref_value),
                        actual=_jsonable(values[node]),
                    )
                )
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return dict(value)
    if isinstance(value, frozenset | set):
        return sorted(value)
    return value


def check_networks(ctx: Context) -> list[Finding]:
    per_node = {n: f.networks for n, f in ctx.facts.items() if f.networks is not None}
    return compare_objects(ctx, "networks", "network", "net", per_node, _net_fields())


def check_pools(ctx: Context) -> list[Finding]:
    per_node = {n: f.pools for n, f in ctx.facts.items() if f.pools is not None}
    return compare_objects(ctx, "pools", "pool", "pool", per_node, _pool_fields())
