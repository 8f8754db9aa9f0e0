"""The constraints havirt writes into the CIB, by id, so it can always find its own.

* ``havirt-move-GUEST``: a temporary preference (INFINITY) for one node, with a
  lifetime. ``balance`` and ``unstandby --return`` add them for the length of
  a move and always delete them again; should havirt die in between, the rule
  simply stops applying when its lifetime ends, and the next havirt run sweeps
  it away. (``pcs resource move`` leaves its ``cli-prefer-*`` behind when a move
  fails, pcs#697; havirt never uses ``cli-*`` ids, so an admin's own
  ``crm_resource --move`` constraints are never touched.)
* ``havirt-prefer-GUEST-NODE``, ``havirt-avoid-GUEST-NODE``,
  ``havirt-apart-GUEST-GUEST2``: the admin's lasting placement wishes from
  ``havirt place``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from copy import deepcopy
from dataclasses import dataclass

from havirt.tools.pacemaker.cib import HAVIRT_MOVE_PREFIX, configuration
from havirt.tools.userinput import parse_xml
from lxml import etree

INFINITY = "INFINITY"
MOVE_PREFIX = HAVIRT_MOVE_PREFIX  # this module's name for it (place.py imports it from here)


@dataclass(frozen=True)
class Move:
    guest: str
    source: str | None
    target: str

    def to_dict(self) -> dict[str, str | None]:
        return {"guest": self.guest, "source": self.source, "target": self.target}


def move_id(guest: str) -> str:
    return f"{MOVE_PREFIX}{guest}"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def move_constraints(moves: Sequence[Move], expires: dt.datetime) -> etree._Element:
    """``<constraints>`` with one temporary ``havirt-move-GUEST`` per move."""
    root = etree.Element("constraints")
    for move in moves:
        cid = move_id(move.guest)
        loc = etree.SubElement(root, "rsc_location", id=cid, rsc=move.guest)
        rule = etree.SubElement(loc, "rule", id=f"{cid}-rule", score=INFINITY)
        rule.set("boolean-op", "and")
        etree.SubElement(
            rule, "expression", id=f"{cid}-node", attribute="#uname", operation="eq"
        ).set("value", move.target)
        etree.SubElement(
            rule, "date_expression", id=f"{cid}-lifetime", operation="lt", end=_iso(expires)
        )
    return root


def to_text(el: etree._Element) -> str:
    return etree.tostring(el, encoding="unicode")


@dataclass(frozen=True)
class MoveConstraint:
    id: str
    guest: str
    target: str
    expires: dt.datetime | None

    def expired(self, now: dt.datetime) -> bool:
        return self.expires is not None and self.expires <= now


def _parse_end(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def move_constraints_in(cib_xml: str) -> list[MoveConstraint]:
    """The ``havirt-move-*`` constraints a CIB (or its constraints section) holds."""
    root = parse_xml(cib_xml, "the CIB")
    out = []
    for loc in root.iter("rsc_location"):
        cid = loc.get("id", "")
        if not cid.startswith(MOVE_PREFIX):
            continue
        node = loc.find("rule/expression")
        end = loc.find("rule/date_expression")
        out.append(
            MoveConstraint(
                id=cid,
                guest=loc.get("rsc", ""),
                target=(node.get("value", "") if node is not None else loc.get("node", "")),
                expires=_parse_end(end.get("end") if end is not None else None),
            )
        )
    return out


def insert_constraints(cib: etree._Element, fragment: etree._Element) -> None:
    """Add a ``<constraints>`` fragment's children to a whole CIB (for simulations),
    replacing those with the same id as ``cibadmin --modify`` would."""
    section = cib.find("configuration/constraints")
    if section is None:
        section = etree.SubElement(configuration(cib), "constraints")
    remove_constraints(cib, [child.get("id", "") for child in fragment])
    for child in fragment:
        section.append(deepcopy(child))  # appending would move it out of the fragment


def remove_constraints(cib: etree._Element, ids: Iterable[str]) -> None:
    wanted = set(ids)
    section = cib.find("configuration/constraints")
    if section is None:
        return
    for child in list(section):
        if child.get("id") in wanted:
            section.remove(child)
