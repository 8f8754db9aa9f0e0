"""The timings a lab's test session collects, printed at its end (no timing is judged)."""

from __future__ import annotations

import pytest


def report(reporter: pytest.TerminalReporter, title: str, timings: dict[str, float]) -> None:
    """A section ``title`` with one line per measured step, in the order measured."""
    if not timings:
        return
    reporter.section(title)
    width = max(50, *(len(what) for what in timings))
    for what, seconds in timings.items():
        reporter.write_line(f"{what:<{width}} {seconds:8.2f} s")
