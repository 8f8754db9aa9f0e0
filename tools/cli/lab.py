"""``havirt lab up|status|down|exec``: a local cluster lab of namespaces."""

from __future__ import annotations

import sys
from typing import Any

import click
from havirt.tools.cli.common import Number, emit
from havirt.tools.cli.lab_vagrant import vagrant_host_group


@click.group("lab")
def lab_group() -> None:
    """A local cluster lab: N Pacemaker/Corosync nodes with libvirt, fencing and guests.

    Each node is a set of namespaces on this machine (own hostname, address,
    libvirtd, Corosync, Pacemaker); guests are tiny real QEMU (TCG) guests run
    by ocf:havirt:VirtualDomain; fence_havirt_lab powers nodes off and on for
    real. Needs root and the Debian packages 'tools/bootstrap.sh setup' installs.
    """


lab_group.add_command(vagrant_host_group)

LAB_OPTION = click.option(
    "--lab", "lab_name", default="havirt", show_default=True, metavar="NAME", help="Lab name."
)


def _render_lab(view: Any) -> str:
    if not view.up:
        return f"lab {view.name}: down"
    took = f" (up in {view.seconds:.1f} s)" if view.seconds is not None else ""
    quorum = "with quorum" if view.quorate else click.style("WITHOUT QUORUM", fg="red")
    lines = [f"lab {view.name}: {len(view.nodes)} nodes, {quorum}{took}", "nodes:"]
    for node in view.nodes:
        state = "online" if node.online else ("powered on" if node.powered_on else "OFF")
        flags = "".join([" standby" if node.standby else "", " (DC)" if node.is_dc else ""])
        lines.append(f"  {node.name:<8} {node.address:<15} {state}{flags}")
    lines.append("guests (Pacemaker's view | QEMU processes found on the nodes):")
    for guest in view.guests:
        where = guest.cluster_node or "-"
        qemu = ",".join(guest.qemu_nodes) or "none"
        alarm = click.style("  <- RUNS TWICE", fg="red") if len(guest.qemu_nodes) > 1 else ""
        lines.append(f"  {guest.name:<10} {guest.role:<9} {where:<8} | qemu on {qemu}{alarm}")
    lines.append(f"run a command in a node: havirt lab exec --lab {view.name} node1 -- crm_mon -1")
    return "\n".join(lines)


@lab_group.command("up")
@LAB_OPTION
@click.option(
    "--nodes", type=Number(int, 2, 8), default=3, show_default=True, help="Number of cluster nodes."
)
@click.option(
    "--guests", type=Number(int, 0, 20), default=3, show_default=True, help="Number of guests."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def lab_up(lab_name: str, nodes: int, guests: int, as_json: bool) -> None:
    """Bring the lab up (a healthy lab is left as it is) and wait for every node and guest."""
    from havirt.tools.lab import control

    def progress(message: str) -> None:
        click.echo(click.style(f"... {message}", dim=True), err=True)

    view = control.up(lab_name, nodes, guests, progress=progress)
    emit(view.to_dict(), as_json, _render_lab(view))


@lab_group.command("status")
@LAB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def lab_status(lab_name: str, as_json: bool) -> None:
    """Nodes and guests: Pacemaker's view next to the QEMU processes really running."""
    from havirt.tools.lab import control

    view = control.status(lab_name)
    emit(view.to_dict(), as_json, _render_lab(view))
    if not view.up:
        sys.exit(3)  # like `systemctl status` of a stopped unit


@lab_group.command("down")
@LAB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def lab_down(lab_name: str, as_json: bool) -> None:
    """Take the lab down: no process, namespace, mount or directory of it is left."""
    from havirt.tools.lab import control

    gone = control.down(lab_name)
    text = f"lab {lab_name} taken down" if gone else f"no lab {lab_name} was up"
    emit({"lab": lab_name, "taken_down": gone}, as_json, text)


@lab_group.command(
    "exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@LAB_OPTION
@click.argument("node")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def lab_exec(lab_name: str, node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside NODE, e.g. 'havirt lab exec node1 -- crm_mon -1'."""
    import os

    from havirt.tools.lab import control

    if command and command[0] == "--":
        command = command[1:]
    argv = control.command_in(lab_name, node, command)
    os.execvp(argv[0], argv)
