"""Start-up of the bench scripts: make havirt importable, re-running under the checkout's
.venv when the interpreter that started the script cannot import it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
VENV_PYTHON = BENCH_DIR.parent / ".venv" / "bin" / "python"


def ensure_havirt(script: str, name: str) -> None:
    try:
        import havirt.tools.lab  # noqa: F401 - only checks that havirt is importable
    except ImportError:
        if VENV_PYTHON.exists() and os.environ.get("HAVIRT_BENCH_REEXEC") != "1":
            os.environ["HAVIRT_BENCH_REEXEC"] = "1"
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), script, *sys.argv[1:]])
        sys.exit(f"{name}: cannot import havirt; run it with {VENV_PYTHON} or install havirt")
