"""The iSCSI LUNs every node sees: for each iSCSI pool (``iscsi-direct``, ``iscsi``)
that more than one node defines, the same portal and target on every node, an
initiator IQN set on each (it may differ per node), the pool active everywhere, and the
same data LUNs (by number) with the same capacity and, where read, the same serial.

A node that does not see what the others see has usually not looked at the target
since it changed (``havirt node rescan NODE``), or the target's ACL does not admit its
initiator IQN.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import TypeVar

from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate import facts as F
from havirt.tools.validate.checks.context import Context, nodes_text, outliers

CHECK = "luns"
V = TypeVar("V", bound=Hashable)


def check_luns(ctx: Context) -> list[Finding]:
    pools = {
        n: {name: p for name, p in f.pools.items() if p.type in F.ISCSI_POOL_TYPES}
        for n, f in ctx.facts.items()
        if f.pools is not None
    }
    order = [n for n in ctx.order if n in pools]
    names: list[str] = []
    for node in order:
        names += [name for name in pools[node] if name not in names]
    found: list[Finding] = []
    for name in names:
        have = [n for n in order if name in pools[n]]
        if len(have) < 2:
            continue  # on one node only: the pools check says where it is missing
        per_node = {n: pools[n][name] for n in have}
        found += _presence(name, have, [n for n in order if n not in have])
        found += _sources(ctx, name, per_node)
        active = [n for n in have if per_node[n].active]
        for node in have:
            if not per_node[node].active:
                found.append(
                    _finding(
                        node,
                        name,
                        None,
                        f"pool {name} is inactive on {node}: its LUNs are not seen there",
                        f"on {node}: virsh pool-start {name}",
                        WARNING,
                    )
                )
        seen = {}
        for node in active:
            luns = ctx.facts[node].luns
            if luns is not None and name in luns:  # else unread: a problem said why
                seen[node] = luns[name]
        found += _luns(ctx, name, seen)
    return found


def _odd(ctx: Context, values: Mapping[str, V]) -> Iterator[tuple[str, V | None, list[str]]]:
    """Each node whose value is not the reference, with the reference and who has it."""
    ref, same, differ = outliers(ctx, values)
    for node in differ:
        yield node, ref, same


def _finding(
    node: str,
    pool: str,
    lun: int | None,
    message: str,
    fix: str,
    severity: str = ERROR,
    expected: object = None,
    actual: object = None,
) -> Finding:
    item = f"pool '{pool}'" + (f" LUN {lun}" if lun is not None else "")
    return Finding(
        CHECK, severity, message, fix, node=node, item=item, expected=expected, actual=actual
    )


def _presence(name: str, have: list[str], lack: list[str]) -> list[Finding]:
    return [
        _finding(
            node,
            name,
            None,
            f"iSCSI pool {name} is missing on {node}; {nodes_text(have)} "
            f"{'has' if len(have) == 1 else 'have'} it: its guests cannot run there",
            f"define it on {node} as on {have[0]} (its own initiator IQN), admit that IQN "
            f"in the target's ACL, then on {node}: virsh pool-start {name}",
            expected="present",
            actual="absent",
        )
        for node in lack
    ]


def _sources(ctx: Context, name: str, per_node: Mapping[str, F.Pool]) -> list[Finding]:
    found = []
    for label, read in (("portal", F.iscsi_portal), ("target IQN", F.iscsi_target)):
        values = {n: read(p) for n, p in per_node.items()}
        for node, ref, same in _odd(ctx, values):
            found.append(
                _finding(
                    node,
                    name,
                    None,
                    f"the {label} of pool {name} is {values[node] or 'unset'} on {node}; "
                    f"{nodes_text(same)} use {ref or 'none'}",
                    f"on {node}: virsh pool-edit {name} and make <source> name {ref} as on "
                    f"{same[0] if same else 'the others'}, then virsh pool-destroy {name}; "
                    f"virsh pool-start {name}",
                    expected=ref,
                    actual=values[node],
                )
            )
    for node, pool in per_node.items():
        if pool.type == "iscsi-direct" and not pool.initiator:
            found.append(
                _finding(
                    node,
                    name,
                    None,
                    f"pool {name} names no initiator IQN on {node}",
                    f"on {node}: virsh pool-edit {name} and add <initiator><iqn name='...'/>"
                    "</initiator> to <source> (this node's own IQN, admitted by the target)",
                )
            )
    return found


def _luns(ctx: Context, name: str, seen: Mapping[str, dict[int, F.Lun]]) -> list[Finding]:
    found: list[Finding] = []
    numbers = sorted({n for luns in seen.values() for n in luns})
    for number in numbers:
        presence = {n: number in luns for n, luns in seen.items()}
        for node, ref, same in _odd(ctx, presence):
            if ref:
                message = (
                    f"{node} does not see LUN {number} of pool {name}; "
                    f"{nodes_text(same)} {'sees' if len(same) == 1 else 'see'} it"
                )
                fix = (
                    f"havirt node rescan {node}, or check that the target's ACL admits "
                    f"{node}'s initiator IQN for that LUN"
                )
            else:
                message = (
                    f"{node} sees LUN {number} of pool {name}; {nodes_text(same)} "
                    f"{'does' if len(same) == 1 else 'do'} not"
                )
                fix = (
                    f"havirt node rescan on every node (the target changed: "
                    f"havirt node rescan --all), or check the target's ACL for {node}'s "
                    "initiator IQN"
                )
            found.append(_finding(node, name, number, message, fix, expected=ref, actual=not ref))
        have = {n: luns[number] for n, luns in seen.items() if number in luns}
        for label, values in (
            ("capacity", {n: lun.capacity for n, lun in have.items()}),
            ("serial", {n: lun.serial for n, lun in have.items() if lun.serial is not None}),
        ):
            for node, ref_value, same in _odd(ctx, values):
                found.append(
                    _finding(
                        node,
                        name,
                        number,
                        f"LUN {number} of pool {name} has {label} {values[node]} on {node}; "
                        f"{nodes_text(same)} {'sees' if len(same) == 1 else 'see'} {ref_value}",
                        f"havirt node rescan {node} (or on every node if the target changed); "
                        "if it stays, the nodes reach different LUNs: check the portal "
                        "and the target",
                        expected=ref_value,
                        actual=values[node],
                    )
                )
    return found
