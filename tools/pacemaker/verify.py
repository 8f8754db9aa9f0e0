"""What ``crm_verify -VV`` found in a CIB: errors and warnings, and how many lines of
them an error message shows. Pure parsing, no I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from havirt.ocf.runner import CommandResult

_DUMP_LINE = re.compile(r"^\s*\d+\s*[:|]?\s*<")
VERIFY_LINES = 10
VERIFY_LINE_WIDTH = 200


def verify_lines(lines: Sequence[str]) -> list[str]:
    """crm_verify's findings for one error message: each line capped, at most
    VERIFY_LINES of them and a count of the rest."""
    shown = [
        line if len(line) <= VERIFY_LINE_WIDTH else line[:VERIFY_LINE_WIDTH] + "..."
        for line in lines[:VERIFY_LINES]
    ]
    if len(lines) > VERIFY_LINES:
        shown.append(f"... and {len(lines) - VERIFY_LINES} more (run crm_verify -VV yourself)")
    return shown


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


def parse_verify(result: CommandResult) -> VerifyResult:
    """crm_verify's errors and warnings from what it printed (stderr, then stdout).
    ``ok`` means no errors: crm_verify exits 78 for warnings alone too."""
    errors: list[str] = []
    warnings: list[str] = []
    for line in (result.stderr + result.stdout).splitlines():
        # "(unpack_resources) \terror: Resource start-up disabled since ..."
        if line.startswith("crm_verify:") or "-V may provide" in line:
            continue
        if _DUMP_LINE.match(line):  # the CIB itself, line by line: never an error
            continue
        if "validity error :" in line:  # "FILE:1: element x: Relax-NG validity error : ..."
            errors.append(line.split("validity error :", 1)[1].strip())
        elif "error:" in line:
            errors.append(line.split("error:", 1)[1].strip())
        elif "warning:" in line:
            warnings.append(line.split("warning:", 1)[1].strip())
    if result.returncode != 0 and not errors and not warnings:
        errors.append(result.describe())
    return VerifyResult(not errors, tuple(errors), tuple(warnings))
