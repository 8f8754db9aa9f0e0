"""Compare a generated CIB with the live one, and push it as ONE transaction.

The generated ``cib.xml`` is what the inventory asks for; the live CIB also
holds what havirt does not manage (other resources, admins' constraints such
as ``cli-prefer-*``, node attributes like standby). :func:`merge` lays the
generated parts over a copy of the live CIB, by id:

* cluster properties and resource defaults: each generated name is set, others kept;
* nodes: the generated capacity (utilization) is set on the node of that name;
* resources and constraints: a generated element replaces the live one with
  its id, or is added. Runtime switches an admin sets with pcs -- a resource's
  ``target-role`` (disable), ``is-managed`` (unmanage), ``maintenance`` -- are
  kept, so applying never starts a guest someone stopped on purpose;
* nothing is deleted: a live havirt guest missing from the inventory is
  reported, for the admin to remove with ``pcs resource delete``.

:func:`apply_directory` pushes the merged CIB with ``pcs cluster cib-push NEW
diff-against=LIVE`` (one patch, one transaction) after ``crm_verify`` accepted
it, and only if the live CIB's configuration is still the one the directory
was compared against (``havirt generate --diff`` recorded it).
"""

from __future__ import annotations

import copy
import difflib
import os
from dataclasses import dataclass, field
from typing import Any

from havirt.tools.errors import Conflict, HavirtError
from havirt.tools.generate import (
    CIB_XML,
    LIVE_CIB,
    MANIFEST,
    manifest_text,
    read_manifest,
    sha256,
    write_file,
)
from havirt.tools.inventory.cluster_options import weakens_safety
from havirt.tools.json_fields import fields_dict
from havirt.tools.pacemaker import CibVersion, PacemakerAdapter, push_change, verify_lines
from havirt.tools.userinput import parse_xml, quote, read_bytes
from lxml import etree

# Meta attributes pcs sets at run time (disable, unmanage, maintenance): never overwritten.
RUNTIME_META = ("target-role", "is-managed", "maintenance")


class LiveCibChanged(Conflict):
    """The live CIB's configuration is not the one the directory was compared against."""


def parse(xml: str | bytes, what: str = "the CIB") -> etree._Element:
    """A CIB from outside (a file, cibadmin): HavirtError, one line, when malformed."""
    return parse_xml(xml, what, remove_blank_text=True)


def _find(parent: etree._Element, tag: str, attr: str, value: str | None) -> Any:
    """The first ``tag`` child whose ``attr`` is ``value`` (not an XPath built from a
    value of the live CIB: a quote in an id would break it)."""
    return next((el for el in parent.iterfind(tag) if el.get(attr) == value), None)


def _canonical(el: etree._Element) -> bytes:
    return etree.tostring(el, method="c14n")


@dataclass
class Merge:
    """The merged CIB and what changed, by kind and id."""

    cib: etree._Element
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_in_inventory: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed)

    def xml(self) -> str:
        return etree.tostring(self.cib, pretty_print=True, encoding="unicode")

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self, skip=("cib",))


def _child(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    found = parent.find(tag)
    if found is None:
        found = etree.SubElement(parent, tag, attrs)
    return found


def _generated(gconfig: etree._Element, tag: str) -> etree._Element:
    """A section havirt generate always writes (a hand-edited file may lack it)."""
    section = gconfig.find(tag)
    if section is None:
        raise HavirtError(f"the generated CIB has no <{tag}> in its <configuration>")
    return section


def _merge_nvpairs(
    target_set: etree._Element, generated_set: etree._Element, label: str, m: Merge
) -> None:
    """Set each generated nvpair (by name) in ``target_set``; keep the others."""
    set_id = target_set.get("id", "")
    for pair in generated_set.findall("nvpair"):
        name, value = pair.get("name", ""), pair.get("value", "")
        what = f"{label} {name}"
        live = next((p for p in target_set.findall("nvpair") if p.get("name") == name), None)
        if live is None:
            etree.SubElement(target_set, "nvpair", id=f"{set_id}-{name}", name=name, value=value)
            m.added.append(what)
        elif live.get("value") != value:
            live.set("value", value)
            m.changed.append(what)
        else:
            m.unchanged.append(what)


def _merge_set(
    container: etree._Element, generated: etree._Element | None, tag: str, label: str, m: Merge
) -> None:
    """Merge generated ``container/tag`` nvpairs into the live container's first such set."""
    if generated is None:
        return
    gen_set = generated.find(tag)
    if gen_set is None:
        return
    live_set = container.find(tag)
    if label == "property":  # Pacemaker's own set; other property sets may have rules
        live_set = _find(container, tag, "id", gen_set.get("id"))
    if live_set is None:
        live_set = etree.SubElement(container, tag, id=gen_set.get("id", ""))
    _merge_nvpairs(live_set, gen_set, label, m)


def _keep_runtime_meta(live: etree._Element, new: etree._Element) -> None:
    """Copy target-role & co. from a live primitive/clone to its replacement."""
    pairs = [p for p in live.findall("meta_attributes/nvpair") if p.get("name") in RUNTIME_META]
    if pairs:
        meta = new.find("meta_attributes")
        if meta is None:
            meta = etree.Element("meta_attributes", id=f"{new.get('id')}-meta_attributes")
            # meta_attributes before operations, as pcs writes it
            ops = new.find("operations")
            if ops is not None:
                ops.addprevious(meta)
            else:
                new.append(meta)
        names = {p.get("name") for p in meta.findall("nvpair")}
        for pair in pairs:
            if pair.get("name") not in names:
                meta.append(copy.deepcopy(pair))
    for live_child in live.findall("primitive"):
        new_child = _find(new, "primitive", "id", live_child.get("id"))
        if new_child is not None:
            _keep_runtime_meta(live_child, new_child)


def _merge_by_id(
    live_section: etree._Element, generated_section: etree._Element, label: str, m: Merge
) -> None:
    for gen in generated_section:
        rid = gen.get("id", "")
        what = f"{label} {rid}"
        found = live_section.xpath(".//*[@id=$id]", id=rid)
        if not found:
            live_section.append(copy.deepcopy(gen))
            m.added.append(what)
            continue
        live = found[0]
        if live.getparent() is not live_section or live.tag != gen.tag:
            where = live.getparent().get("id") if live.getparent() is not live_section else None
            detail = f"inside {where}" if where else f"a <{live.tag}>"
            raise HavirtError(
                f"the live CIB has {rid} as {detail}, the inventory makes it a top-level "
                f"<{gen.tag!s}>",  # a str once parsed (the stubs allow the bytes one may set)
                hint=f"remove or rename the live {rid} first (pcs resource delete / "
                "pcs constraint delete), then apply again",
            )
        new = copy.deepcopy(gen)
        _keep_runtime_meta(live, new)
        if _canonical(new) == _canonical(live):
            m.unchanged.append(what)
        else:
            live.addprevious(new)
            live_section.remove(live)
            m.changed.append(what)


def _merge_nodes(live_nodes: etree._Element, gen_nodes: etree._Element, m: Merge) -> None:
    for gen in gen_nodes.findall("node"):
        uname = gen.get("uname", "")
        live = _find(live_nodes, "node", "uname", uname)
        gen_util = gen.find("utilization")
        if live is None:
            clash = _find(live_nodes, "node", "id", gen.get("id"))
            if clash is not None:
                raise HavirtError(
                    f"node {uname} is not in the live CIB, and its id {gen.get('id')} is "
                    f"node {clash.get('uname')}'s",
                    hint="the cluster was not set up from this inventory's corosync.conf: "
                    "check the nodes' names and order",
                )
            live_nodes.append(copy.deepcopy(gen))
            m.added.append(f"node {uname}")
            continue
        if gen_util is None:
            continue
        util = live.find("utilization")
        if util is None:
            util = etree.SubElement(live, "utilization", id=f"nodes-{live.get('id')}-utilization")
        _merge_nvpairs(util, gen_util, f"node {uname} utilization", m)


def merge(live_xml: str | bytes, generated_xml: str | bytes) -> Merge:
    """The live CIB with the generated configuration laid over it (see module doc)."""
    live = parse(live_xml, "the live CIB")
    gen = parse(generated_xml, "the generated cib.xml")
    if live.tag != "cib":
        raise HavirtError(
            f"the live CIB's root element is <{quote(live.tag, 40)[1:-1]}>, not <cib>",
            "check CIB_file or the cluster (cibadmin --query)",
        )
    m = Merge(live)
    config = _child(live, "configuration")
    gconfig = gen.find("configuration")
    if gconfig is None:
        raise HavirtError("the generated CIB has no <configuration>")
    crm_config = _child(config, "crm_config")
    _merge_set(crm_config, gconfig.find("crm_config"), "cluster_property_set", "property", m)
    _merge_nodes(_child(config, "nodes"), _generated(gconfig, "nodes"), m)
    _merge_by_id(_child(config, "resources"), _generated(gconfig, "resources"), "resource", m)
    _merge_by_id(_child(config, "constraints"), _generated(gconfig, "constraints"), "constraint", m)
    rsc_defaults = _child(config, "rsc_defaults")
    _merge_set(rsc_defaults, gconfig.find("rsc_defaults"), "meta_attributes", "resource default", m)
    if not len(rsc_defaults):
        config.remove(rsc_defaults)
    generated_ids = {el.get("id") for el in gconfig.iterfind("resources/*")}
    for prim in config.iterfind("resources//primitive"):
        if (
            prim.get("provider") == "havirt"
            and prim.get("type") == "VirtualDomain"
            and prim.get("id") not in generated_ids
        ):
            m.not_in_inventory.append(prim.get("id", ""))
    return m


def configuration_text(cib: etree._Element) -> list[str]:
    """The configuration section, pretty-printed, as lines (what the diff compares)."""
    config = cib.find("configuration")
    if config is None:
        return []
    el = copy.deepcopy(config)
    for node in el.iter():
        node.tail = None
        if len(node):
            node.text = None
    return etree.tostring(el, pretty_print=True, encoding="unicode").splitlines(keepends=True)


def unified_diff(live_xml: str | bytes, m: Merge) -> str:
    return "".join(
        difflib.unified_diff(
            configuration_text(parse(live_xml)),
            configuration_text(m.cib),
            fromfile="live CIB",
            tofile="after havirt apply",
        )
    )


# -- the directory side ------------------------------------------------------------------


@dataclass
class Comparison:
    live_version: CibVersion
    merge: Merge
    diff: str

    def to_dict(self) -> dict[str, Any]:
        return {"live_version": str(self.live_version), **self.merge.to_dict(), "diff": self.diff}


def _read(path: str) -> bytes:
    return read_bytes(path, "generated file")


def _checked_generated(directory: str, manifest: dict[str, Any]) -> bytes:
    """cib.xml, refused if it was edited since havirt wrote it."""
    data = _read(os.path.join(directory, CIB_XML))
    if manifest.get("files", {}).get(CIB_XML) != sha256(data):
        raise HavirtError(
            f"{directory}/{CIB_XML} changed since havirt generate wrote it",
            hint="change the inventory and generate again; hand edits would be lost",
        )
    return data


def record_live(directory: str, pacemaker: PacemakerAdapter) -> Comparison:
    """Read the live CIB, keep it as live-cib.xml (recorded in the manifest), compare."""
    manifest = read_manifest(directory)
    generated = _checked_generated(directory, manifest)
    live_xml = pacemaker.cib_xml()
    version = CibVersion.of(live_xml)
    m = merge(live_xml, generated)  # a malformed live CIB is refused before anything is written
    write_file(directory, LIVE_CIB, live_xml)
    manifest["live_cib"] = {
        "file": LIVE_CIB,
        "admin_epoch": version.admin_epoch,
        "epoch": version.epoch,
        "num_updates": version.num_updates,
    }
    write_file(directory, MANIFEST, manifest_text(manifest))
    return Comparison(version, m, unified_diff(live_xml, m))


@dataclass
class ApplyReport:
    pushed: bool
    live_version: str
    merge: dict[str, Any]
    warnings: list[str]  # crm_verify's
    unsafe: list[str] = field(default_factory=list)  # fencing or quorum off (safety_warnings)

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self, skip=("merge",), after={"merge": self.merge})


def apply_directory(directory: str, pacemaker: PacemakerAdapter) -> ApplyReport:
    """Push a generated directory's CIB to the cluster as one transaction.

    Refuses (raising, with nothing pushed) when the directory was never compared
    with the live CIB, when the live configuration changed since, when cib.xml
    was edited, or when crm_verify rejects the merged CIB.
    """
    manifest = read_manifest(directory)
    generated = _checked_generated(directory, manifest)
    base = manifest.get("live_cib")
    if not base:
        raise HavirtError(
            f"{directory} was never compared with the live CIB",
            hint=f"run 'havirt generate INVENTORY -o {directory} --diff' on a cluster node, "
            "review the changes, then apply (or use 'havirt generate ... --apply')",
        )
    live_xml = pacemaker.cib_xml()
    version = CibVersion.of(live_xml)
    if version.configuration != (base["admin_epoch"], base["epoch"]):
        raise LiveCibChanged(
            f"the live CIB changed since {directory} was compared with it "
            f"(configuration version {base['admin_epoch']}.{base['epoch']} then, "
            f"{version.admin_epoch}.{version.epoch} now): nothing was pushed",
            hint="run 'havirt generate ... --diff' again and review the changes",
        )
    m = merge(live_xml, generated)
    unsafe = safety_warnings(m.cib)
    if not m.has_changes:
        return ApplyReport(False, str(version), m.to_dict(), [], unsafe)
    warnings: list[str] = []

    def verify(new_file: str) -> None:
        verdict = pacemaker.verify(new_file)
        if not verdict.ok:
            raise HavirtError(
                "crm_verify rejects the merged CIB, nothing was pushed:\n"
                + "\n".join(f"  {e}" for e in verify_lines(verdict.errors)),
                hint="fix the inventory (or the live CIB) and generate again",
            )
        warnings.extend(verdict.warnings)

    push_change(pacemaker, live_xml, m.xml(), directory, prefix=".apply-", check=verify)
    return ApplyReport(True, str(version), m.to_dict(), warnings, unsafe)


def safety_warnings(cib: etree._Element) -> list[str]:
    """What in a CIB's cluster properties turns fencing or quorum off, one line each."""
    nodes = len(cib.findall("configuration/nodes/node"))
    out = []
    for nvpair in cib.iterfind("configuration/crm_config/cluster_property_set/nvpair"):
        name, value = nvpair.get("name", ""), nvpair.get("value", "")
        danger = weakens_safety(name, value, nodes)
        if danger:
            out.append(f"the cluster's {name} is {value!r}: {danger}")
    return out
