"""Running a benchmark from bench/ as a whole program, for the smoke tests of each.

No timing is judged by them: a benchmark must run end to end, exit 0 and report
every figure it promises (it brings up, and takes down, its own labs).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def run_bench(name: str, *args: str, timeout: float = 900) -> dict[str, Any]:
    """``bench/NAME ARGS --json``: its report, once it exited 0."""
    result = subprocess.run(
        [str(BENCH_DIR / name), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)
