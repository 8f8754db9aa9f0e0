"""The lock manager: every node protects guests' disks with the same one, set up alike
(and sanlock's host ids apart)."""

from __future__ import annotations

from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate.checks.context import ALL_NODES, Context, nodes_text, outliers, show


def check_lock_manager(ctx: Context) -> list[Finding]:
    locks = {n: f.lock for n, f in ctx.facts.items() if f.lock is not None}
    if not locks:
        return []
    found = []
    managers = {n: lock.manager for n, lock in locks.items()}
    ref, same, differ = outliers(ctx, managers)
    for node in differ:
        if ref != "none":
            fix = (
                f'on {node}: set lock_manager = "{ref}" in /etc/libvirt/qemu.conf'
                + (" (and start virtlockd)" if ref == "lockd" else "")
                + ", then restart libvirtd; a guest's disks are only protected when every "
                "node uses the same lock manager"
            )
        else:
            fix = (
                f'use the same lock manager everywhere: set lock_manager = "{managers[node]}" '
                f"on the other nodes too, or remove it from {node}"
            )
        found.append(
            Finding(
                "lock-manager",
                ERROR,
                f"lock manager is '{managers[node]}' on {node}; {nodes_text(same)}: '{ref}'",
                fix,
                node=node,
                item="lock_manager",
                expected=ref,
                actual=managers[node],
            )
        )
    agreeing = list(same)
    settings = {n: dict(locks[n].settings) for n in agreeing}
    keys = sorted({k for s in settings.values() for k in s})
    conf = {"lockd": "qemu-lockd.conf", "sanlock": "qemu-sanlock.conf"}.get(str(ref), "")
    for key in keys:
        values = {n: settings[n].get(key) for n in agreeing}
        ref_value, holders, odd = outliers(ctx, values)
        for node in odd:
            found.append(
                Finding(
                    "lock-manager",
                    ERROR,
                    f"{key} is {show(values[node])} on {node}; {nodes_text(holders)}: "
                    f"{show(ref_value)}",
                    f"on {node}: set {key} = {ref_value} in /etc/libvirt/{conf} and restart "
                    "libvirtd",
                    node=node,
                    item=key,
                    expected=ref_value,
                    actual=values[node],
                )
            )
    if ref == "sanlock":
        seen: dict[str, str] = {}
        for node in agreeing:
            host_id = locks[node].host_id
            if host_id is None:
                continue
            if host_id in seen:
                found.append(
                    Finding(
                        "lock-manager",
                        ERROR,
                        f"sanlock host_id {host_id} on {node} is also {seen[host_id]}'s",
                        f"on {node}: give host_id in /etc/libvirt/qemu-sanlock.conf a number no "
                        "other node uses, then restart libvirtd",
                        node=node,
                        item="host_id",
                        actual=host_id,
                    )
                )
            seen.setdefault(host_id, node)
    if ref == "none" and not differ:
        found.append(
            Finding(
                "lock-manager",
                WARNING,
                "no node uses a lock manager: nothing in libvirt stops a guest's disks from "
                "being used on two nodes at once (Pacemaker and fencing are the only guard)",
                'on every node: set lock_manager = "lockd" in /etc/libvirt/qemu.conf, '
                "run virtlockd, restart libvirtd",
                node=ALL_NODES,
                item="lock_manager",
                actual="none",
            )
        )
    return found
