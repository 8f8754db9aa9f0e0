"""``havirt demo``: havirt at work in a lab on this machine, step by step."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click
from havirt.tools.cli.common import emit
from havirt.tools.errors import HavirtError

if TYPE_CHECKING:
    from havirt.tools.lab.demo.steps import AgentCall, Step


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


@click.command("demo")
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
        emit({"lab": lab_name, "taken_down": gone}, as_json, text)
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
