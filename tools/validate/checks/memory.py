"""N+1 memory: if any one node fails, the others hold its running guests."""

from __future__ import annotations

from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate.checks.context import Context


def check_memory(ctx: Context) -> list[Finding]:
    memory = {n: f.memory for n, f in ctx.facts.items() if f.memory is not None}
    reserve = ctx.options.memory_reserve_mib * 1024
    found = []
    for node in [n for n in ctx.order if n in memory]:
        guests = memory[node].guests_kib
        need = memory[node].guests_total_kib
        if not guests:
            continue
        others = {n: max(0, m.available_kib - reserve) for n, m in memory.items() if n != node}
        if not others:
            found.append(
                Finding(
                    "memory",
                    WARNING,
                    f"{node} runs {len(guests)} guest(s) ({need // 1024} MiB) and no other "
                    "node could take them over",
                    "add a node to the cluster",
                    node=node,
                    item="N+1 memory",
                )
            )
            continue
        free = sum(others.values())
        biggest_name, biggest = max(guests, key=lambda g: g[1])
        if need > free:
            message = (
                f"if {node} fails, its running guests need {need // 1024} MiB but the other "
                f"nodes have {free // 1024} MiB available (after a {reserve // 1048576} GiB "
                "reserve each)"
                if reserve % 1048576 == 0
                else f"if {node} fails, its running guests need {need // 1024} MiB but the "
                f"other nodes have {free // 1024} MiB available"
            )
        elif biggest > max(others.values()):
            message = (
                f"if {node} fails, its guest {biggest_name} ({biggest // 1024} MiB) fits on "
                f"no other node (largest available: {max(others.values()) // 1024} MiB)"
            )
        else:
            continue
        found.append(
            Finding(
                "memory",
                ERROR,
                message,
                f"free memory on the other nodes, add a node, or run fewer or smaller guests "
                f"on {node}",
                node=node,
                item="N+1 memory",
                expected=need // 1024,
                actual=free // 1024,
            )
        )
    return found
