"""Host names: each node calls itself by its name, and every node resolves every
node's name to the same addresses, none of them loopback."""

from __future__ import annotations

import ipaddress

from havirt.tools.findings import ERROR, Finding
from havirt.tools.validate.checks.context import Context, nodes_text, outliers, short


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_hostnames(ctx: Context) -> list[Finding]:
    found = []
    for node in ctx.order:
        target, hostname = ctx.target(node), ctx.facts[node].hostname
        if hostname and not target.name_is_address and short(hostname) != short(node):
            found.append(
                Finding(
                    "hostnames",
                    ERROR,
                    f"{node} calls itself '{hostname}'",
                    f"on {node}: hostnamectl set-hostname {node} (or name the node "
                    f"'{hostname}' here): Pacemaker node names and migration targets use it",
                    node=node,
                    item="hostname",
                    expected=node,
                    actual=hostname,
                )
            )
    names = [t.name for t in ctx.targets if not t.name_is_address]
    for name in names:
        values = {
            n: frozenset(f.resolution.get(name, ()))
            for n, f in ctx.facts.items()
            if f.resolution is not None
        }
        loop = {n for n, addrs in values.items() if any(_loopback(a) for a in addrs)}
        for node in [n for n in ctx.order if n in loop]:
            addrs = ", ".join(sorted(values[node]))
            loopback = sorted(a for a in values[node] if _loopback(a))
            lines = " and ".join(f"'{a} {name}'" for a in loopback)
            found.append(
                Finding(
                    "hostnames",
                    ERROR,
                    f"{node} resolves {name} to a loopback address ({addrs})",
                    f"on {node}: map {name} to its cluster address in /etc/hosts (remove "
                    f"{lines}): Corosync and migrations would use loopback",
                    node=node,
                    item=f"name {name}",
                    actual=sorted(values[node]),
                )
            )
        usable = {n: v for n, v in values.items() if n not in loop}
        ref, same, differ = outliers(ctx, usable)
        for node in differ:
            mine = sorted(usable[node])
            wanted = ", ".join(sorted(ref)) if ref else "nothing"
            if not mine:
                message = f"{node} cannot resolve {name}; {nodes_text(same)}: {wanted}"
            else:
                message = (
                    f"{node} resolves {name} to {', '.join(mine)}; {nodes_text(same)}: {wanted}"
                )
            found.append(
                Finding(
                    "hostnames",
                    ERROR,
                    message,
                    f"on {node}: make {name} resolve to {wanted} (/etc/hosts or DNS), as on "
                    "the other nodes",
                    node=node,
                    item=f"name {name}",
                    expected=sorted(ref) if ref else [],
                    actual=mine,
                )
            )
    return found
