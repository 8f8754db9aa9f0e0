"""Shared pytest options: golden files are compared, or rewritten with --regenerate-golden."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regenerate-golden",
        action="store_true",
        default=os.environ.get("HAVIRT_REGENERATE_GOLDEN") == "1",
        help="rewrite golden files from the current output instead of comparing",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """golden(name, text): compare text with tests/golden/NAME (or rewrite it)."""
    regenerate = request.config.getoption("--regenerate-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if regenerate or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if not regenerate:
                pytest.fail(f"golden file {path} did not exist; written now, review and commit it")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (
            f"output differs from golden file {path}; if the change is intended, "
            "rerun with --regenerate-golden"
        )

    return check
