"""The `havirt` command: parses arguments and renders results, nothing more."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click
from havirt.tools.cli.common import Number
from havirt.tools.cli.exit_codes import fail
from havirt.tools.errors import HavirtError

if TYPE_CHECKING:
    from havirt.tools.lab.demo.steps import AgentCall, Step


def _emit(data: Any, as_json: bool, human: str) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        click.echo(human)


class HavirtGroup(click.Group):
    """Turns HavirtError into a clear message and a non-zero exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HavirtError as exc:
            fail(exc)


@click.group(cls=HavirtGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="havirt")
def main() -> None:
    """High availability for libvirt/KVM guests on Pacemaker/Corosync."""


@main.command("install-agents")
@click.option(
    "--ocf-root", metavar="DIR", help="OCF root (default: from pkg-config, else /usr/lib/ocf)."
)
@click.option(
    "--fence-dir",
    metavar="DIR",
    default="/usr/sbin",
    show_default=True,
    help="Where Pacemaker looks for fence agents.",
)
@click.option(
    "--uninstall", is_flag=True, help="Remove exactly the files a previous install wrote."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def install_agents(ocf_root: str | None, fence_dir: str, uninstall: bool, as_json: bool) -> None:
    """Install the resource agents into $OCF_ROOT/resource.d/havirt/."""
    from havirt.tools import install

    root = ocf_root or install.default_ocf_root()
    if uninstall:
        report = install.uninstall(root)
        lines = [f"removed {p}" for p in report.removed] + [
            f"kept {p} (changed since it was installed)" for p in report.kept
        ]
        human = "\n".join(lines) or f"nothing of havirt's is installed under {root}"
    else:
        report = install.install(root, fence_dir)
        human = "\n".join(f"installed {f.path}" for f in report.written)
    _emit(asdict(report), as_json, human)


# -- validate (defined in tools/cli/validate.py; heavy imports happen when it runs) -----

from havirt.tools.cli.validate import validate_command  # noqa: E402 - kept next to its registration

main.add_command(validate_command)


# -- demo ---------------------------------------------------------------------------------


def _demo_call_line(call: AgentCall) -> str:
    answer = f"{call.rc} {call.rc_name}"
    line = f"    {call.node}: {call.label:<14} -> {answer:<18} {call.seconds:6.2f} s"
    if call.reason:
        line += f"\n      exit reason: {call.reason}"
    return line


def render_demo_step(number: int, step: Step, quiet: bool = False) -> str:
    """The human text of one step of `havirt demo`."""
    mark = click.style("ok", fg="green") if step.ok else click.style("FAILED", fg="red", bold=True)
    took = f" ({step.seconds:.2f} s)" if step.seconds is not None else ""
    lines = [f"[{mark}] {number:2d}. {step.title}{took}"]
    if not quiet or not step.ok:
        if step.summary:
            lines.append(f"    {step.summary}")
        lines += [_demo_call_line(call) for call in step.calls]
    if step.note and not quiet:
        lines.append(click.style(f"    why it matters: {step.note}", dim=True))
    if not quiet or step.key == "keep":  # the keep step: the only way to find the lab
        lines += [f"      {line}" for line in step.facts.get("lines", [])]
    if step.key == "keep" and "nodes" in step.facts:  # even when quiet
        facts = step.facts
        lines.append("    reach a node (then e.g. 'virsh list --all'):")
        lines += [f"      {name}: {node['enter']} bash" for name, node in facts["nodes"].items()]
        lines.append(f"    the guest's console: tail -f {facts['console_log']}")
        lines.append("    the agent on node1 (replace 'monitor' by start, stop, ...):")
        lines.append(f"      {facts['agent']}")
        lines.append(f"    take the lab down: {facts['down']}")
    return "\n".join(lines)


def render_demo_timings(rows: list[tuple[str, float]]) -> str:
    """The table of measured times at the end of `havirt demo`."""
    if not rows:
        return ""
    width = max(len(label) for label, _ in rows)
    lines = ["measured times:", f"  {'step':<{width}}  {'seconds':>8}"]
    lines.append(f"  {'-' * width}  {'-' * 8}")
    lines += [f"  {label:<{width}}  {seconds:8.2f}" for label, seconds in rows]
    return "\n".join(lines)


@main.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result of every step.")
@click.option("--keep", is_flag=True, help="Leave the lab up at the end and say how to reach it.")
@click.option("--quiet", "-q", is_flag=True, help="One line per step and the table of times.")
@click.option("--down", is_flag=True, help="Take down a lab left up by an earlier --keep.")
@click.option(
    "--agent",
    "agent_only",
    is_flag=True,
    help="The guest agent alone on a 2-node lab, without Pacemaker (each OCF action shown).",
)
@click.option("--lab-name", default="demo", show_default=True, hidden=True)
@click.option(
    "--cache-dir",
    envvar="HAVIRT_LAB_CACHE",
    default="/var/cache/havirt-lab",
    show_default=True,
    hidden=True,
)
def demo_command(
    as_json: bool,
    keep: bool,
    quiet: bool,
    down: bool,
    agent_only: bool,
    lab_name: str,
    cache_dir: str,
) -> None:
    """Show havirt at work in a real 3-node cluster on this machine (needs root).

    Brings up three cluster nodes as namespaces (each with its own libvirtd,
    Corosync and Pacemaker, fencing on) running three tiny real QEMU guests,
    shows crm_mon, puts a node in standby and follows the live migrations,
    crashes a node and follows fencing and recovery, and prints the measured
    times and what an independent auditor of the QEMU processes saw. The lab is
    taken down at the end. With --agent: the guest agent alone, without Pacemaker.
    """
    import contextlib
    import signal

    from havirt.tools.lab.demo import steps as demo_steps
    from havirt.tools.lab.demo.env import command_world

    # The two demos share their interface, and their steps (demo_steps).
    world = command_world()
    chosen = world.demo(agent_only)

    if down:
        gone = chosen.take_down(lab_name)
        text = f"lab {lab_name} taken down" if gone else f"no lab {lab_name} is up"
        _emit({"lab": lab_name, "taken_down": gone}, as_json, text)
        return

    def progress(message: str) -> None:
        if not quiet:
            click.echo(click.style(f"    ... {message}", dim=True), err=as_json)

    def terminated(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds like Ctrl-C: the lab is taken down

    previous = signal.signal(signal.SIGTERM, terminated)
    clock = world.clock
    began = clock()
    steps: list[Step] = []
    error: HavirtError | None = None
    try:
        run = chosen.run(progress, keep=keep, lab_name=lab_name, cache_dir=cache_dir, clock=clock)
        if not as_json:
            click.echo(
                "havirt demo: ocf:havirt:VirtualDomain on a 2-node lab "
                "(a libvirtd per node, a real QEMU guest)\n"
                if agent_only
                else "havirt demo: a 3-node Pacemaker/Corosync cluster with fencing, "
                "3 real QEMU guests (ocf:havirt:VirtualDomain)\n"
            )
        with contextlib.closing(run):
            for step in run:
                steps.append(step)
                if not as_json:
                    click.echo(render_demo_step(len(steps), step, quiet))
                    if not quiet:
                        click.echo()
    except HavirtError as exc:
        error = exc
    except KeyboardInterrupt:
        click.echo("\nhavirt: interrupted; the lab was taken down", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    rows = demo_steps.timings(steps)
    total = round(clock() - began, 3)
    if as_json:
        result = {
            "ok": error is None and all(s.ok for s in steps),
            "error": error.message if error else None,
            "hint": error.hint if error else None,
            "steps": [s.to_dict() for s in steps],
            "timings": [{"step": label, "seconds": seconds} for label, seconds in rows],
            "total_seconds": total,
        }
        click.echo(json.dumps(result, indent=2))
    elif rows:
        click.echo(("\n" if quiet else "") + render_demo_timings([*rows, ("total", total)]))
    if error is not None:
        raise error
    if not as_json:
        click.echo("\nevery step behaved as expected")


# -- lab ----------------------------------------------------------------------------------


@main.group("lab")
def lab_group() -> None:
    """A local cluster lab: N Pacemaker/Corosync nodes with libvirt, fencing and guests.

    Each node is a set of namespaces on this machine (own hostname, address,
    libvirtd, Corosync, Pacemaker); guests are tiny real QEMU (TCG) guests run
    by ocf:havirt:VirtualDomain; fence_havirt_lab powers nodes off and on for
    real. Needs root and the Debian packages 'tools/bootstrap.sh setup' installs.
    """


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
    _emit(view.to_dict(), as_json, _render_lab(view))


@lab_group.command("status")
@LAB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def lab_status(lab_name: str, as_json: bool) -> None:
    """Nodes and guests: Pacemaker's view next to the QEMU processes really running."""
    from havirt.tools.lab import control

    view = control.status(lab_name)
    _emit(view.to_dict(), as_json, _render_lab(view))
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
    _emit({"lab": lab_name, "taken_down": gone}, as_json, text)


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


# -- inventory, generate, apply (tools/cli/inventory.py) ----------------------------------

from havirt.tools.cli.inventory import apply_command, generate_command, inventory_group  # noqa: E402

main.add_command(inventory_group)
main.add_command(generate_command)
main.add_command(apply_command)


# -- node, domain, cluster, balance, place --------------------------------------------------
# node list, domain list|locate: tools/cli/records.py; node standby|unstandby, cluster
# maintenance: tools/cli/maintenance.py; balance, place: tools/cli/placement.py.

from havirt.tools.cli.maintenance import cluster_group, node_group  # noqa: E402
from havirt.tools.cli.placement import balance_command, place_command  # noqa: E402
from havirt.tools.cli.records import domain_group, node_list  # noqa: E402

node_group.add_command(node_list)
main.add_command(node_group)
main.add_command(domain_group)
main.add_command(cluster_group)
main.add_command(balance_command)
main.add_command(place_command)
