"""corosync.conf for an inventory, in the exact form `pcs cluster setup` writes.

``pcs cluster setup NAME NODE addr=... --corosync_conf FILE --no-cluster-uuid``
makes the same file offline (tests/contract compares the two where pcs is
installed); rendering it here keeps ``havirt generate`` free of pcs and of
anything but the inventory. knet with aes256/sha256 (pcs's defaults), one
``ringN_addr`` per address (knet link), ``two_node`` for two nodes.
"""

from __future__ import annotations

from havirt.tools.inventory import Inventory


def pcs_setup_argv(inv: Inventory, out_file: str) -> list[str]:
    """The pcs command that writes the same corosync.conf (for reference and tests)."""
    argv = ["pcs", "cluster", "setup", inv.cluster.name]
    for node in inv.nodes:
        argv += [node.name, *(f"addr={a.ip}" for a in node.addresses)]
    argv += ["transport", "knet"]
    if inv.cluster.token is not None:
        argv += ["totem", f"token={inv.cluster.token}"]
    return [*argv, "--corosync_conf", out_file, "--no-cluster-uuid"]


def render(inv: Inventory) -> str:
    totem = ["version: 2", f"cluster_name: {inv.cluster.name}", "transport: knet"]
    if inv.cluster.token is not None:
        totem.append(f"token: {inv.cluster.token}")
    totem += ["crypto_cipher: aes256", "crypto_hash: sha256"]
    nodes = []
    for node in inv.nodes:
        lines = [f"ring{i}_addr: {a.ip}" for i, a in enumerate(node.addresses)]
        lines += [f"name: {node.name}", f"nodeid: {node.nodeid}"]
        nodes.append(_section("node", lines, indent=1))
    quorum = ["provider: corosync_votequorum"]
    if len(inv.nodes) == 2:
        quorum.append("two_node: 1")
    logging = [
        "to_logfile: yes",
        "logfile: /var/log/corosync/corosync.log",
        "to_syslog: yes",
        "timestamp: on",
    ]
    nodelist = "nodelist {\n" + "\n".join(nodes) + "}\n"
    return "\n".join(
        [
            _section("totem", totem),
            nodelist,
            _section("quorum", quorum),
            _section("logging", logging),
        ]
    )


def _section(name: str, lines: list[str], indent: int = 0) -> str:
    pad = "    " * indent
    body = "".join(f"{pad}    {line}\n" for line in lines)
    return f"{pad}{name} {{\n{body}{pad}}}\n"
