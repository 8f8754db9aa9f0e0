"""Numbers on the command line and what every command prints its result with.

click's FLOAT and FloatRange take ``nan`` and ``inf`` (``nan < 0`` is false, so a
range check lets NaN through): ``--timeout nan`` once drained a node. Every
numeric option of havirt uses :class:`Number` instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

WEEK = 7 * 24 * 3600.0
F = TypeVar("F", bound=Callable[..., Any])


def print_json(data: Any) -> None:
    """What --json prints: the result as JSON, keys sorted, indented."""
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def emit(data: Any, as_json: bool, human: str) -> None:
    """Print a result: its JSON with --json, else its human text."""
    if as_json:
        print_json(data)
    else:
        click.echo(human)


if TYPE_CHECKING:
    _NumberBase = click.ParamType[float, Any]  # what convert gives, from what it takes
else:
    _NumberBase = click.ParamType  # not subscriptable at run time before click 8.2


class Number(_NumberBase):
    """A finite int or float within [minimum, maximum]; ``above`` makes the lower
    bound exclusive (a timeout of 0 means nothing)."""

    def __init__(
        self,
        kind: type = float,
        minimum: float | None = None,
        maximum: float | None = None,
        *,
        above: bool = False,
        unit: str = "",
    ) -> None:
        self.kind = kind
        self.minimum = minimum
        self.maximum = maximum
        self.above = above
        self.unit = unit
        self.name = "integer" if kind is int else "number"

    def _range(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        low = "" if self.minimum is None else f"{'>' if self.above else '>='} {self.minimum:g}"
        high = "" if self.maximum is None else f"<= {self.maximum:g}"
        return " and ".join(x for x in (low, high) if x) + unit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number: float = value
        else:
            text = str(value).strip()
            shown = text if len(text) <= 60 else text[:60] + "..."
            try:
                number = int(text, 10) if self.kind is int else float(text)
            except ValueError:
                self.fail(f"{shown!r} is not {'an integer' if self.kind is int else 'a number'}")
        if self.kind is float and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; give a value {self._range()}")
        low_bad = self.minimum is not None and (
            number <= self.minimum if self.above else number < self.minimum
        )
        high_bad = self.maximum is not None and number > self.maximum
        if low_bad or high_bad:
            shown = f"{number:g}" if self.kind is float else str(number)
            if len(shown) > 60:
                shown = shown[:60] + "..."
            self.fail(f"{shown} is out of range; give a value {self._range()}")
        return self.kind(number)


def seconds(minimum: float = 0, maximum: float = WEEK) -> Number:
    """A duration in seconds: above ``minimum`` (never zero or negative), at most a week."""
    return Number(float, minimum, maximum, above=True, unit="seconds")


def seconds_option(
    *names: str, default: float, help: str | None = None, kind: Number | None = None
) -> Callable[[F], F]:
    """An option of SECONDS (``kind``: :func:`seconds` unless given), its default shown:
    how long a command waits for something."""
    return click.option(
        *names,
        type=kind if kind is not None else seconds(),
        default=default,
        show_default=True,
        metavar="SECONDS",
        help=help,
    )
