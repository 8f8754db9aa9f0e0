"""The CIB an inventory asks for, as one plan rendered two ways.

:func:`plan` turns an inventory into a :class:`CibPlan`: cluster properties,
resource defaults, node capacities, resources and constraints, in a fixed
order. :func:`to_xml` renders it as a complete CIB (what ``crm_verify -x``
checks and ``havirt apply`` merges into the live CIB); :func:`to_pcs` as one
``pcs -f`` script making the same changes. Ids follow pcs's own conventions
(``vm1-instance_attributes-config``, ``vm1-monitor-interval-10s``) and every
constraint id is given explicitly, so the script applied to a fresh cluster's
CIB yields exactly :func:`to_xml`'s configuration (tested against real pcs).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from havirt.tools.inventory import Guest, Inventory, Storage
from havirt.tools.inventory.model import Policies, duration_text
from havirt.tools.pacemaker.cib import Colocation  # the same value the CIB reader gives back
from lxml import etree

# ocf:havirt:StoragePool's parameter names, in one place (that agent is written separately).
STORAGE_POOL_PARAMS = {
    "pool": "pool",
    "type": "type",
    "host": "source_host",
    "path": "source_path",
    "target": "target_path",
    "options": "mount_options",
}
VALIDATE_WITH = "pacemaker-3.0"  # the oldest schema with everything used here (Pacemaker 2.0)
FENCE_MONITOR = "60s"
# By name, the order pcs writes them in. The deeper monitor (OCF_CHECK_LEVEL 10) stats the
# mounted target in a child process bounded by its timeout: a hung NFS server is noticed.
POOL_OPS = (
    ("monitor", "20s", "40s", None),
    ("monitor", "60s", "60s", "10"),
    ("start", "0s", "60s", None),
    ("stop", "0s", "60s", None),
)


@dataclass(frozen=True)
class Op:
    name: str
    interval: str  # "0s" for non-recurring
    timeout: str | None = None
    check_level: str | None = None  # OCF_CHECK_LEVEL of a deeper monitor


@dataclass(frozen=True)
class Primitive:
    id: str
    standard: str  # ocf | stonith
    provider: str | None
    type: str
    params: tuple[tuple[str, str], ...] = ()
    meta: tuple[tuple[str, str], ...] = ()
    ops: tuple[Op, ...] = ()
    utilization: tuple[tuple[str, str], ...] = ()

    @property
    def agent(self) -> str:
        if self.standard == "stonith":
            return self.type
        return ":".join(p for p in (self.standard, self.provider, self.type) if p)


@dataclass(frozen=True)
class Clone:
    id: str
    primitive: Primitive
    meta: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NodeCapacity:
    nodeid: int
    name: str
    utilization: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Location:
    id: str
    rsc: str
    node: str
    score: str


@dataclass(frozen=True)
class Order:
    id: str
    first: str
    then: str


Resource = Primitive | Clone
Constraint = Location | Order | Colocation


@dataclass(frozen=True)
class CibPlan:
    properties: tuple[tuple[str, str], ...]
    rsc_defaults: tuple[tuple[str, str], ...]
    nodes: tuple[NodeCapacity, ...]
    resources: tuple[Resource, ...]
    constraints: tuple[Constraint, ...]


# -- planning ------------------------------------------------------------------------------


def plan(inv: Inventory) -> CibPlan:
    pol = inv.policies
    # One value per name (a second nvpair of one name would share its id): havirt's own,
    # then the inventory's; only [cluster.overrides] can replace stonith-enabled.
    chosen = {"stonith-enabled": "true", "placement-strategy": pol.placement_strategy}
    chosen |= inv.cluster.effective_properties()
    properties = [(name, chosen.pop(name)) for name in ("stonith-enabled", "placement-strategy")]
    properties += sorted(chosen.items())
    nodes = tuple(
        NodeCapacity(n.nodeid, n.name, (("cpu", str(n.vcpus)), ("hv_memory", str(n.memory_mib))))
        for n in inv.nodes
    )
    resources: list[Resource] = []
    constraints: list[Constraint] = []
    for node in inv.nodes:
        options = {**node.fence.options, "pcmk_host_list": node.name}
        resources.append(
            Primitive(
                node.fence_id,
                "stonith",
                None,
                node.fence.agent,
                params=tuple(sorted(options.items())),
                ops=_fence_ops(pol.fence_timeout),
            )
        )
        # A node never runs the device that fences it (it could not fence itself when hung).
        constraints.append(_location(node.fence_id, node.name, "-INFINITY"))
    for storage in inv.clustered_storage:
        resources.append(_pool_clone(storage))
    for guest in inv.guests:
        resources.append(_guest_primitive(inv, guest))
        constraints += guest_constraints(inv, guest)
    constraints += anti_affinity(inv)
    return CibPlan(
        properties=tuple(properties),
        rsc_defaults=(("resource-stickiness", str(pol.stickiness)),),
        nodes=nodes,
        resources=tuple(resources),
        constraints=tuple(constraints),
    )


def _fence_ops(timeout: int | None) -> tuple[Op, ...]:
    """A fence device's operations: its recurring monitor, and with a timeout of the
    inventory's, the start too (a device's start runs the agent once as well)."""
    if timeout is None:
        return (Op("monitor", FENCE_MONITOR),)
    limit = duration_text(timeout)
    return (Op("start", "0s", limit), Op("monitor", FENCE_MONITOR, limit))


def storage_constraints(guest: str, clones: Sequence[str]) -> list[Constraint]:
    """The guest's order after and colocation with each storage clone (also what
    ``havirt domain add`` creates).

    Mandatory and symmetrical: the pool is mounted before the guest starts and the guest
    is stopped before its node's pool is. Pacemaker relates a primitive to the clone
    instance on its own node, so live migration is kept (tested with crm_simulate in
    tests/contract/test_generate_pacemaker.py)."""
    constraints: list[Constraint] = []
    for clone in clones:
        constraints.append(Order(f"order-{clone}-{guest}-mandatory", clone, guest))
        constraints.append(
            Colocation(f"colocation-{guest}-{clone}-INFINITY", guest, clone, "INFINITY")
        )
    return constraints


def guest_constraints(inv: Inventory, guest: Guest) -> list[Constraint]:
    """A guest's own constraints: after its storage, and its preferred nodes."""
    clones = {storage.name: storage.clone_id for storage in inv.clustered_storage}
    constraints = storage_constraints(guest.name, [clones[name] for name in guest.storage])
    score = inv.policies.preferred_node_score
    constraints += [_location(guest.name, node, score) for node in guest.preferred_nodes]
    return constraints


def anti_affinity(inv: Inventory) -> list[Colocation]:
    """One colocation per pair of guests sharing an anti-affinity group: the later
    guest (in inventory order) kept away from the earlier one."""
    constraints: list[Colocation] = []
    seen: set[tuple[str, str]] = set()
    score = inv.policies.anti_affinity_score
    for members in inv.anti_affinity_groups().values():
        for i, later in enumerate(members):
            for earlier in members[:i]:
                if (later.name, earlier.name) in seen:
                    continue  # two groups sharing a pair: one constraint
                seen.add((later.name, earlier.name))
                constraints.append(
                    Colocation(
                        f"colocation-{later.name}-{earlier.name}-{score}",
                        later.name,
                        earlier.name,
                        score,
                    )
                )
    return constraints


def _location(rsc: str, node: str, score: str) -> Location:
    return Location(f"location-{rsc}-{node}-{score}", rsc, node, score)


def _guest_primitive(inv: Inventory, guest: Guest) -> Primitive:
    return guest_primitive(
        guest.resource_id,
        guest.config,
        guest.hypervisor,
        inv.policies,
        vcpus=guest.vcpus,
        memory_mib=guest.memory_mib,
        params=guest.params,
        migrate=guest.migrate,
    )


def guest_primitive(
    name: str,
    config: str,
    hypervisor: str,
    pol: Policies,
    *,
    vcpus: int,
    memory_mib: int,
    params: Mapping[str, str] | None = None,
    migrate: bool = True,
    meta: tuple[tuple[str, str], ...] = (),
) -> Primitive:
    """A guest's VirtualDomain primitive, its operations' timings from the policies (also
    what ``havirt domain add`` creates)."""
    given = {
        **(params or {}),
        "config": config,
        "hypervisor": hypervisor,
        "migration_transport": pol.migration_transport,
    }
    ops: tuple[Op, ...] = (
        Op("migrate_from", "0s", duration_text(pol.migrate_from_timeout)),
        Op("migrate_to", "0s", duration_text(pol.migrate_to_timeout)),
        Op("monitor", duration_text(pol.monitor_interval), duration_text(pol.monitor_timeout)),
        Op("start", "0s", duration_text(pol.start_timeout)),
        Op("stop", "0s", duration_text(pol.stop_timeout)),
    )
    if not migrate:
        ops = tuple(op for op in ops if not op.name.startswith("migrate"))
    return Primitive(
        name,
        "ocf",
        "havirt",
        "VirtualDomain",
        params=tuple(sorted(given.items())),
        meta=(("allow-migrate", "true" if migrate else "false"), *meta),
        ops=ops,
        utilization=(("cpu", str(vcpus)), ("hv_memory", str(memory_mib))),
    )


def _pool_clone(storage: Storage) -> Clone:
    names = STORAGE_POOL_PARAMS
    params = {
        names["pool"]: storage.name,
        names["type"]: "netfs",
        names["host"]: storage.server or "",
        names["path"]: storage.export or "",
        names["target"]: storage.target,
    }
    if storage.mount_options:
        params[names["options"]] = ",".join(storage.mount_options)
    primitive = Primitive(
        storage.resource_id,
        "ocf",
        "havirt",
        "StoragePool",
        params=tuple(sorted(params.items())),
        ops=tuple(Op(*op) for op in POOL_OPS),
    )
    # interleave: a clone ordered after this one waits only for the instance on its node.
    return Clone(storage.clone_id, primitive, meta=(("interleave", "true"),))


# -- XML -----------------------------------------------------------------------------------


def _nvpairs(
    parent: etree._Element, tag: str, set_id: str, pairs: Sequence[tuple[str, str]]
) -> None:
    if not pairs:
        return
    block = etree.SubElement(parent, tag, id=set_id)
    for name, value in pairs:
        etree.SubElement(block, "nvpair", id=f"{set_id}-{name}", name=name, value=value)


def primitive_xml(p: Primitive) -> etree._Element:
    attrs = {"id": p.id, "class": p.standard}
    if p.provider:
        attrs["provider"] = p.provider
    attrs["type"] = p.type
    el = etree.Element("primitive", attrs)
    _nvpairs(el, "instance_attributes", f"{p.id}-instance_attributes", p.params)
    _nvpairs(el, "meta_attributes", f"{p.id}-meta_attributes", p.meta)
    if p.ops:
        ops = etree.SubElement(el, "operations")
        for op in p.ops:
            op_id = f"{p.id}-{op.name}-interval-{op.interval}"  # as pcs names them
            attrs = {"id": op_id, "name": op.name, "interval": op.interval}
            if op.timeout:
                attrs["timeout"] = op.timeout
            op_el = etree.SubElement(ops, "op", attrs)
            if op.check_level is not None:
                level = (("OCF_CHECK_LEVEL", op.check_level),)
                _nvpairs(op_el, "instance_attributes", f"{op_id}-instance_attributes", level)
    _nvpairs(el, "utilization", f"{p.id}-utilization", p.utilization)
    return el


def resource_xml(r: Resource) -> etree._Element:
    if isinstance(r, Primitive):
        return primitive_xml(r)
    el = etree.Element("clone", id=r.id)
    el.append(primitive_xml(r.primitive))
    _nvpairs(el, "meta_attributes", f"{r.id}-meta_attributes", r.meta)
    return el


def constraint_xml(c: Constraint) -> etree._Element:
    if isinstance(c, Location):
        return etree.Element("rsc_location", id=c.id, rsc=c.rsc, node=c.node, score=c.score)
    if isinstance(c, Order):
        return etree.Element(
            "rsc_order",
            {
                "id": c.id,
                "first": c.first,
                "first-action": "start",
                "then": c.then,
                "then-action": "start",
            },
        )
    return etree.Element(
        "rsc_colocation", {"id": c.id, "rsc": c.rsc, "with-rsc": c.with_rsc, "score": c.score}
    )


def node_xml(n: NodeCapacity) -> etree._Element:
    el = etree.Element("node", id=str(n.nodeid), uname=n.name)
    _nvpairs(el, "utilization", f"nodes-{n.nodeid}-utilization", n.utilization)
    return el


XML_COMMENT = """
  Generated by `havirt generate` from {source}; edit the inventory, not this file.
  The configuration is what the inventory asks for. The status pretends every node has
  joined (with quorum), so that `crm_verify -x cib.xml` checks it and `crm_simulate -x
  cib.xml -S` shows where the guests would start. `havirt apply` merges the configuration
  into the live CIB and never pushes this status.
"""


def to_xml_tree(p: CibPlan, source: str = "the inventory") -> etree._Element:
    cib = etree.Element(
        "cib",
        {
            "validate-with": VALIDATE_WITH,
            "epoch": "1",
            "num_updates": "0",
            "admin_epoch": "0",
            "have-quorum": "1",
        },
    )
    cib.addprevious(etree.Comment(XML_COMMENT.format(source=source)))
    config = etree.SubElement(cib, "configuration")
    crm_config = etree.SubElement(config, "crm_config")
    _nvpairs(crm_config, "cluster_property_set", "cib-bootstrap-options", p.properties)
    nodes = etree.SubElement(config, "nodes")
    for n in p.nodes:
        nodes.append(node_xml(n))
    resources = etree.SubElement(config, "resources")
    for r in p.resources:
        resources.append(resource_xml(r))
    constraints = etree.SubElement(config, "constraints")
    for c in p.constraints:
        constraints.append(constraint_xml(c))
    defaults = etree.SubElement(config, "rsc_defaults")
    _nvpairs(defaults, "meta_attributes", "rsc_defaults-meta_attributes", p.rsc_defaults)
    status = etree.SubElement(cib, "status")
    for n in p.nodes:
        etree.SubElement(
            status,
            "node_state",
            id=str(n.nodeid),
            uname=n.name,
            in_ccm="true",
            crmd="online",
            join="member",
            expected="member",
        )
    return cib


def to_xml(p: CibPlan, source: str = "the inventory") -> str:
    tree = to_xml_tree(p, source).getroottree()
    return etree.tostring(tree, pretty_print=True, encoding="unicode")


# -- pcs script ----------------------------------------------------------------------------


def _words(pairs: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{name}={value}" for name, value in pairs]


def _op_words(ops: tuple[Op, ...]) -> list[str]:
    words: list[str] = []
    for op in ops:
        words += ["op", op.name, f"interval={op.interval}"]
        if op.timeout:
            words.append(f"timeout={op.timeout}")
        if op.check_level is not None:
            words.append(f"OCF_CHECK_LEVEL={op.check_level}")
    return words


def _score_words(score: str) -> list[str]:
    return ["--", score] if score.startswith("-") else [score]


def pcs_commands(p: CibPlan) -> list[list[str]]:
    """The pcs arguments (after ``pcs -f FILE``) that make the plan's changes."""
    cmds: list[list[str]] = [["property", "set", *_words(p.properties)]]
    cmds.append(["resource", "defaults", "update", *_words(p.rsc_defaults)])
    for n in p.nodes:
        cmds.append(["node", "utilization", n.name, *_words(n.utilization)])
    for r in p.resources:
        prim = r.primitive if isinstance(r, Clone) else r
        group = "stonith" if prim.standard == "stonith" else "resource"
        cmd = [group, "create", prim.id, prim.agent, *_words(prim.params)]
        if prim.meta:
            cmd += ["meta", *_words(prim.meta)]
        cmd += ["--no-default-ops", *_op_words(prim.ops)]
        if isinstance(r, Clone):
            cmd += ["clone", r.id, *_words(r.meta)]
        cmds.append(cmd)
        if prim.utilization:
            cmds.append(["resource", "utilization", prim.id, *_words(prim.utilization)])
    for c in p.constraints:
        if isinstance(c, Location):
            cmds.append(
                ["constraint", "location", "add", c.id, c.rsc, c.node, *_score_words(c.score)]
            )
        elif isinstance(c, Order):
            cmds.append(
                ["constraint", "order", "start", c.first, "then", "start", c.then, f"id={c.id}"]
            )
        else:
            cmds.append(
                [
                    "constraint",
                    "colocation",
                    "add",
                    c.rsc,
                    "with",
                    c.with_rsc,
                    *_score_words(c.score),
                    f"id={c.id}",
                ]
            )
    return cmds


PCS_HEADER = """\
#!/bin/sh
# The CIB changes of {source} as ONE pcs script: every command works on a CIB
# file, and the file is pushed to the cluster once, as one transaction.
# Generated by `havirt generate`; edit the inventory, not this file.
#
# On a node of the running cluster (its nodes must have joined: the script
# sets their capacity):
#   pcs cluster cib original.xml && cp original.xml new.xml
#   sh cib.pcs new.xml
#   pcs cluster cib-push new.xml diff-against=original.xml
# The script creates resources, so it is for a cluster that has none of them
# yet; `havirt apply` updates a running cluster from cib.xml instead.
set -eu
cib=${{1:?usage: sh cib.pcs CIB_FILE}}
"""


def to_pcs(p: CibPlan, source: str) -> str:
    lines = [PCS_HEADER.format(source=source)]
    for cmd in pcs_commands(p):
        lines.append('pcs -f "$cib" ' + " ".join(shlex.quote(w) for w in cmd) + "\n")
    return "".join(lines)
