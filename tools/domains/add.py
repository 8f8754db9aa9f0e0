"""``havirt domain add``: a new guest from its domain XML, checked before anything
changes, then stored and made a Pacemaker resource.

In order, each refusal changing nothing:

1. the XML is a definition of that name (:mod:`.definition`) that libvirt's own schema
   accepts (:mod:`.schema`);
2. neither the store nor the CIB knows the name yet;
3. every node can run it (:mod:`.fit`, on the facts validate's probe collected: the
   caller's), and no guest of that name or UUID runs anywhere;
4. then revision 1 goes into the store, and the resource (its ``config`` the store's
   file, its utilization from the XML, ``target-role=Stopped``) and its order and
   colocation with the cluster's storage clones go into the CIB in one transaction
   (``pcs cluster cib-push diff-against``). When the CIB refuses, revision 1 is purged
   again: the store holds no guest the cluster does not.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from havirt.tools.domains.definition import check_definition
from havirt.tools.domains.fit import Needs, judge_fit, read_needs
from havirt.tools.domains.schema import SCHEMA_DIR, check_schema
from havirt.tools.domains.store import Change, DefinitionStore
from havirt.tools.errors import BadRequest, HavirtError, Refused
from havirt.tools.findings import ERROR, Finding
from havirt.tools.inventory.model import Policies
from havirt.tools.json_fields import fields_dict
from havirt.tools.pacemaker import PacemakerAdapter
from havirt.tools.userinput import parse_xml
from havirt.tools.validate.facts import NodeFacts
from lxml import etree

HYPERVISOR = "qemu:///system"


class NotRunnable(Refused):
    """Some node cannot run the guest; ``findings`` says which and why."""

    def __init__(self, message: str, hint: str, findings: list[Finding]) -> None:
        super().__init__(message, hint)
        self.findings = findings


@dataclass
class AddReport:
    """What ``add`` did (or, dry, would do)."""

    guest: str
    dry_run: bool
    nodes: list[str]  # the nodes it was checked on
    revision: int | None = None  # the store's, once stored
    resource: str = ""  # the primitive's XML
    constraints: list[str] = field(default_factory=list)  # their ids

    def to_dict(self) -> dict[str, object]:
        return fields_dict(self)


def read(name: str, text: str, what: str, schema_dir: str = SCHEMA_DIR) -> Needs:
    """What the guest needs of a node, once ``text`` is a definition of ``name`` that
    libvirt's schema accepts (BadRequest otherwise)."""
    check_definition(name, text, what)
    root = parse_xml(text, what)
    check_schema(root, what, schema_dir)
    try:
        return read_needs(root)
    except ValueError as exc:
        raise BadRequest(f"{what}: {exc}", "fix the XML and try again") from None


def _resource(
    needs: Needs, config: str, policies: Policies, clones: list[str]
) -> tuple[etree._Element, list[etree._Element]]:
    """The guest's primitive and its constraints with each storage clone."""
    from havirt.tools.generate.cib_plan import (
        Order,
        constraint_xml,
        guest_primitive,
        primitive_xml,
    )
    from havirt.tools.pacemaker.cib import Colocation

    primitive = guest_primitive(
        needs.name,
        config,
        HYPERVISOR,
        policies,
        vcpus=needs.vcpus,
        memory_mib=-(-needs.memory_kib // 1024),
        meta=(("target-role", "Stopped"),),
    )
    constraints: list[Order | Colocation] = []
    for clone in clones:
        constraints.append(Order(f"order-{clone}-{needs.name}-mandatory", clone, needs.name))
        constraints.append(
            Colocation(f"colocation-{needs.name}-{clone}-INFINITY", needs.name, clone, "INFINITY")
        )
    return primitive_xml(primitive), [constraint_xml(c) for c in constraints]


def add(
    pacemaker: PacemakerAdapter,
    store: DefinitionStore,
    text: str,
    needs: Needs,
    facts: Mapping[str, NodeFacts],
    *,
    policies: Policies,
    clones: list[str],
    change: Change,
    storage: Mapping[str, str] | None = None,
    reserve_mib: int = 1024,
    dry_run: bool = False,
    scratch: Callable[[], str] = tempfile.gettempdir,
) -> AddReport:
    """Check, store and create the guest ``needs.name`` (see the module doc)."""
    name = needs.name
    if store.numbers(name):
        raise Refused(
            f"{name} is already in the definition store (revision {store.latest(name)})",
            "edit it (havirt domain edit), or choose another name",
        )
    cib = parse_xml(pacemaker.cib_xml(), "the CIB")
    if cib.xpath("//*[@id=$id]", id=name):
        raise Refused(
            f"the CIB already has an element with the id {name}",
            "choose another name, or remove that resource first",
        )
    found = judge_fit(needs, facts, reserve_mib, storage)
    errors = [f for f in found if f.severity == ERROR]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise NotRunnable(
            f"{name} cannot be added: {first.message}{more}; nothing was changed",
            (first.fix if first.node in (None, "*") else f"on {first.node}: {first.fix}")
            if first.fix
            else "see the list above",
            errors,
        )
    primitive, constraints = _resource(needs, store.current_path(name), policies, clones)
    report = AddReport(
        name,
        dry_run,
        sorted(facts),
        resource=etree.tostring(primitive, encoding="unicode"),
        constraints=[c.get("id", "") for c in constraints],
    )
    if dry_run:
        return report
    report.revision = store.create(name, text, change).number
    try:
        _push(pacemaker, cib, primitive, constraints, scratch())
    except HavirtError:
        store.purge(name)
        report.revision = None
        raise
    return report


def _push(
    pacemaker: PacemakerAdapter,
    cib: etree._Element,
    primitive: etree._Element,
    constraints: list[etree._Element],
    directory: str,
) -> None:
    """The CIB with the guest added, pushed against the CIB read before: one transaction,
    refused when the CIB changed meanwhile."""
    with tempfile.TemporaryDirectory(prefix="havirt-add-", dir=directory) as tmp:
        original = os.path.join(tmp, "original.xml")
        with open(original, "wb") as handle:
            handle.write(etree.tostring(cib))
        resources = cib.find("configuration/resources")
        targets = cib.find("configuration/constraints")
        if resources is None or targets is None:
            raise HavirtError("the CIB has no resources or constraints section")
        resources.append(primitive)
        for constraint in constraints:
            targets.append(constraint)
        new = os.path.join(tmp, "new.xml")
        with open(new, "wb") as handle:
            handle.write(etree.tostring(cib))
        pacemaker.push_cib(new, original)
