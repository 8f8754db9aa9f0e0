"""Read an inventory file, check it against the schema and the cross-table rules,
and return an :class:`Inventory` -- or every problem, each with its line.

Two passes: first every value against its kind (wrong types, unknown keys,
missing keys), then, on a well-typed document, the rules spanning tables
(duplicate names/MACs/IPs, references to unknown nodes/networks/storage,
guests larger than any node, clashing Pacemaker ids).
"""

from __future__ import annotations

import os
import re
import tomllib

from havirt.tools.inventory.kinds import Problems
from havirt.tools.inventory.locate import locate
from havirt.tools.inventory.model import Inventory
from havirt.tools.inventory.nesting import NESTING_LIMIT, too_deep
from havirt.tools.inventory.problem import CheckResult, InventoryError, Problem, located
from havirt.tools.inventory.rules import Builder
from havirt.tools.inventory.schema import INVENTORY
from havirt.tools.userinput import read_bytes


def load(path: str) -> Inventory:
    """The checked inventory in ``path``; raise InventoryError listing every error."""
    result = check_file(path)
    if result.inventory is None:
        raise InventoryError(os.path.basename(path), result.problems)
    return result.inventory


def check_file(path: str) -> CheckResult:
    """Check the inventory in ``path``; HavirtError when it cannot be read (missing,
    not a regular file, larger than the cap), problems for its content."""
    data = read_bytes(path, "inventory", INVENTORY_LIMIT)
    source = os.path.basename(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return CheckResult(None, [Problem(source, line, "", "not valid UTF-8")])
    return check_text(text, source)


def load_text(text: str, source: str = "<inventory>") -> Inventory:
    result = check_text(text, source)
    if result.inventory is None:
        raise InventoryError(source, result.problems)
    return result.inventory


def check_text(text: str, source: str = "<inventory>") -> CheckResult:
    """Check an inventory's text; never raises for a bad inventory."""
    depth_line = too_deep(text)
    if depth_line is not None:
        return CheckResult(
            None,
            [
                Problem(
                    source,
                    depth_line,
                    "",
                    f"arrays or inline tables nested more than {NESTING_LIMIT} deep; "
                    "an inventory needs at most a few levels",
                )
            ],
        )
    try:
        return _check_text(text, source)
    except RecursionError:  # a nesting too_deep did not see (it does not parse strings)
        return CheckResult(None, [Problem(source, None, "", "values nested too deeply to check")])


INVENTORY_LIMIT = 4 << 20


def _check_text(text: str, source: str) -> CheckResult:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return CheckResult(None, [_syntax_problem(source, str(exc))])
    except ValueError:  # a whole number of thousands of digits
        return CheckResult(
            None, [Problem(source, None, "", "a whole number of more than 4300 digits")]
        )
    locations = locate(text)
    problems = Problems()
    values = INVENTORY.check(document, (), problems)
    inventory = None
    if not problems.has_errors:
        inventory = Builder(values, source, problems).build()
    found = located(source, locations, problems.items)
    if any(p.severity == "error" for p in found):
        inventory = None
    return CheckResult(inventory, found)


def _syntax_problem(source: str, message: str) -> Problem:
    # tomllib: "Invalid value (at line 14, column 10)"
    match = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    if match:
        what = message[: match.start()].rstrip()
        return Problem(
            source, int(match.group(1)), "", f"TOML syntax: {what} (column {match.group(2)})"
        )
    return Problem(source, None, "", f"TOML syntax: {message}")
