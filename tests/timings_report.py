"""The timings a lab's test session collects, printed at its end (no timing is judged).

A conftest takes its section with :func:`section` and fills it as it measures; the root
conftest prints every section once the run is over (:func:`report_all`). When pytest-xdist
runs the suite on workers (tests/conftest.py: the VM lab beside the rest), each worker
sends its sections to the controller (:func:`to_worker_output`, :func:`merge`), which
prints them as one run would.
"""

from __future__ import annotations

from typing import Any

import pytest

SECTIONS: dict[str, dict[str, float]] = {}  # title -> what -> seconds, in the order measured
WORKER_OUTPUT_KEY = "havirt_timings"


def section(title: str) -> dict[str, float]:
    """The timings of the section ``title`` (made empty the first time)."""
    return SECTIONS.setdefault(title, {})


def to_worker_output(workeroutput: dict[str, Any]) -> None:
    workeroutput[WORKER_OUTPUT_KEY] = {t: dict(s) for t, s in SECTIONS.items() if s}


def merge(workeroutput: dict[str, Any]) -> None:
    for title, timings in workeroutput.get(WORKER_OUTPUT_KEY, {}).items():
        section(title).update(timings)


def report(reporter: pytest.TerminalReporter, title: str, timings: dict[str, float]) -> None:
    """A section ``title`` with one line per measured step, in the order measured."""
    if not timings:
        return
    reporter.section(title)
    width = max(50, *(len(what) for what in timings))
    for what, seconds in timings.items():
        reporter.write_line(f"{what:<{width}} {seconds:8.2f} s")


def report_all(reporter: pytest.TerminalReporter) -> None:
    for title, timings in SECTIONS.items():
        report(reporter, title, timings)
