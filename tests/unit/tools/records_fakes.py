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
