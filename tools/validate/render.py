"""The report as text for people (the JSON form is Report.to_dict)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from havirt.tools.findings import ERROR
from havirt.tools.validate.report import Report

WIDTH = 100


def _count(errors: int, warnings: int) -> str:
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts)


def render(
    report: Report, strict: bool = False, style: Callable[..., str] = lambda text, **_: text
) -> str:
    """The human report: nodes, a table of checks, then each finding with its fix.

    ``style`` is click.style (or the identity, for plain text).
    """
    names = ", ".join(
        n.name + (" (new host)" if n.role == "new-host" else "") for n in report.nodes
    )
    lines = [f"havirt validate: {len(report.nodes)} node(s): {names}", ""]
    width = max(len(c.title) for c in report.checks)
    lines.append(f"  {'CHECK':<{width}}  RESULT")
    for check in report.checks:
        errors = sum(f.severity == ERROR for f in check.findings)
        warnings = len(check.findings) - errors
        if check.status == "ok":
            result = style("ok", fg="green")
        elif check.status == "skipped":
            result = style(f"skipped ({check.note})", dim=True)
        else:
            color = "red" if errors else "yellow"
            result = style(_count(errors, warnings), fg=color, bold=bool(errors))
        if check.status == "ok" and check.note:
            result += style(f" ({check.note})", dim=True)
        lines.append(f"  {check.title:<{width}}  {result}")
    findings = report.findings
    indent = " " * 9
    for finding in findings:
        lines.append("")
        label = "ERROR" if finding.severity == ERROR else "WARNING"
        color = "red" if finding.severity == ERROR else "yellow"
        head = f"{style(f'{label:<7}', fg=color, bold=True)}  {finding.node}  {finding.item}"
        lines.append(head)
        lines += textwrap.wrap(
            finding.message, WIDTH, initial_indent=indent, subsequent_indent=indent
        )
        lines += textwrap.wrap(
            f"fix: {finding.fix}" if finding.fix else "",
            WIDTH,
            initial_indent=indent,
            subsequent_indent=indent + "     ",
            break_on_hyphens=False,
        )
    lines.append("")
    summary = _count(report.errors, report.warnings)
    if report.ok(strict):
        verdict = style("every check passed", fg="green", bold=True)
        if report.warnings:
            verdict += f" ({summary})"
    else:
        verdict = style(f"validation failed: {summary}", fg="red", bold=True)
        if strict and not report.errors:
            verdict += " (--strict)"
    lines.append(f"{verdict} in {report.seconds:.2f} s")
    return "\n".join(lines)
