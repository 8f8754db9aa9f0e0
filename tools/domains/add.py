"""``havirt domain add``: a new guest from its domain XML, or a removed one again from
the definition store, checked before anything changes, then made a Pacemaker resource.

In order, each refusal changing nothing:

1. the XML is a definition of that name (:mod:`.definition`) that libvirt's own schema
   accepts (:mod:`.schema`); added from the store, the XML is the store's current
   revision (:func:`stored`), checked the same way;
2. the CIB does not know the name; a new guest's name is not in the store either
   (:class:`InStore`), and a guest added from the store is in it (:class:`NotInStore`);
3. every node can run it (:mod:`.fit`, on the facts validate's probe collected: the
   caller's), and no guest of that name or UUID runs anywhere;
4. then a new guest's revision 1 goes into the store (from the store: nothing is
   stored), and the resource (its ``config`` the store's file, its utilization from the
   XML, ``target-role=Stopped``) and its order and colocation with the cluster's storage
   clones go into the CIB in one transaction (:func:`~havirt.tools.pacemaker.push_change`).
   A guest the inventory declares (:class:`Wishes`, from :mod:`.from_inventory`) carries
   the inventory's wishes instead: its parameters, live migration or not, its storage,
   preferred nodes and anti-affinity, as ``havirt generate`` renders them.
   When the CIB refuses, a new guest's revision 1 is purged again: the store holds no
   guest the cluster does not, except those it held before.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from havirt.tools.domains.definition import check_definition
from havirt.tools.domains.fit import Needs, judge_fit, read_needs
from havirt.tools.domains.schema import SCHEMA_DIR, check_schema
from havirt.tools.domains.store import Change, DefinitionStore
from havirt.tools.errors import BadRequest, HavirtError, Refused
from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.inventory.model import Policies
from havirt.tools.json_fields import fields_dict
from havirt.tools.pacemaker import PacemakerAdapter, push_change
from havirt.tools.userinput import parse_xml
from havirt.tools.validate.facts import NodeFacts
from havirt.tools.validate.probe import LOCAL_URI
from lxml import etree

if TYPE_CHECKING:
    from havirt.tools.generate.cib_plan import Constraint
    from havirt.tools.pacemaker.cib import Colocation


class NotRunnable(Refused):
    """Some node cannot run the guest; ``findings`` says which and why."""

    def __init__(self, message: str, hint: str, findings: list[Finding]) -> None:
        super().__init__(message, hint)
        self.findings = findings


class InStore(Refused):
    """A new guest's name is in the definition store but not in the cluster (removed,
    its history kept): it can be added again from the store."""

    def __init__(self, name: str, revision: int) -> None:
        super().__init__(
            f"{name} is already in the definition store (revision {revision}) but not in "
            "the cluster; nothing was changed",
            "add it again from the store (its current revision), or choose another name",
        )
        self.revision = revision


class NotInStore(Refused):
    """A guest to be added again from the store is not in it."""

    def __init__(self, name: str, root: str) -> None:
        super().__init__(
            f"{name} is not in the definition store {root}; nothing was changed",
            "add it from its domain XML, or check the name (havirt domain history NAME)",
        )


@dataclass(frozen=True)
class Wishes:
    """What the resource of a guest the inventory declares carries beyond its XML: the
    inventory's, as ``havirt generate`` renders them (:func:`.from_inventory.wishes`)."""

    hypervisor: str
    params: Mapping[str, str]
    migrate: bool
    constraints: tuple[Constraint, ...]  # after its storage, its preferred nodes
    # Anti-affinity with other guests: made with those the cluster has; with the others
    # when they are added (their own wishes name this guest).
    apart: tuple[Colocation, ...] = ()
    # A node's finding's item (fit's: "disk PATH", "domain type kvm") -> its fix, where
    # the inventory knows better: how to create the missing disk, say.
    fixes: Mapping[str, str] = field(default_factory=dict)
    # Where the inventory says the guest's XML is: `havirt generate` renders that, and
    # apply would point the resource there instead of at the store.
    config: str = ""


def _where(finding: Finding) -> str:
    """A finding as one line that names its node (and its fix)."""
    where = "" if finding.node in (None, "*") else f"{finding.node}: "
    fix = f"; fix: {finding.fix}" if finding.fix else ""
    return f"{where}{finding.message}{fix}"


@dataclass
class AddReport:
    """What ``add`` did (or, dry, would do)."""

    guest: str
    dry_run: bool
    nodes: list[str]  # the nodes it was checked on
    revision: int | None = None  # the store's, once stored (from the store: the one used)
    from_store: bool = False  # the store's revision was added again; nothing was stored
    resource: str = ""  # the primitive's XML
    constraints: list[str] = field(default_factory=list)  # their ids
    # The inventory's anti-affinity constraints left for later: the other guest is not
    # in the cluster yet (they are made when it is added from the inventory).
    waiting: list[str] = field(default_factory=list)
    from_inventory: bool = False  # it carries the inventory's wishes
    definition: str | None = None  # the XML stored (or, dry, to be): from the inventory
    warnings: list[str] = field(default_factory=list)  # what may still go wrong, per node

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


def stored(store: DefinitionStore, name: str) -> tuple[int, str]:
    """The current revision of ``name`` in the store and its XML; NotInStore when the
    store does not know it."""
    numbers = store.numbers(name)
    if not numbers:
        raise NotInStore(name, store.root)
    return numbers[-1], store.get(name, numbers[-1])


def _resource(
    needs: Needs, config: str, policies: Policies, clones: list[str], wishes: Wishes | None
) -> tuple[etree._Element, list[Constraint], tuple[Colocation, ...]]:
    """The guest's primitive, its constraints (with each storage clone, or the
    inventory's ``wishes``) and its anti-affinity with other guests (the wishes')."""
    from havirt.tools.generate.cib_plan import guest_primitive, primitive_xml, storage_constraints

    primitive = guest_primitive(
        needs.name,
        config,
        # The resource's hypervisor: each node's own libvirt, unless the inventory says.
        wishes.hypervisor if wishes else LOCAL_URI,
        policies,
        vcpus=needs.vcpus,
        memory_mib=-(-needs.memory_kib // 1024),
        params=wishes.params if wishes else None,
        migrate=wishes.migrate if wishes else True,
        meta=(("target-role", "Stopped"),),
    )
    if wishes is None:
        return primitive_xml(primitive), storage_constraints(needs.name, clones), ()
    return primitive_xml(primitive), list(wishes.constraints), wishes.apart


def _with_present(
    cib: etree._Element, name: str, constraints: list[Constraint], apart: tuple[Colocation, ...]
) -> list[Constraint]:
    """The constraints, and those of ``apart`` whose other guest is in the CIB; refused
    when the CIB already has one of their ids."""
    kept = list(constraints)
    for colocation in apart:
        other = colocation.with_rsc if colocation.rsc == name else colocation.rsc
        if cib.xpath("configuration/resources//*[@id=$id]", id=other):
            kept.append(colocation)
    for constraint in kept:
        if cib.xpath("configuration//*[@id=$id]", id=constraint.id):
            raise Refused(
                f"the CIB already has a constraint {constraint.id}; nothing was changed",
                f"remove it first (pcs constraint delete {constraint.id})",
            )
    return kept


def _wished_fixes(found: list[Finding], wishes: Wishes | None) -> list[Finding]:
    """The findings, each about a node the wishes know a better fix for with that fix."""
    fixes = wishes.fixes if wishes else {}
    return [
        replace(f, fix=fixes[f.item])
        if f.node not in (None, "*") and f.item is not None and f.item in fixes
        else f
        for f in found
    ]


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
    from_store: bool = False,
    wishes: Wishes | None = None,
) -> AddReport:
    """Check, store and create the guest ``needs.name`` (see the module doc). With
    ``from_store``, ``text`` is the store's current revision of it (:func:`stored`):
    checked alike, not stored again. With ``wishes`` (the inventory's), the resource
    carries them and ``clones`` is not used."""
    name = needs.name
    numbers = store.numbers(name)
    if from_store and not numbers:
        raise NotInStore(name, store.root)
    cib = parse_xml(pacemaker.cib_xml(), "the CIB")
    # The configuration only: a removed guest's operation history stays in the status
    # section for a while (under its id), and a guest added again takes it over.
    if cib.xpath("configuration//*[@id=$id]", id=name):
        if numbers:
            raise Refused(
                f"{name} is already in the definition store (revision {numbers[-1]}) and "
                "in the cluster; nothing was changed",
                "edit it (havirt domain edit), or choose another name",
            )
        raise Refused(
            f"the CIB already has an element with the id {name}; nothing was changed",
            "choose another name, or remove that resource first",
        )
    if numbers and not from_store:
        raise InStore(name, numbers[-1])
    found = _wished_fixes(judge_fit(needs, facts, reserve_mib, storage), wishes)
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
    from havirt.tools.generate.cib_plan import constraint_xml

    config = store.current_path(name)
    primitive, wished, apart = _resource(needs, config, policies, clones, wishes)
    made = _with_present(cib, name, wished, apart)
    constraints = [constraint_xml(c) for c in made]
    report = AddReport(
        name,
        dry_run,
        sorted(facts),
        resource=etree.tostring(primitive, encoding="unicode"),
        constraints=[c.id for c in made],
        waiting=[c.id for c in apart if c not in made],
        from_inventory=wishes is not None,
        definition=text if wishes is not None else None,
        warnings=[_where(f) for f in found if f.severity == WARNING],
    )
    if wishes is not None and wishes.config and wishes.config != config:
        report.warnings.append(
            f"the inventory puts {name}'s domain XML at {wishes.config}, so `havirt "
            f"generate` and apply would point its resource there instead of at the store "
            f"({config}); fix: remove that config from the inventory (guests with none run "
            "from the store)"
        )
    if from_store:
        report.revision, report.from_store = numbers[-1], True
    if dry_run:
        return report
    original = etree.tostring(cib)
    _insert(cib, primitive, constraints)
    if from_store:
        push_change(pacemaker, original, cib, scratch(), prefix="havirt-add-")
        return report
    report.revision = store.create(name, text, change).number
    try:
        push_change(pacemaker, original, cib, scratch(), prefix="havirt-add-")
    except HavirtError:
        store.purge(name)
        report.revision = None
        raise
    return report


def _insert(
    cib: etree._Element, primitive: etree._Element, constraints: list[etree._Element]
) -> None:
    """The guest's primitive and constraints, added to the CIB ``cib``."""
    resources = cib.find("configuration/resources")
    targets = cib.find("configuration/constraints")
    if resources is None or targets is None:
        raise HavirtError("the CIB has no resources or constraints section")
    resources.append(primitive)
    targets.extend(constraints)
