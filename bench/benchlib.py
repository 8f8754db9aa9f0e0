"""What the benchmarks share: running under the repository's venv, logging, turning
SIGTERM/SIGHUP into a normal exit (so that ``finally`` takes the lab down), and
timing whole processes inside a lab node (:class:`NodeTimer`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from havirt.tools.lab.node import LibvirtNode

BENCH_DIR = Path(__file__).resolve().parent
VENV_PYTHON = BENCH_DIR.parent / ".venv" / "bin" / "python"


def ensure_havirt(script: str) -> None:
    """Re-run ``script`` under the repository's .venv if this interpreter lacks havirt."""
    try:
        import havirt.tools.lab  # noqa: F401 - only checks that havirt is importable
    except ImportError:
        if VENV_PYTHON.exists() and os.environ.get("HAVIRT_BENCH_REEXEC") != "1":
            os.environ["HAVIRT_BENCH_REEXEC"] = "1"
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), script, *sys.argv[1:]])
        name = Path(script).name
        sys.exit(f"bench/{name}: cannot import havirt; run it with {VENV_PYTHON} or install havirt")


def add_report_options(parser: argparse.ArgumentParser, cache_holds: str | None = None) -> None:
    """The options a benchmark's command line ends with: ``--json``, and for one with a
    lab cache ``--cache-dir`` (HAVIRT_LAB_CACHE, else the lab's own; ``cache_holds``
    says what it keeps for this benchmark)."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    if cache_holds is None:
        return
    from havirt.tools.lab.lab import DEFAULT_CACHE_DIR  # havirt only after ensure_havirt

    parser.add_argument(
        "--cache-dir",
        default=os.environ.get("HAVIRT_LAB_CACHE", str(DEFAULT_CACHE_DIR)),
        help=f"lab cache ({cache_holds})",
    )


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """SIGTERM / SIGHUP end the run through the ``finally`` blocks (lab down)."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class BenchError(RuntimeError):
    """The benchmark could not run (not a timing result)."""


HAVIRT = str(Path(sys.executable).with_name("havirt"))  # the CLI of this venv


def havirt_missing() -> list[str]:
    """Why this venv's havirt CLI cannot be run, if it cannot."""
    if os.access(HAVIRT, os.X_OK):
        return []
    return [f"{HAVIRT} not found (install havirt into this venv)"]


def refuse_unfit(problems: list[str]) -> None:
    """BenchError listing ``problems``, the reasons the benchmark cannot run here, if any."""
    if problems:
        raise BenchError("cannot run here: " + "; ".join(problems))


def run_report(name: str, run: Callable[[Any], dict[str, Any]], options: Any) -> dict | None:
    """``run(options)``, SIGTERM/SIGHUP unwinding its labs; a failure that stops the
    benchmark is printed as ``NAME: error: ...`` and gives None."""
    from havirt.tools.lab import LabError

    try:
        with terminate_as_exit():
            return run(options)
    except (BenchError, LabError) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return None


EXIT_OK, EXIT_ERROR, EXIT_RUNS_FAILED = 0, 1, 3


def report_main(
    name: str,
    run: Callable[[Any], dict[str, Any]],
    render: Callable[[dict[str, Any]], str],
    options: Any,
    failed_what: str,
) -> int:
    """The end of every benchmark's main: run, print the table (or JSON with --json),
    and exit 0, 1 (could not run) or 3 (some measured runs did not exit 0: ``report
    ["failures"]``, described as ``failed_what``)."""
    report = run_report(name, run, options)
    if report is None:
        return EXIT_ERROR
    print(json.dumps(report, indent=2) if options.json else render(report))
    if report["failures"]:
        print(
            f"{name}: {len(report['failures'])} {failed_what} did not exit 0: "
            f"{report['failures'][:3]}",
            file=sys.stderr,
        )
        return EXIT_RUNS_FAILED
    return EXIT_OK


# Runs inside the node, started once: reads one job per line on stdin
# ({"argv", "env", "timeout"}), runs it with exactly that environment and
# answers one line: wall time of the whole process (spawn -> exit and output
# drained), exit code, and the tail of its output.
TIMER_SOURCE = r"""
import json, os, signal, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    began = time.perf_counter_ns()
    proc = subprocess.Popen(job["argv"], env=job["env"], cwd="/", stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=job["timeout"])
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    elapsed = time.perf_counter_ns() - began
    answer = {"ns": elapsed, "rc": proc.returncode, "timed_out": timed_out,
              "stdout": out[-1500:].decode(errors="replace"),
              "stderr": err[-1500:].decode(errors="replace")}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
"""


class NodeTimer:
    """A helper process inside the node that runs and times one command at a time."""

    def __init__(self, node: LibvirtNode) -> None:
        argv = node.command([sys.executable, "-I", "-S", "-c", TIMER_SOURCE])
        self.proc = subprocess.Popen(  # argv list, no shell
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def run(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        job = {"argv": list(argv), "env": dict(env), "timeout": timeout}
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise BenchError("the timing helper in the node died") from None
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError(f"the timing helper in the node died (exit {self.proc.poll()})")
        return json.loads(line)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
