"""Agent parameters, declared once as data.

The same declaration drives environment parsing and validation (here), the
meta-data XML (``metadata.py``) and the parameter tables in the docs.
"""

from __future__ import annotations

from havirt.ocf.errors import OcfError, configured
from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from typing import Any, Literal

    ParamType = Literal["string", "integer", "boolean", "time"]

# ocf_is_true() in resource-agents' shell library accepts these spellings.
TRUE_WORDS = frozenset({"1", "yes", "true", "on", "ja", "y"})
FALSE_WORDS = frozenset({"0", "no", "false", "off", "nein", "n", ""})

# Set by Pacemaker for every agent as OCF_RESKEY_*, though no agent declares them.
PACEMAKER_RESKEYS = frozenset({"crm_feature_set"})
_DIGITS = frozenset("0123456789")
_TIME_UNITS = frozenset({"", "ms", "msec", "us", "usec", "s", "sec", "m", "min", "h", "hr"})


ECHO_LIMIT = 60


def shown(value: object) -> str:
    """A user's value quoted in an error: printable, at most ECHO_LIMIT characters
    and "..." (a 10 MB value must not become a 10 MB exit reason)."""
    text = value if isinstance(value, str) else str(value)
    cut = text[:ECHO_LIMIT]
    printable = "".join(c if c.isprintable() else "?" for c in cut)
    return f"'{printable}'" + ("..." if len(text) > ECHO_LIMIT else "")


def is_integer(text: str) -> bool:
    """Plain ASCII digits with an optional sign (int() alone also takes "1_000", "٣")."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return bool(digits) and set(digits) <= _DIGITS


def _is_time(text: str) -> bool:
    """A Pacemaker time: a number with an optional unit (seconds when none is given)."""
    end = len(text)
    while end and text[end - 1].isalpha():
        end -= 1
    number, unit = text[:end].rstrip(), text[end:].lower()
    return unit in _TIME_UNITS and is_decimal(number)


def is_decimal(text: str) -> bool:
    """Plain ASCII digits with an optional fraction ("5", "2.5"); no sign, no exponent."""
    whole, dot, fraction = text.partition(".")
    if not whole or not set(whole) <= _DIGITS:
        return False
    return not dot or (bool(fraction) and set(fraction) <= _DIGITS)


def parse_bool(text: str) -> bool | None:
    """Return the boolean an OCF boolean spelling means, None when it means neither."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


class Deprecation(Record):
    """Marks a parameter as deprecated; ``replaced_with`` names its successor."""

    _defaults = {"replaced_with": None}

    desc: str
    replaced_with: str | None


class Parameter(Record):
    _defaults = {
        "type": "string",
        "default": None,
        "required": False,
        "unique": False,
        "reloadable": False,
        "deprecated": None,
        "choices": None,
        "minimum": None,
        "maximum": None,
        "check": None,
        "unit": None,
    }
    name: str
    shortdesc: str
    longdesc: str
    type: ParamType
    default: str | None  # as the OCF text Pacemaker would pass
    required: bool
    unique: bool
    reloadable: bool
    deprecated: Deprecation | None
    choices: tuple[str, ...] | None  # allowed values of a string parameter
    minimum: int | None  # for integers
    maximum: int | None  # for integers: beyond it the value cannot mean what it says
    # Extra check of the parsed value; returns an error text (naming the fix) or None.
    check: Callable[[Any], str | None] | None
    # A word for the unit in error messages and docs ("MiB/s", "ms").
    unit: str | None

    def parse(self, raw: str | None) -> Any:
        """Turn the raw environment text into a typed value; raise OcfError if malformed."""
        if raw is None or (raw == "" and self.type != "string"):
            raw = self.default
        if raw is None:
            if self.required:
                raise configured(
                    f"required parameter '{self.name}' is not set: "
                    f"add {self.name}=... to the resource"
                )
            return None
        value: Any
        if self.type == "boolean":
            value = parse_bool(raw)
            if value is None:
                raise configured(
                    f"parameter '{self.name}': {shown(raw)} is not a boolean "
                    "(use true/false, yes/no, 1/0)"
                )
        elif self.type == "integer":
            text = raw.strip()
            if not is_integer(text):
                unit = f" ({self.unit})" if self.unit else ""
                raise configured(
                    f"parameter '{self.name}': {shown(raw)} is not a whole number{unit}"
                )
            # int() of thousands of digits is slow or refused: such a value is out of range
            value = int(text, 10) if len(text) <= 40 else int(text[0] + "1" + "0" * 40)
            if self.minimum is not None and value < self.minimum:
                raise configured(
                    f"parameter '{self.name}': {shown(text)} is below the minimum {self.minimum}"
                )
            if self.maximum is not None and value > self.maximum:
                unit = f" {self.unit}" if self.unit else ""
                raise configured(
                    f"parameter '{self.name}': {shown(text)} is above the maximum "
                    f"{self.maximum}{unit}"
                )
        elif self.type == "time" and not _is_time(raw.strip()):
            raise configured(
                f"parameter '{self.name}': {shown(raw)} is not a time "
                "(use a number with an optional unit: ms, s, min, h; e.g. 30s)"
            )
        else:
            value = raw
            if self.required and value.strip() == "":
                raise configured(
                    f"required parameter '{self.name}' is empty: "
                    f"set {self.name}=... on the resource"
                )
            if self.choices is not None and value not in self.choices:
                raise configured(
                    f"parameter '{self.name}': unknown value {shown(value)} "
                    f"(choose one of: {', '.join(c for c in self.choices if c) or 'none'})"
                )
        if self.check is not None and value is not None:
            problem = self.check(value)
            if problem:
                raise configured(f"parameter '{self.name}': {problem}")
        return value


if TYPE_CHECKING:
    _ParamsBase = dict[str, Any]
else:
    _ParamsBase = dict  # subscripting would need typing's Any at run time


class Params(_ParamsBase):
    """Parsed parameter values, readable as attributes (``params.config``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class ParameterSet:
    def __init__(self, parameters: Iterable[Parameter]) -> None:
        self.parameters: tuple[Parameter, ...] = tuple(parameters)
        names = [p.name for p in self.parameters]
        if len(names) != len(set(names)):
            raise ValueError("duplicate parameter names in declaration")
        self.by_name = {p.name: p for p in self.parameters}

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def parse(self, reskeys: Mapping[str, str]) -> Params:
        """Parse every declared parameter from the OCF_RESKEY_* values (without prefix)."""
        return Params((p.name, p.parse(reskeys.get(p.name))) for p in self.parameters)

    def parse_lenient(self, reskeys: Mapping[str, str]) -> Params:
        """Like parse, but a malformed value falls back to its default (None if required).

        For stop and probe under an invalid configuration: they must still find and
        handle what may be running."""
        values = Params()
        for param in self.parameters:
            try:
                values[param.name] = param.parse(reskeys.get(param.name))
            except OcfError:
                values[param.name] = None if param.required else param.parse(None)
        return values

    def unknown(self, reskeys: Mapping[str, str]) -> list[str]:
        """Names given to the agent that it does not declare (typos, other agents' names)."""
        return sorted(
            k
            for k in reskeys
            if k not in self.by_name
            and k not in PACEMAKER_RESKEYS
            and not k.startswith("CRM_meta_")
        )
