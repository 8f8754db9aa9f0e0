"""`havirt domain add`: the library on facts of fake nodes and a fake CIB, and the
command through click (tools/domains/add.py, tools/cli/domain_add.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from havirt.tools.domains import Change, DefinitionStore
from havirt.tools.domains import add as A
from havirt.tools.domains.fit import read_needs
from havirt.tools.errors import HavirtError, Refused
from havirt.tools.inventory.model import Policies
from havirt.tools.userinput import parse_xml
from havirt.tools.validate import probe
from lxml import etree
from validate_fakes import FakeSession, cluster

UUID = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
GUEST = f"""<domain type='qemu'>
  <name>web1</name><uuid>{UUID}</uuid>
  <memory unit='MiB'>512</memory><vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/srv/pool/web1.qcow2'/><target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'><source bridge='br0'/></interface>
  </devices>
</domain>"""
CIB = (
    "<cib epoch='3' num_updates='0' admin_epoch='0'><configuration><crm_config/><nodes/>"
    "<resources>{resources}</resources><constraints/></configuration><status/></cib>"
)
POLICIES = Policies(
    migration_transport="ssh",
    ssh_user="root",
    stickiness=100,
    placement_strategy="balanced",
    monitor_interval=10_000,
    monitor_timeout=30_000,
    start_timeout=90_000,
    stop_timeout=90_000,
    migrate_to_timeout=120_000,
    migrate_from_timeout=120_000,
    anti_affinity_score="-INFINITY",
    preferred_node_score="100",
)
WHEN = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)


class FakeCib:
    """cib_xml and push_cib of the PacemakerAdapter, on a CIB in memory."""

    def __init__(self, resources: str = "", refuse: bool = False) -> None:
        self.cib = CIB.format(resources=resources)
        self.refuse = refuse
        self.pushed: list[str] = []

    def cib_xml(self, scope=None, *, timeout=None) -> str:
        return self.cib

    def push_cib(self, new_file: str, original_file: str, *, timeout=None) -> None:
        assert (
            Path(original_file).read_text() == etree.tostring(etree.fromstring(self.cib)).decode()
        )
        if self.refuse:
            raise HavirtError("pcs cluster cib-push: the CIB changed meanwhile")
        self.cib = Path(new_file).read_text()
        self.pushed.append(self.cib)


def facts(**overrides):
    targets, nodes = cluster(3, files=("/srv/pool/web1.qcow2",), **overrides)
    needs = read_needs(parse_xml(GUEST, "x"))
    return {
        t.name: probe.Collector(
            FakeSession(nodes[t.name], now=lambda: 1000.0),
            t,
            targets,
            probe.ProbeOptions(trust=False, clock=lambda: 1000.0, paths=needs.paths),
            "root",
        ).collect()
        for t in targets
    }


def run(tmp_path, pm: FakeCib, node_facts=None, text: str = GUEST, **kw) -> A.AddReport:
    store = DefinitionStore(str(tmp_path))
    return A.add(
        pm,  # type: ignore[arg-type]
        store,
        text,
        read_needs(parse_xml(text, "x")),
        node_facts if node_facts is not None else facts(),
        policies=POLICIES,
        clones=["pool-shared-clone"],
        change=Change("alice", WHEN, "added"),
        scratch=lambda: str(tmp_path),
        **kw,
    )


def test_a_guest_every_node_can_run_is_stored_and_created_stopped_in_one_push(tmp_path) -> None:
    pm = FakeCib()
    report = run(tmp_path, pm)
    assert report.revision == 1
    assert DefinitionStore(str(tmp_path)).get("web1") == GUEST
    [cib] = pm.pushed
    root = etree.fromstring(cib)
    [primitive] = root.findall("configuration/resources/primitive")
    nv = {n.get("name"): n.get("value") for n in primitive.iter("nvpair")}
    assert nv["config"] == f"{tmp_path}/web1/domain.xml"
    assert (nv["target-role"], nv["allow-migrate"]) == ("Stopped", "true")
    assert (nv["cpu"], nv["hv_memory"]) == ("2", "512")
    ids = [c.get("id") for c in root.find("configuration/constraints")]
    assert (
        ids
        == report.constraints
        == [
            "order-pool-shared-clone-web1-mandatory",
            "colocation-web1-pool-shared-clone-INFINITY",
        ]
    )


def test_a_dry_run_checks_everything_and_changes_nothing(tmp_path) -> None:
    pm = FakeCib()
    report = run(tmp_path, pm, dry_run=True)
    assert report.revision is None and pm.pushed == []
    assert DefinitionStore(str(tmp_path)).guests() == []
    assert json.loads(json.dumps(report.to_dict()))["constraints"] == report.constraints


def test_a_bridge_missing_on_one_node_is_refused_naming_it(tmp_path) -> None:
    node_facts = facts()
    node_facts["node2"].bridges = frozenset({"br9"})
    pm = FakeCib()
    with pytest.raises(A.NotRunnable) as caught:
        run(tmp_path, pm, node_facts)
    assert caught.value.message == (
        "web1 cannot be added: node2 has no bridge 'br0'; nothing was changed"
    )
    assert [f.node for f in caught.value.findings] == ["node2"]
    assert pm.pushed == [] and DefinitionStore(str(tmp_path)).guests() == []


def test_a_second_add_of_a_stored_or_configured_name_is_refused(tmp_path) -> None:
    run(tmp_path, FakeCib())
    with pytest.raises(Refused, match="already in the definition store"):
        run(tmp_path, FakeCib())
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(Refused, match="already has an element with the id web1"):
        run(other, FakeCib("<primitive id='web1' class='ocf' type='X'/>"))


def test_a_cib_that_refuses_leaves_no_revision_behind(tmp_path) -> None:
    with pytest.raises(HavirtError, match="changed meanwhile"):
        run(tmp_path, FakeCib(refuse=True))
    assert DefinitionStore(str(tmp_path)).guests() == []


# -- the command, its world (SSH connector, Pacemaker, who/when, scratch) from click's obj

INVENTORY = """
[cluster]
name = "c3"
[guest_defaults]
config = "/srv/havirt-shared/guests/{name}.xml"
[definitions]
path = "STORE"
[[storage]]
name = "shared"
type = "nfs"
server = "nfs1"
export = "/export"
target = "/srv/pool"
"""
NODE = """
[[nodes]]
name = "NAME"
addresses = ["ADDRESS/24"]
memory = "16GiB"
vcpus = 4
[nodes.fence]
agent = "fence_havirt"
options = { uri = "qemu+ssh://outer/system", plug = "NAME" }
"""


# A schema that takes any XML: libvirt's own is read in tests/integration only.
ANY = """<grammar xmlns="http://relaxng.org/ns/structure/1.0">
  <start><ref name="any"/></start>
  <define name="any"><element><anyName/><zeroOrMore><choice>
    <attribute><anyName/></attribute><text/><ref name="any"/>
  </choice></zeroOrMore></element></define>
</grammar>"""


def schemas(tmp_path: Path) -> Path:
    folder = tmp_path / "schemas"
    folder.mkdir(exist_ok=True)
    (folder / "domain.rng").write_text(ANY)
    return folder


def command(tmp_path, *args: str, pm: FakeCib, nodes=None):
    from click.testing import CliRunner
    from havirt.tools.cli.main import main
    from havirt.tools.cli.world import ClusterWorld
    from validate_fakes import FakeConnector

    targets, fake_nodes = cluster(3, files=("/srv/pool/web1.qcow2",))
    for name, change in (nodes or {}).items():
        change(fake_nodes[name])
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    text = INVENTORY.replace("STORE", str(store))
    text += "".join(NODE.replace("NAME", t.name).replace("ADDRESS", t.address) for t in targets)
    (tmp_path / "cluster.toml").write_text(text)
    (tmp_path / "web1.xml").write_text(GUEST)
    world = ClusterWorld(
        connector=lambda *a: FakeConnector(fake_nodes),
        pacemaker=lambda: pm,  # type: ignore[arg-type,return-value]
        who=lambda: "alice",
        now=lambda: WHEN,
        scratch=lambda: str(tmp_path),
        schemas=str(schemas(tmp_path)),
    )
    argv = ["domain", "add", "web1", "--xml", str(tmp_path / "web1.xml")]
    argv += ["--inventory", str(tmp_path / "cluster.toml"), *args]
    return CliRunner().invoke(main, argv, obj=world)


def test_the_command_adds_and_says_how_to_start(tmp_path) -> None:
    pm = FakeCib()
    result = command(tmp_path, pm=pm)
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.splitlines() == [
        "added web1: revision 1 in the store, resource web1 (stopped, 2 constraints to the "
        "storage); checked on node1, node2, node3",
        "start it with: havirt domain start web1",
    ]
    assert len(pm.pushed) == 1


def test_the_command_lists_every_node_that_cannot_run_it_and_exits_2(tmp_path) -> None:
    def no_bridge(node) -> None:
        node.bridges = ("br9",)

    pm = FakeCib()
    result = command(tmp_path, pm=pm, nodes={"node1": no_bridge, "node3": no_bridge})
    assert result.exit_code == 2
    assert "  node1: node1 has no bridge 'br0'; fix: create the bridge" in result.stderr
    assert "  node3: node3 has no bridge 'br0'" in result.stderr
    assert "web1 cannot be added: node1 has no bridge 'br0' (and 1 more)" in result.stderr
    assert pm.pushed == []


def test_the_command_dry_run_json(tmp_path) -> None:
    pm = FakeCib()
    result = command(tmp_path, "--dry-run", "--json", pm=pm)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["guest"], data["dry_run"], data["revision"]) == ("web1", True, None)
    assert data["nodes"] == ["node1", "node2", "node3"]
    assert pm.pushed == []
