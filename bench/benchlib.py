"""What the benchmarks share: running under the repository's venv, logging, and
turning SIGTERM/SIGHUP into a normal exit (so that ``finally`` takes the lab down)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
