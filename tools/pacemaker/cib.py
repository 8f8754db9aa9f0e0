"""The CIB's configuration section as values, for records and placement alike.

Read from ``cibadmin --query --scope configuration`` (through the Pacemaker
adapter): every primitive's agent, parameters, meta attributes and utilization
(resource templates resolved), each node's capacity (its utilization), and the
location and colocation constraints, with who left them where a tool did.
Pure parsing: no I/O here. (The status side is tools/pacemaker.parse_status.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from havirt.tools.errors import HavirtError
from havirt.tools.userinput import parse_xml
from lxml import etree

GUEST_TYPE = "VirtualDomain"  # ocf:havirt:VirtualDomain, ocf:heartbeat:VirtualDomain
# crm_resource --move / --ban (pcs resource move|ban, crm resource move|ban) name theirs so.
CLI_MOVE_PREFIX = "cli-prefer-"
CLI_BAN_PREFIX = "cli-ban-"
# havirt's own (tools/placement/constraints.py): temporary moves, and havirt place's wishes.
HAVIRT_MOVE_PREFIX = "havirt-move-"
HAVIRT_PLACE_PREFIXES = ("havirt-prefer-", "havirt-avoid-", "havirt-apart-")


def origin_of(constraint_id: str) -> str | None:
    """Who left a constraint, when a tool did: move, ban (crm_resource / pcs / crm),
    havirt-move (a temporary one of a havirt move), havirt-place (havirt place)."""
    if constraint_id.startswith(CLI_MOVE_PREFIX):
        return "move"
    if constraint_id.startswith(CLI_BAN_PREFIX):
        return "ban"
    if constraint_id.startswith(HAVIRT_MOVE_PREFIX):
        return "havirt-move"
    if constraint_id.startswith(HAVIRT_PLACE_PREFIXES):
        return "havirt-place"
    return None


@dataclass(frozen=True)
class Primitive:
    id: str
    agent: str  # ocf:havirt:VirtualDomain, stonith:fence_xvm
    type: str
    params: Mapping[str, str] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)
    utilization: Mapping[str, str] = field(default_factory=dict)
    parent: str | None = None  # the group, clone or bundle it is part of

    @property
    def is_guest(self) -> bool:
        return self.type == GUEST_TYPE and self.agent.startswith("ocf:")


@dataclass(frozen=True)
class Location:
    """One rsc_location constraint (or one rule of it) naming a resource."""

    id: str
    rsc: str  # the resource (or group/clone) it names; a pattern as /regex/
    score: str  # "INFINITY", "-INFINITY", "100", or "attribute NAME" for score-attribute
    node: str | None = None
    rule: str | None = None  # the rule's expressions as text, when it has one
    role: str | None = None

    @property
    def origin(self) -> str | None:
        return origin_of(self.id)

    def names(self, resource: str, parent: str | None = None) -> bool:
        """True when this constraint applies to ``resource`` (or to its ``parent``)."""
        wanted = [r for r in (resource, parent) if r]
        if self.rsc.startswith("/") and self.rsc.endswith("/") and len(self.rsc) > 1:
            try:
                return any(re.search(self.rsc[1:-1], r) for r in wanted)
            except re.error:
                return False
        return self.rsc in wanted


@dataclass(frozen=True)
class Colocation:
    """One two-resource rsc_colocation (sets are not shown)."""

    id: str
    rsc: str
    with_rsc: str
    score: str

    @property
    def origin(self) -> str | None:
        return origin_of(self.id)


@dataclass(frozen=True)
class CibConfig:
    primitives: Mapping[str, Primitive]
    node_capacity: Mapping[str, Mapping[str, str]]  # node name -> utilization
    locations: tuple[Location, ...]
    colocations: tuple[Colocation, ...] = ()
    node_attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def guests(self) -> tuple[Primitive, ...]:
        """The VirtualDomain primitives (any provider), in CIB order."""
        return tuple(p for p in self.primitives.values() if p.is_guest)

    def locations_of(self, resource: str) -> tuple[Location, ...]:
        primitive = self.primitives.get(resource)
        parent = primitive.parent if primitive else None
        return tuple(c for c in self.locations if c.names(resource, parent))

    def colocations_of(self, resource: str) -> tuple[Colocation, ...]:
        return tuple(c for c in self.colocations if resource in (c.rsc, c.with_rsc))


def _nvpairs(el: etree._Element | None, tag: str) -> dict[str, str]:
    """Name -> value of every ``tag`` set below ``el``; the first set naming a value wins
    (sets with rules are taken as they come: the records show, they do not evaluate)."""
    values: dict[str, str] = {}
    if el is None:
        return values
    for block in el.findall(tag):
        for pair in block.findall("nvpair"):
            name = pair.get("name")
            if name and name not in values:
                values[name] = pair.get("value", "")
    return values


def _agent(el: etree._Element) -> tuple[str, str]:
    standard, provider, kind = el.get("class", ""), el.get("provider"), el.get("type", "")
    if standard == "stonith":
        return f"stonith:{kind}", kind
    return ":".join(p for p in (standard, provider, kind) if p), kind


def _primitives(resources: etree._Element) -> dict[str, Primitive]:
    templates = {t.get("id"): t for t in resources.iterfind("template")}
    found: dict[str, Primitive] = {}
    for el in resources.iter("primitive"):
        parent = el.getparent()
        owner = parent.get("id") if parent is not None and parent.tag != "resources" else None
        if owner is not None and parent is not None and parent.tag == "group":
            grand = parent.getparent()  # a cloned group: the clone is what constraints name
            if grand is not None and grand.tag == "clone":
                owner = grand.get("id")
        template = templates.get(el.get("template")) if el.get("template") else None
        agent, kind = _agent(template if template is not None else el)
        values = {}
        for tag in ("instance_attributes", "meta_attributes", "utilization"):
            base = _nvpairs(template, tag) if template is not None else {}
            values[tag] = {**base, **_nvpairs(el, tag)}
        found[el.get("id", "")] = Primitive(
            id=el.get("id", ""),
            agent=agent,
            type=kind,
            params=values["instance_attributes"],
            meta=values["meta_attributes"],
            utilization=values["utilization"],
            parent=owner,
        )
    return found


def _rule_text(rule: etree._Element) -> str:
    parts = []
    for expr in rule:
        if expr.tag == "expression":
            value = expr.get("value")
            parts.append(
                " ".join(p for p in (expr.get("attribute"), expr.get("operation"), value) if p)
            )
        elif expr.tag == "date_expression":
            parts.append(f"date {expr.get('operation', '')}".strip())
        elif expr.tag == "rule":
            parts.append(f"({_rule_text(expr)})")
    return f" {rule.get('boolean-op', 'and')} ".join(parts)


def _locations(constraints: etree._Element | None) -> tuple[Location, ...]:
    found: list[Location] = []
    if constraints is None:
        return ()
    for el in constraints.iterfind("rsc_location"):
        cid = el.get("id", "")
        pattern = el.get("rsc-pattern")
        named = [el.get("rsc")] if el.get("rsc") else []
        named += [ref.get("id") for ref in el.iterfind("resource_set/resource_ref")]
        if pattern:
            named.append(f"/{pattern}/")
        rules = el.findall("rule")
        for rsc in filter(None, named):
            if not rules:
                found.append(
                    Location(cid, rsc, el.get("score", ""), el.get("node"), role=el.get("role"))
                )
            for rule in rules:
                score = rule.get("score") or (
                    f"attribute {rule.get('score-attribute')}"
                    if rule.get("score-attribute")
                    else ""
                )
                found.append(
                    Location(cid, rsc, score, rule=_rule_text(rule), role=rule.get("role"))
                )
    return tuple(found)


def configuration(cib: etree._Element) -> etree._Element:
    """The ``<configuration>`` of a whole CIB; HavirtError when it has none."""
    config = cib.find("configuration")
    if config is None:
        raise HavirtError("the CIB has no <configuration>", "check the CIB (cibadmin --query)")
    return config


def parse_config(xml: str) -> CibConfig:
    """A CibConfig from ``cibadmin --query`` (the whole CIB or its configuration scope)."""
    root = parse_xml(xml, "the CIB")
    config = root if root.tag == "configuration" else root.find("configuration")
    if config is None:
        raise HavirtError("the CIB has no <configuration>", "check the CIB (cibadmin --query)")
    resources = config.find("resources")
    nodes = config.find("nodes")
    capacity = {
        n.get("uname", ""): _nvpairs(n, "utilization")
        for n in (nodes if nodes is not None else [])
        if n.tag == "node"
    }
    constraints = config.find("constraints")
    colocations = tuple(
        Colocation(el.get("id", ""), el.get("rsc", ""), el.get("with-rsc", ""), el.get("score", ""))
        for el in (constraints.iterfind("rsc_colocation") if constraints is not None else [])
        if el.get("rsc") and el.get("with-rsc")
    )
    return CibConfig(
        primitives=_primitives(resources) if resources is not None else {},
        node_capacity=capacity,
        locations=_locations(constraints),
        colocations=colocations,
        node_attributes={
            n.get("uname", ""): _nvpairs(n, "instance_attributes")
            for n in (nodes if nodes is not None else [])
            if n.tag == "node"
        },
    )
