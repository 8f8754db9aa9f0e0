"""docs/validate.md documents every check and every option of the command."""

from __future__ import annotations

from pathlib import Path

from havirt.tools.cli.validate import validate_command
from havirt.tools.validate.catalog import CATALOG

DOC = Path(__file__).resolve().parents[3] / "docs" / "validate.md"


def test_every_check_has_a_section() -> None:
    text = DOC.read_text()
    for check in CATALOG:
        assert f"\n### {check.id}\n" in text, check.id


def test_every_option_is_documented() -> None:
    text = DOC.read_text()
    for param in validate_command.params:
        for option in param.opts:
            if option.startswith("--") and option != "--help":
                assert f"`{option}" in text, option
