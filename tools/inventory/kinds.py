"""Value kinds of the inventory schema: each turns a parsed TOML value into a
Python value or reports, in words an admin understands, what was expected.

Scalar kinds raise :class:`Invalid`; the container kinds (:class:`Table`,
:class:`ArrayOf`, :class:`MapOf`) walk their content and report every problem
with its path, so one run lists all mistakes, not only the first.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from havirt.tools.inventory.locate import Path, render_path
from havirt.tools.userinput import quote

MISSING: Any = object()
T = TypeVar("T")

SIZE_UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
SIZE_UNITS |= {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
DURATION_UNITS = {"ms": 1, "s": 1000, "min": 60_000, "m": 60_000, "h": 3_600_000}
_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$")


# The largest whole number an inventory may hold anywhere (2**53: exact in JSON and
# far beyond any size in bytes or duration in milliseconds a cluster has).
LARGEST = 1 << 53


class Invalid(ValueError):
    """A value does not fit its kind; the message says what was expected."""


def describe_value(value: Any) -> str:
    """How a TOML value is shown in a message: 'lots', 3, true, a table, a list."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)  # printable, cut at 60 characters
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and abs(value) > LARGEST:
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    return quote(value)[1:-1] if isinstance(value, float) else str(value)


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """' (did you mean 'memory'?)' when a known word is close, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Problems:
    """Collects (path, message, severity) while a document is checked."""

    def __init__(self) -> None:
        self.items: list[tuple[Path, str, str]] = []

    def error(self, path: Path, message: str) -> None:
        self.items.append((path, message, "error"))

    def warning(self, path: Path, message: str) -> None:
        self.items.append((path, message, "warning"))

    @property
    def has_errors(self) -> bool:
        return any(severity == "error" for _, _, severity in self.items)


class Kind:
    """Base of all kinds: ``what`` names the expected value in messages and docs."""

    what = "a value"
    type_name = "value"  # the short word for the docs' type column

    def accepts(self, value: Any) -> bool:  # kinds that keep a value as it is narrow this
        return True

    def convert(self, value: Any) -> Any:  # kinds that change a value override this
        if not self.accepts(value):
            raise self.expected(value)
        return value

    def check(self, value: Any, path: Path, problems: Problems) -> Any:
        try:
            return self.convert(value)
        except Invalid as exc:
            problems.error(path, str(exc))
            return MISSING

    def expected(self, value: Any) -> Invalid:
        return Invalid(f"expected {self.what}, got {describe_value(value)}")

    def parse_text(self, value: Any, parse: Callable[[str], T]) -> T:
        """``parse`` of the string ``value`` without surrounding white space; the
        expected-error for anything else and for a string ``parse`` refuses
        (ValueError)."""
        if not isinstance(value, str):
            raise self.expected(value)
        try:
            return parse(value.strip())
        except ValueError:
            raise self.expected(value) from None


@dataclass(frozen=True)
class Text(Kind):
    what: str = "a string"
    pattern: str | None = None
    type_name: str = "string"

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None


@dataclass(frozen=True)
class AbsPath(Kind):
    what: str = "an absolute path like /srv/vms"
    type_name: str = "path"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value.startswith("/") and "\n" not in value


@dataclass(frozen=True)
class Integer(Kind):
    minimum: int | None = None
    maximum: int | None = None
    type_name: str = "integer"

    @property
    def what(self) -> str:  # type: ignore[override]  # computed in place of Kind's plain str
        if self.minimum is not None and self.maximum is not None:
            return f"a whole number from {self.minimum} to {self.maximum}"
        if self.minimum is not None:
            return f"a whole number of at least {self.minimum}"
        return "a whole number"

    def convert(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.expected(value)
        if abs(value) > LARGEST:
            raise Invalid(f"expected {self.what}, got {describe_value(value)}: too large")
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise self.expected(value)
        return value


@dataclass(frozen=True)
class Boolean(Kind):
    what: str = "true or false"
    type_name: str = "boolean"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True)
class Choice(Kind):
    choices: tuple[str, ...] = ()
    type_name: str = "choice"

    @property
    def what(self) -> str:  # type: ignore[override]  # computed in place of Kind's plain str
        return "one of " + ", ".join(f"'{c}'" for c in self.choices)  # ours, not the user's

    def convert(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            hint = did_you_mean(value, self.choices) if isinstance(value, str) else ""
            raise Invalid(f"expected {self.what}, got {describe_value(value)}{hint}")
        return value


@dataclass(frozen=True)
class Quantity(Kind):
    """A number with one of ``units``, as a quoted string; kept as a whole number of
    the base unit (the one worth 1). With ``fractions`` the number may have a decimal
    part ("1.5GiB")."""

    units: Mapping[str, int] = field(hash=False)
    what: str
    type_name: str
    fractions: bool = False

    @property
    def pattern(self) -> str:
        number = r"\d+(?:\.\d+)?" if self.fractions else r"\d+"
        return rf"^({number})\s*({'|'.join(map(re.escape, self.units))})$"

    def convert(self, value: Any) -> int:
        match = re.match(self.pattern, value.strip()) if isinstance(value, str) else None
        if match is None:
            if isinstance(value, int) and not isinstance(value, bool):
                raise Invalid(f"expected {self.what} (a quoted string with a unit), got {value}")
            raise self.expected(value)
        number = float(match.group(1)) if self.fractions else int(match.group(1))
        try:
            amount = int(number * self.units[match.group(2)])
        except (OverflowError, ValueError):  # "9999...9GiB": float infinity
            amount = LARGEST + 1
        if amount > LARGEST:
            raise Invalid(f"expected {self.what}, got {describe_value(value)}: too large")
        if amount <= 0:
            raise Invalid(f"expected {self.what} above zero, got {describe_value(value)}")
        return amount


# A size with a binary unit: "2GiB", "512MiB", "1.5G" (G = GiB, as in qemu-img).
SIZE = Quantity(SIZE_UNITS, "a size like 2GiB", "size", fractions=True)
# A time with a unit: "500ms", "10s", "2min", "1h"; kept in milliseconds.
DURATION = Quantity(DURATION_UNITS, "a duration like 30s", "duration")


@dataclass(frozen=True)
class Score(Kind):
    """A Pacemaker score: a whole number or INFINITY / -INFINITY."""

    what: str = "a score (a whole number, 'INFINITY' or '-INFINITY')"
    type_name: str = "score"

    def convert(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > 1_000_000:
                raise Invalid(
                    f"expected {self.what}, got {describe_value(value)}: scores beyond "
                    "1000000 are INFINITY; write INFINITY or -INFINITY"
                )
            return str(value)
        if isinstance(value, str) and value.strip().upper() in ("INFINITY", "+INFINITY"):
            return "INFINITY"
        if isinstance(value, str) and value.strip().upper() == "-INFINITY":
            return "-INFINITY"
        raise self.expected(value)


@dataclass(frozen=True)
class Mac(Kind):
    what: str = "a MAC address like 52:54:00:12:34:56"
    type_name: str = "MAC"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str) or not _MAC_RE.fullmatch(value):
            raise self.expected(value)
        mac = value.lower()  # duplicates are found whatever the case
        if mac == "ff:ff:ff:ff:ff:ff":
            raise Invalid(f"{mac} is the broadcast address, not a guest's MAC")
        if int(mac[:2], 16) & 1:
            raise Invalid(
                f"{mac} is a multicast address (the first octet is odd), not a guest's MAC; "
                "use e.g. 52:54:00:xx:xx:xx"
            )
        return mac


@dataclass(frozen=True)
class Address:
    """An IP address with the prefix length of its subnet when one was given."""

    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    prefix: int | None = None

    def __str__(self) -> str:
        return f"{self.ip}/{self.prefix}" if self.prefix is not None else str(self.ip)

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        if self.prefix is None:
            return None
        return ipaddress.ip_interface(str(self)).network


@dataclass(frozen=True)
class IPAddress(Kind):
    """An IP address, optionally with a prefix length ("192.168.77.11/24")."""

    what: str = "an IP address like 192.168.1.10 (optionally /24)"
    type_name: str = "address"
    allow_prefix: bool = True

    def convert(self, value: Any) -> Address:
        return self.parse_text(value, self._address)

    def _address(self, text: str) -> Address:
        if "/" not in text:
            return Address(ipaddress.ip_address(text))
        if not self.allow_prefix:
            raise ValueError(text)
        iface = ipaddress.ip_interface(text)
        return Address(iface.ip, iface.network.prefixlen)


@dataclass(frozen=True)
class Subnet(Kind):
    what: str = "a subnet like 192.168.1.0/24"
    type_name: str = "subnet"

    def convert(self, value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return self.parse_text(value, _network)


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if "/" not in text:  # ip_network would take a lone address as a /32
        raise ValueError(text)
    return ipaddress.ip_network(text, strict=True)


@dataclass(frozen=True)
class Scalar(Kind):
    """A free-form option value: string, number or boolean, passed on as text."""

    what: str = "a string, number or true/false"
    type_name: str = "scalar"

    def convert(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        raise self.expected(value)


@dataclass(frozen=True)
class ArrayOf(Kind):
    item: Kind = field(default_factory=Kind)
    min_items: int = 0
    type_name: str = "list"

    @property
    def what(self) -> str:  # type: ignore[override]  # computed in place of Kind's plain str
        return f"a list of {self.item.what}" if not isinstance(self.item, Table) else "tables"

    def check(self, value: Any, path: Path, problems: Problems) -> Any:
        if not isinstance(value, list):
            if isinstance(self.item, Table):
                problems.error(path, f"expected [[{render_path(path)}]] tables, got a value")
            else:
                problems.error(path, f"expected {self.what} in [...], got {describe_value(value)}")
            return MISSING
        if len(value) < self.min_items:
            problems.error(path, f"expected at least {self.min_items}, got {len(value)}")
        out = [self.item.check(v, (*path, i), problems) for i, v in enumerate(value)]
        return out if all(v is not MISSING for v in out) else MISSING


@dataclass(frozen=True)
class MapOf(Kind):
    """Free-form keys (matching ``key_pattern``) with values of one kind."""

    value: Kind = field(default_factory=Scalar)
    key_pattern: str = r"[A-Za-z_][A-Za-z0-9_.-]*"
    what: str = "a table of name = value"
    type_name: str = "table"

    def check(self, value: Any, path: Path, problems: Problems) -> Any:
        if not isinstance(value, dict):
            problems.error(path, f"expected {self.what}, got {describe_value(value)}")
            return MISSING
        out: dict[str, Any] = {}
        for key in sorted(value):
            if not re.fullmatch(self.key_pattern, key):
                problems.error((*path, key), f"{quote(key)} is not a valid name here")
                continue
            out[key] = self.value.check(value[key], (*path, key), problems)
        return out if all(v is not MISSING for v in out.values()) else MISSING


@dataclass(frozen=True)
class Field:
    """One key of a table: its kind, whether it must be given, its default, its meaning."""

    name: str
    kind: Kind
    doc: str
    required: bool = False
    default: Any = None  # the default as the admin would write it (converted on use)


@dataclass(frozen=True)
class Table(Kind):
    fields: tuple[Field, ...] = ()
    what: str = "a table"
    type_name: str = "table"
    # Extra check of the converted table, for rules spanning several keys.
    rule: Callable[[dict[str, Any], Path, Problems], None] | None = None

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def check(self, value: Any, path: Path, problems: Problems) -> Any:
        if not isinstance(value, dict):
            problems.error(path, f"expected a table, got {describe_value(value)}")
            return MISSING
        names = tuple(f.name for f in self.fields)
        for key in value:
            if key not in names:
                where = f" in [{render_path(path)}]" if path else ""
                problems.error(
                    (*path, key), f"unknown key {quote(key)}{where}{did_you_mean(key, names)}"
                )
        out: dict[str, Any] = {}
        ok = True
        for f in self.fields:
            if f.name in value:
                out[f.name] = f.kind.check(value[f.name], (*path, f.name), problems)
            elif f.required:
                where = f" in [{render_path(path)}]" if path else ""
                problems.error(path, f"missing key '{f.name}'{where}: {f.kind.what}")
                out[f.name] = MISSING
            elif f.default is not None:
                out[f.name] = f.kind.check(f.default, (*path, f.name), problems)
            elif isinstance(f.kind, Table):
                out[f.name] = f.kind.check({}, (*path, f.name), problems)
            elif isinstance(f.kind, ArrayOf):
                out[f.name] = []
            elif isinstance(f.kind, MapOf):
                out[f.name] = {}
            else:
                out[f.name] = None
            ok = ok and out[f.name] is not MISSING
        if ok and self.rule is not None:
            self.rule(out, path, problems)
        return out if ok else MISSING
