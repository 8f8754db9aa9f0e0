"""The product code type-checks: mypy over ocf/, agents/ and tools/ as the ``havirt`` package,
and over the tests' shared fakes (tests/fakes, as the package ``fakes``), which declare the
seams' Protocols they implement: a fake that drifts from its seam fails here.

pyproject's ``package-dir`` maps each folder into the ``havirt`` namespace, and the
editable install reaches them through an import hook that mypy does not run, so mypy
cannot find ``havirt`` by itself. The test builds that package as symlinks (``havirt/ocf
-> ocf``, ...) in a temporary directory, from the same mapping the wheel is built from,
and runs ``mypy -p havirt -p fakes`` there with the project's configuration ([tool.mypy] in
pyproject.toml).

The cache is in the test's own temporary directory: each run checks from scratch (about
5 s on one core; the symlinked paths change with every tmp_path, so a kept cache would
be rebuilt anyway) and nothing outside the test's directory is written or read back.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAKES = REPO / "tests" / "fakes"
PYPROJECT = REPO / "pyproject.toml"
PACKAGE_DIR: dict[str, str] = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"][
    "package-dir"
]


def _package_tree(root: Path) -> Path:
    """``root/havirt`` with each mapped folder linked in under its subpackage name."""
    package = root / "havirt"
    package.mkdir(parents=True)
    for name, folder in PACKAGE_DIR.items():
        top, _, sub = name.partition(".")
        assert top == "havirt" and sub and "." not in sub, name
        (package / sub).symlink_to(REPO / folder, target_is_directory=True)
    (root / "fakes").symlink_to(FAKES, target_is_directory=True)
    return root


def test_mypy_passes_over_the_product_code_and_the_fakes(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[test]' installs it)")
    root = _package_tree(tmp_path / "src")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(PYPROJECT),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--no-color-output",
            "-p",
            "havirt",
            "-p",
            "fakes",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"mypy found type errors:\n{proc.stdout}{proc.stderr}"
    # Every module of the mapped folders and of the fakes was checked (none left out).
    modules = sum(
        1
        for folder in [*(REPO / f for f in PACKAGE_DIR.values()), FAKES]
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts
    )
    found = re.search(r"Success: no issues found in (\d+) source files", proc.stdout)
    assert found, proc.stdout + proc.stderr
    # mypy counts the namespace package ``havirt`` itself too
    assert int(found[1]) == modules + 1, f"{modules} modules, but mypy: {proc.stdout}"
