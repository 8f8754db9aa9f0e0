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

ROOT = Path(__file__).resolve().parent.parent


def test_unit_suite_passes_with_nothing_on_path(tmp_path: Path) -> None:
    """Both ways of finding nothing on PATH, run at the same time (each run is a whole
    unit suite: one core each rather than one after the other)."""
    (tmp_path / "bin").mkdir()
    variants = {"empty PATH": "", "PATH of an empty folder": str(tmp_path / "bin")}
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider", "-rs"],
            cwd=ROOT,
            env={"PATH": path, "HOME": str(tmp_path / "nonexistent")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, path in variants.items()
    }
    failures = []
    try:
        for name, proc in runs.items():
            stdout, stderr = proc.communicate(timeout=900)
            tail = stdout[-3000:] + stderr[-2000:]
            summary = stdout.strip().splitlines()[-1] if stdout.strip() else ""
            # every test passed: no skip, no error
            if proc.returncode != 0 or not re.fullmatch(
                r"\d+ passed in [\d.]+s( \(.*\))?", summary
            ):
                failures.append(f"--- with {name} (exit {proc.returncode}):\n{tail}")
    finally:
        for proc in runs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not failures, "\n".join(failures)
