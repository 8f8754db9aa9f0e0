"""What checking an inventory finds: each :class:`Problem` with its file and line, the
:class:`CheckResult` of a check, and the :class:`InventoryError` a load raises."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from havirt.tools.errors import HavirtError
from havirt.tools.inventory.locate import Locations, Path, render_path
from havirt.tools.inventory.model import Inventory
from havirt.tools.json_fields import fields_dict


@dataclass(frozen=True)
class Problem:
    """One finding, with where it is."""

    source: str
    line: int | None
    path: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        what = f"{self.path}: {self.message}" if self.path else self.message
        tag = "warning: " if self.severity == "warning" else ""
        return f"{where}: {tag}{what}"

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self, rename={"source": "file"})


class InventoryError(HavirtError):
    """The inventory has errors; ``problems`` lists them (warnings too), in line order."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"]
        noun = "error" if len(errors) == 1 else "errors"
        shown = problems[:SHOWN_PROBLEMS]
        lines = "\n".join(f"  {p}" for p in shown)
        if len(problems) > SHOWN_PROBLEMS:
            lines += f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more"
        super().__init__(f"inventory {source} has {len(errors)} {noun}:\n{lines}")
        self.source = source
        self.problems = problems


SHOWN_PROBLEMS = 50  # in one error message; --json of inventory check lists them all


@dataclass(frozen=True)
class CheckResult:
    inventory: Inventory | None  # None when there are errors
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return self.inventory is not None


def located(
    source: str, locations: Locations, items: Iterable[tuple[Path, str, str]]
) -> list[Problem]:
    """The checks' findings as Problems with their lines, in line order (errors first)."""
    found = [
        Problem(source, locations.line(path), render_path(path), message, severity)
        for path, message, severity in items
    ]
    return sorted(found, key=lambda p: (p.line or 0, p.severity != "error"))
