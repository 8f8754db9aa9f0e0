"""Fakes at the records' seams: crm_mon XML, CIB XML, a runner answering by argv, a scanner.

Tests describe a cluster in a few words and get the exact XML the real tools
print, so the whole chain (Pacemaker adapter, CIB parsing, join) runs for real.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from havirt.ocf.runner import CommandResult
from havirt.tools.pacemaker import parse_status
from havirt.tools.records import (
    GuestIdentity,
    LibvirtDomain,
    NodeScan,
    Sources,
    parse_config,
)

CRM_MON = ("crm_mon", "--output-as", "xml", "--one-shot", "--inactive")
CIBADMIN = ("cibadmin", "--query", "--scope", "configuration")
NODES = ("node1", "node2", "node3")


def _attrs(**values: Any) -> str:
    text = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in values.items()}
    return " ".join(f'{k}="{v}"' for k, v in text.items())


@dataclass
class Rsc:
    id: str
    nodes: Sequence[str] = ()
    role: str | None = None  # default: Started when on a node, else Stopped
    agent: str = "ocf:havirt:VirtualDomain"
    managed: bool = True
    failed: bool = False
    blocked: bool = False
    pending: str | None = None  # an action in flight (record-pending): Migrating, Starting

    def xml(self) -> str:
        role = self.role or ("Started" if self.nodes else "Stopped")
        attrs = _attrs(
            id=self.id,
            resource_agent=self.agent,
            role=role,
            active=bool(self.nodes),
            orphaned=False,
            blocked=self.blocked,
            managed=self.managed,
            failed=self.failed,
            failure_ignored=False,
            nodes_running_on=len(self.nodes),
            **({"pending": self.pending} if self.pending else {}),
        )
        inner = "".join(f'<node name="{n}" id="{n[-1]}" cached="true"/>' for n in self.nodes)
        return f"<resource {attrs}>{inner}</resource>"


def crm_mon_xml(
    resources: Sequence[Rsc] = (),
    *,
    offline: Sequence[str] = (),
    standby: Sequence[str] = (),
    unclean: Sequence[str] = (),
    dc: str = "node1",
    nodes: Sequence[str] = NODES,
    maintenance_mode: bool = False,
    failures: Sequence[Mapping[str, str]] = (),
) -> str:
    """What ``crm_mon --output-as xml`` prints for such a cluster (Pacemaker 2.1)."""
    node_xml = []
    for name in nodes:
        running = sum(1 for r in resources if name in r.nodes)
        node_xml.append(
            "<node "
            + _attrs(
                name=name,
                id=name[-1],
                online=name not in offline and name not in unclean,
                standby=name in standby,
                standby_onfail=False,
                maintenance=False,
                pending=False,
                unclean=name in unclean,
                shutdown=False,
                expected_up=True,
                is_dc=name == dc,
                resources_running=running,
                type="member",
            )
            + "/>"
        )
    failure_xml = "".join(
        "<failure " + " ".join(f'{k}="{v}"' for k, v in f.items()) + "/>" for f in failures
    )
    return f"""<pacemaker-result api-version="2.25" request="crm_mon --output-as xml">
  <summary>
    <current_dc present="true" name="{dc}" id="{dc[-1]}" with_quorum="true"/>
    <cluster_options stonith-enabled="true" maintenance-mode="{str(maintenance_mode).lower()}"/>
  </summary>
  <nodes>{"".join(node_xml)}</nodes>
  <resources>{"".join(r.xml() for r in resources)}</resources>
  <failures>{failure_xml}</failures>
  <status code="0" message="OK"/>
</pacemaker-result>"""


def guest_primitive(
    rid: str,
    *,
    provider: str = "havirt",
    config: str | None = None,
    transport: str | None = "tcp",
    hypervisor: str = "qemu:///system",
    cpu: int = 1,
    memory: int = 128,
) -> str:
    params = {"config": config or f"/srv/shared/{rid}.xml", "hypervisor": hypervisor}
    if transport:
        params["migration_transport"] = transport
    pairs = "".join(
        f'<nvpair id="{rid}-ia-{k}" name="{k}" value="{v}"/>' for k, v in params.items()
    )
    return (
        f'<primitive id="{rid}" class="ocf" provider="{provider}" type="VirtualDomain">'
        f'<instance_attributes id="{rid}-ia">{pairs}</instance_attributes>'
        f'<utilization id="{rid}-u"><nvpair id="{rid}-u-cpu" name="cpu" value="{cpu}"/>'
        f'<nvpair id="{rid}-u-mem" name="hv_memory" value="{memory}"/></utilization>'
        "</primitive>"
    )


def cib_xml(
    primitives: Sequence[str] = (),
    *,
    constraints: str = "",
    nodes: Sequence[str] = NODES,
    cpu: int = 4,
    memory: int = 2048,
    extra_resources: str = "",
) -> str:
    """What ``cibadmin --query --scope configuration`` prints."""
    node_xml = "".join(
        f'<node id="{n[-1]}" uname="{n}"><utilization id="{n}-u">'
        f'<nvpair id="{n}-u-cpu" name="cpu" value="{cpu}"/>'
        f'<nvpair id="{n}-u-mem" name="hv_memory" value="{memory}"/>'
        "</utilization></node>"
        for n in nodes
    )
    return (
        "<configuration><crm_config/>"
        f"<nodes>{node_xml}</nodes>"
        f"<resources>{''.join(primitives)}{extra_resources}</resources>"
        f"<constraints>{constraints}</constraints></configuration>"
    )


def dom(
    name: str,
    state: str = "running",
    *,
    uuid: str | None = None,
    reason: str = "booted",
    persistent: bool = False,
) -> LibvirtDomain:
    return LibvirtDomain(name, uuid or f"uuid-{name}", state, reason, persistent)


def sources(
    crm_mon: str,
    cib: str,
    libvirt: Mapping[str, Sequence[LibvirtDomain] | str | None],
    *,
    identities: Mapping[str, GuestIdentity] | None = None,
) -> Sources:
    """Sources as gather() would read them: ``libvirt`` maps a node to its domains, to an
    error text (did not answer) or to None (not asked)."""
    status = parse_status(crm_mon)
    config = parse_config(cib)
    scans: dict[str, NodeScan] = {}
    for node in (n.name for n in status.nodes):
        seen = libvirt.get(node, ())
        uri = f"qemu+tcp://{node}/system"
        if seen is None:
            scans[node] = NodeScan(node, uri, asked=False)
        elif isinstance(seen, str):
            scans[node] = NodeScan(node, uri, error=seen, seconds=5.0)
        else:
            scans[node] = NodeScan(node, uri, domains=tuple(seen), seconds=0.01)
    ids = {p.id: GuestIdentity(p.id, p.id) for p in config.guests}
    ids.update(identities or {})
    return Sources(status, config, ids, scans, local="node1")


@dataclass
class ArgvRunner:
    """A CommandRunner answering by argv (for calls made in parallel, in any order)."""

    answers: dict[tuple[str, ...], str]
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def run(self, argv, timeout, stdin=None, env=None, cwd=None) -> CommandResult:
        argv = tuple(argv)
        assert timeout > 0
        self.calls.append(argv)
        if argv not in self.answers:
            return CommandResult(argv, 127, "", f"{argv[0]}: unexpected in this test")
        return CommandResult(argv, 0, self.answers[argv], "")


@dataclass
class FakeScanner:
    """Answers each node from ``domains`` (an error text: the node did not answer)."""

    domains: Mapping[str, Sequence[LibvirtDomain] | str]
    asked: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def prepare(self) -> None:
        pass

    def scan(self, targets: Mapping[str, str], timeout: float) -> dict[str, NodeScan]:
        self.asked.append((dict(targets), timeout))
        out = {}
        for node, uri in targets.items():
            seen = self.domains.get(node, ())
            if isinstance(seen, str):
                out[node] = NodeScan(node, uri, error=seen)
            else:
                out[node] = NodeScan(node, uri, domains=tuple(seen), seconds=0.01)
        return out


# -- operation history (the CIB status section) ------------------------------------------


@dataclass
class Op:
    """One operation a node's executor ran, as a scenario states it."""

    resource: str
    node: str
    task: str  # start, stop, migrate_to, migrate_from, monitor
    at: int  # when it began (last-rc-change, epoch seconds); it ends exec_ms later
    exec_ms: int = 500
    rc: int = 0
    interval_ms: int = 0
    op_status: int = 0  # -1: pending (record-pending)
    target: str | None = None  # for migrate_to/migrate_from: the other end
    call: int = 0  # set by OpLog

    def entry_ids(self) -> list[str]:
        """The lrm_rsc_op ids Pacemaker files it under (a later one replaces an earlier)."""
        rid = self.resource
        if self.interval_ms:
            ids = [f"{rid}_{self.task}_{self.interval_ms}"]
        elif self.task in ("migrate_to", "migrate_from"):
            ids = [f"{rid}_{self.task}_0"]
        else:
            ids = [f"{rid}_last_0"]
        if self.op_status == 0 and self.rc != 0:
            ids.append(f"{rid}_last_failure_0")
        return ids

    def xml(self, entry_id: str) -> str:
        key = f"{self.resource}_{self.task}_{self.interval_ms}"
        migrate = ""
        if self.target is not None:
            source, target = (
                (self.node, self.target) if self.task == "migrate_to" else (self.target, self.node)
            )
            migrate = f' migrate_source="{source}" migrate_target="{target}"'
        return (
            f'<lrm_rsc_op id="{entry_id}" operation_key="{key}" operation="{self.task}" '
            f'crm-debug-origin="do_update_resource" crm_feature_set="3.16.1" '
            f'transition-key="1:1:0:fake" transition-magic="0:{self.rc};1:1:0:fake" '
            f'exit-reason="" on_node="{self.node}" call-id="{self.call}" rc-code="{self.rc}" '
            f'op-status="{self.op_status}" interval="{self.interval_ms}" '
            f'last-rc-change="{self.at}" exec-time="{self.exec_ms}" queue-time="0"{migrate} '
            f'op-digest="0"/>'
        )


@dataclass
class OpLog:
    """Every node's executor history as the CIB keeps it: per resource and node the last
    operation of each kind; fencing a node erases its history (as the DC does)."""

    nodes: Sequence[str] = NODES
    ops: list[Op] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)

    def run(self, *ops: Op) -> OpLog:
        for op in ops:
            self.calls[op.node] = self.calls.get(op.node, 0) + 1
            op.call = self.calls[op.node] if op.op_status == 0 else -1
            self.ops.append(op)
        return self

    def fence(self, node: str) -> OpLog:
        self.ops = [o for o in self.ops if o.node != node]
        return self

    def xml(self, down: Sequence[str] = ()) -> str:
        """What ``cibadmin --query --scope status`` prints (Pacemaker 2.1)."""
        states = []
        for node in self.nodes:
            entries: dict[str, dict[str, Op]] = {}
            for op in self.ops:
                if op.node == node:
                    for entry_id in op.entry_ids():
                        entries.setdefault(op.resource, {})[entry_id] = op
            resources = "".join(
                f'<lrm_resource id="{rid}" type="VirtualDomain" class="ocf" provider="havirt">'
                + "".join(op.xml(entry_id) for entry_id, op in by_id.items())
                + "</lrm_resource>"
                for rid, by_id in entries.items()
            )
            up = node not in down
            attrs = _attrs(
                id=node[-1],
                uname=node,
                in_ccm=up,
                crmd="online" if up else "offline",
                join="member" if up else "down",
                expected="member" if up else "down",
            )
            states.append(
                f'<node_state {attrs}><lrm id="{node[-1]}"><lrm_resources>{resources}'
                "</lrm_resources></lrm></node_state>"
            )
        return f"<status>{''.join(states)}</status>"
