"""The unit suite does not depend on the machine it runs on: it passes, skipping nothing,
with nothing on PATH (neither an empty PATH nor one naming an empty folder finds a
single program), no HOME and no other environment variable.

tests/unit/host_guard.py already fails any unit test that reads the host; this runs the
whole suite the way a fresh machine would see it, as the proof.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", ["", "EMPTY_DIR"], ids=["empty-PATH", "PATH-of-an-empty-dir"])
def test_unit_suite_passes_with_nothing_on_path(tmp_path: Path, path: str) -> None:
    if path == "EMPTY_DIR":
        (tmp_path / "bin").mkdir()
        path = str(tmp_path / "bin")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=ROOT,
        env={"PATH": path, "HOME": str(tmp_path / "nonexistent")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in [\d.]+s( \(.*\))?", summary), tail  # no skip, no error
