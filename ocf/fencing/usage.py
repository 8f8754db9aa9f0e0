"""The ``--help`` text of a fence agent, from its option table."""

from __future__ import annotations

from havirt.ocf.fencing.actions import EXIT_ERROR, EXIT_OFF, EXIT_OK

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.ocf.fencing.agent import FenceAgent


def usage(agent: type[FenceAgent]) -> str:
    lines = [
        f"Usage: {agent.name} [options]",
        f"       {agent.name} < options-file   (name=value lines, as Pacemaker passes them)",
        "",
        "Options:",
    ]
    for opt in agent.option_table():
        if opt.alias_of:
            continue
        default = f" (default: {opt.default})" if opt.default not in (None, "") else ""
        lines.append(f"  {opt.spelled():<34} {opt.shortdesc}{default}")
    lines += [
        "",
        f"Exit codes: {EXIT_OK} success (status: on), {EXIT_OFF} status: off, "
        f"{EXIT_ERROR} any failure.",
    ]
    return "\n".join(lines) + "\n"
