"""The `havirt` command: parses arguments and renders results, nothing more."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from .errors import HavirtError

if TYPE_CHECKING:
    from .demo import AgentCall, Step


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
            click.echo(f"havirt: error: {exc}", err=True)
            sys.exit(exc.exit_code)


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
    from . import install

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


# -- validate (defined in tools/validate/command.py; heavy imports happen when it runs) -----

from .validate.command import validate_command  # noqa: E402 - kept next to its registration

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
    if step.key == "keep":  # even when quiet: the only way to find the lab
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
@click.option("--lab-name", default="demo", show_default=True, hidden=True)
@click.option(
    "--cache-dir",
    envvar="HAVIRT_LAB_CACHE",
    default="/var/cache/havirt-lab",
    show_default=True,
    hidden=True,
)
def demo_command(
    as_json: bool, keep: bool, quiet: bool, down: bool, lab_name: str, cache_dir: str
) -> None:
    """Show ocf:havirt:VirtualDomain at work on a local 2-node lab (needs root).

    Starts two simulated hypervisor hosts on this machine (each with its own
    libvirtd), boots a tiny real QEMU guest with the agent, live-migrates it,
    stops libvirtd under it, crashes it, and prints what the agent answered
    and how long each step took. The lab is taken down at the end.
    """
    import contextlib
    import signal
    import time

    from . import demo

    if down:
        gone = demo.take_down(lab_name)
        text = f"lab {lab_name} taken down" if gone else f"no lab {lab_name} is up"
        _emit({"lab": lab_name, "taken_down": gone}, as_json, text)
        return

    def progress(message: str) -> None:
        if not quiet:
            click.echo(click.style(f"    ... {message}", dim=True), err=as_json)

    def terminated(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds like Ctrl-C: the lab is taken down

    previous = signal.signal(signal.SIGTERM, terminated)
    began = time.monotonic()
    steps: list[Step] = []
    error: HavirtError | None = None
    try:
        run = demo.run_demo(progress, keep=keep, lab_name=lab_name, cache_dir=cache_dir)
        if not as_json:
            click.echo(
                "havirt demo: ocf:havirt:VirtualDomain on a 2-node lab "
                "(a libvirtd per node, a real QEMU guest)\n"
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
    rows = demo.timings(steps)
    total = round(time.monotonic() - began, 3)
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
