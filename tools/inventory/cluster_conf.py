"""Import of the seed runbook's ``cluster.conf`` into inventory guests.

The runbook's format: one guest per line, tab-delimited fields *name*, *MAC
address*, *IP address*, *RAM* (megabytes), *disk size* (gigabytes), *cpu
count* and *hostgroups* (a possibly empty list, separated by commas or
blanks). Lines starting with ``#`` and blank lines are skipped; runs of tabs
count as one separator.

:func:`import_text` returns ``[[guests]]`` tables in TOML; appended to an
existing inventory (``into``) the result is checked as a whole, and nothing is
returned unless it is valid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from havirt.tools.inventory.kinds import Invalid, IPAddress, Mac
from havirt.tools.inventory.loader import check_text
from havirt.tools.inventory.model import MIB, size_text
from havirt.tools.inventory.problem import InventoryError, Problem
from havirt.tools.inventory.schema import RESOURCE_NAME

GIB = 1 << 30


@dataclass(frozen=True)
class Entry:
    line: int
    name: str
    mac: str
    ip: str
    memory: int  # bytes
    disk: int | None  # bytes, None for 0
    vcpus: int
    hostgroups: tuple[str, ...]


def _number(text: str, what: str, minimum: int) -> int:
    if not re.fullmatch(r"\d+", text) or int(text) < minimum:
        raise Invalid(f"{what}: expected a whole number of at least {minimum}, got {text!r}")
    return int(text)


def parse(text: str, source: str = "cluster.conf") -> list[Entry]:
    """Every entry; raise InventoryError with each bad line's number."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = re.split(r"\t+", line)
        if len(fields) < 6:
            problems.append(
                Problem(
                    source,
                    number,
                    "",
                    f"expected 6 or 7 tab-separated fields (name, MAC, IP, RAM MB, disk GB, "
                    f"CPUs[, hostgroups]), got {len(fields)}",
                )
            )
            continue
        name, mac, ip, ram, disk, cpus = (f.strip() for f in fields[:6])
        groups = tuple(g for g in re.split(r"[\s,]+", " ".join(fields[6:])) if g)
        try:
            if not re.fullmatch(RESOURCE_NAME, name):
                raise Invalid(f"name: {name!r} is not a guest name (a letter first)")
            entry = Entry(
                number,
                name,
                Mac().convert(mac),
                str(IPAddress(allow_prefix=False).convert(ip)),
                _number(ram, "RAM (MB)", 1) * MIB,
                (_number(disk, "disk (GB)", 0) * GIB) or None,
                _number(cpus, "CPUs", 1),
                groups,
            )
        except Invalid as exc:
            problems.append(Problem(source, number, "", str(exc)))
            continue
        for key, value in (("name", entry.name), ("MAC", entry.mac), ("IP", entry.ip)):
            if (key, value) in seen:
                problems.append(
                    Problem(
                        source,
                        number,
                        "",
                        f"duplicate {key} {value} (also on line {seen[(key, value)]})",
                    )
                )
            else:
                seen[(key, value)] = number
        entries.append(entry)
    if problems:
        raise InventoryError(source, problems)
    return entries


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def to_toml(entries: list[Entry], source: str) -> str:
    out = [f"# Guests imported from {source} by `havirt inventory import`.\n"]
    for e in entries:
        out.append("\n[[guests]]\n")
        out.append(f"name = {_toml_string(e.name)}\n")
        out.append(f"vcpus = {e.vcpus}\n")
        out.append(f"memory = {_toml_string(size_text(e.memory))}\n")
        if e.disk:
            out.append(f"disk = {{ size = {_toml_string(size_text(e.disk))} }}\n")
        out.append(f"mac = {_toml_string(e.mac)}\n")
        out.append(f"ip = {_toml_string(e.ip)}\n")
        if e.hostgroups:
            groups = ", ".join(_toml_string(g) for g in e.hostgroups)
            out.append(f"hostgroups = [{groups}]\n")
    return "".join(out)


def import_text(
    text: str,
    source: str = "cluster.conf",
    into: str | None = None,
    into_source: str = "inventory.toml",
) -> str:
    """The guests of a cluster.conf as TOML; with ``into``, that inventory's text with
    the guests appended, checked as a whole (InventoryError if it has errors)."""
    guests = to_toml(parse(text, source), source)
    if into is None:
        return guests
    combined = into.rstrip("\n") + "\n\n" + guests
    result = check_text(combined, into_source)
    if not result.ok:
        raise InventoryError(into_source, result.problems)
    return combined
