"""Agent parameters, declared once as data.

The same declaration drives environment parsing and validation (here), the
meta-data XML (``metadata.py``) and the parameter tables in the docs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, NamedTuple

from .errors import configured

ParamType = Literal["string", "integer", "boolean", "time"]

# ocf_is_true() in resource-agents' shell library accepts these spellings.
TRUE_WORDS = frozenset({"1", "yes", "true", "on", "ja", "y"})
FALSE_WORDS = frozenset({"0", "no", "false", "off", "nein", "n", ""})

# int() alone would also take "1_000" and non-ASCII digits.
_INTEGER = re.compile(r"[+-]?[0-9]+")
# A Pacemaker time: a number with an optional unit (seconds when none is given).
_TIME = re.compile(r"[0-9]+(\.[0-9]+)?\s*(ms|msec|us|usec|s|sec|m|min|h|hr)?", re.IGNORECASE)
# Set by Pacemaker for every agent as OCF_RESKEY_*, though no agent declares them.
PACEMAKER_RESKEYS = frozenset({"crm_feature_set"})


def parse_bool(text: str) -> bool | None:
    """Return the boolean an OCF boolean spelling means, None when it means neither."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


class Deprecation(NamedTuple):
    """Marks a parameter as deprecated; ``replaced_with`` names its successor."""

    desc: str
    replaced_with: str | None = None


class Parameter(NamedTuple):
    name: str
    shortdesc: str
    longdesc: str
    type: ParamType = "string"
    default: str | None = None  # as the OCF text Pacemaker would pass
    required: bool = False
    unique: bool = False
    reloadable: bool = False
    deprecated: Deprecation | None = None
    choices: tuple[str, ...] | None = None  # allowed values of a string parameter
    minimum: int | None = None  # for integers
    # Extra check of the parsed value; returns an error text (naming the fix) or None.
    check: Callable[[Any], str | None] | None = None
    # A word for the unit in error messages and docs ("MiB/s", "ms").
    unit: str | None = None

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
                    f"parameter '{self.name}': '{raw}' is not a boolean "
                    "(use true/false, yes/no, 1/0)"
                )
        elif self.type == "integer":
            try:
                if not _INTEGER.fullmatch(raw.strip()):
                    raise ValueError(raw)
                value = int(raw.strip(), 10)
            except ValueError:
                unit = f" ({self.unit})" if self.unit else ""
                raise configured(
                    f"parameter '{self.name}': '{raw}' is not a whole number{unit}"
                ) from None
            if self.minimum is not None and value < self.minimum:
                raise configured(
                    f"parameter '{self.name}': {value} is below the minimum {self.minimum}"
                )
        elif self.type == "time" and not _TIME.fullmatch(raw.strip()):
            raise configured(
                f"parameter '{self.name}': '{raw}' is not a time "
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
                    f"parameter '{self.name}': unknown value '{value}' "
                    f"(choose one of: {', '.join(c for c in self.choices if c) or 'none'})"
                )
        if self.check is not None and value is not None:
            problem = self.check(value)
            if problem:
                raise configured(f"parameter '{self.name}': {problem}")
        return value


class Params(dict[str, Any]):
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

    def __iter__(self):
        return iter(self.parameters)

    def parse(self, reskeys: Mapping[str, str]) -> Params:
        """Parse every declared parameter from the OCF_RESKEY_* values (without prefix)."""
        return Params((p.name, p.parse(reskeys.get(p.name))) for p in self.parameters)

    def unknown(self, reskeys: Mapping[str, str]) -> list[str]:
        """Names given to the agent that it does not declare (typos, other agents' names)."""
        return sorted(
            k
            for k in reskeys
            if k not in self.by_name
            and k not in PACEMAKER_RESKEYS
            and not k.startswith("CRM_meta_")
        )
