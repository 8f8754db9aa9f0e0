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


def facts(text: str = GUEST, adjust=lambda nodes: None, **overrides):
    targets, nodes = cluster(3, files=("/srv/pool/web1.qcow2",), **overrides)
    adjust(nodes)
    needs = read_needs(parse_xml(text, "x"))
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


def command(tmp_path, *args: str, pm: FakeCib, nodes=None, source=None, env=None):
    """``havirt domain add web1 SOURCE --inventory ... ARGS`` (SOURCE: ``--xml web1.xml``
    unless given), with ``env`` as the cluster commands' world (--start's)."""
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
        make=(lambda quiet: env) if env is not None else None,
    )
    argv = ["domain", "add", "web1"]
    argv += ["--xml", str(tmp_path / "web1.xml")] if source is None else source
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


# -- again from the store: a guest `domain remove` took out of the cluster, its history kept


def removed(tmp_path) -> DefinitionStore:
    """The store after web1 was added and its resource removed again (history kept)."""
    run(tmp_path, FakeCib())
    return DefinitionStore(str(tmp_path))


def listing(store: DefinitionStore) -> list[tuple[str, bytes]]:
    """Every file of the store and its bytes: what "the store is untouched" compares."""
    root = Path(store.root)
    return sorted((str(p), p.read_bytes()) for p in root.rglob("*") if p.is_file())


def test_a_removed_guest_comes_back_from_the_store_and_nothing_is_stored(tmp_path) -> None:
    store = removed(tmp_path)
    before = listing(store)
    pm = FakeCib()
    report = run(tmp_path, pm, text=store.get("web1"), from_store=True)
    assert (report.revision, report.from_store) == (1, True)
    assert listing(store) == before
    [cib] = pm.pushed
    [primitive] = etree.fromstring(cib).findall("configuration/resources/primitive")
    nv = {n.get("name"): n.get("value") for n in primitive.iter("nvpair")}
    assert (nv["config"], nv["target-role"]) == (store.current_path("web1"), "Stopped")
    assert json.loads(json.dumps(report.to_dict()))["from_store"] is True


def test_the_store_revision_is_the_one_named_and_a_dry_run_changes_nothing(tmp_path) -> None:
    assert A.stored(removed(tmp_path), "web1") == (1, GUEST)
    pm = FakeCib()
    report = run(tmp_path, pm, from_store=True, dry_run=True)
    assert (report.revision, report.from_store, pm.pushed) == (1, True, [])


def test_from_the_store_a_name_it_does_not_know_is_refused(tmp_path) -> None:
    pm = FakeCib()
    with pytest.raises(A.NotInStore, match=r"web1 is not in the definition store .*nothing"):
        run(tmp_path, pm, from_store=True)
    with pytest.raises(A.NotInStore):
        A.stored(DefinitionStore(str(tmp_path)), "web1")
    assert pm.pushed == [] and DefinitionStore(str(tmp_path)).guests() == []


def test_from_the_store_a_guest_the_cib_still_has_is_refused(tmp_path) -> None:
    store = removed(tmp_path)
    before = listing(store)
    pm = FakeCib("<primitive id='web1' class='ocf' type='X'/>")
    with pytest.raises(Refused, match=r"store \(revision 1\) and in the cluster") as caught:
        run(tmp_path, pm, from_store=True)
    assert "havirt domain edit" in str(caught.value.hint)
    assert pm.pushed == [] and listing(store) == before


def test_from_the_store_a_guest_some_node_cannot_run_is_refused(tmp_path) -> None:
    store = removed(tmp_path)
    before = listing(store)
    node_facts = facts()
    node_facts["node3"].bridges = frozenset({"br9"})
    pm = FakeCib()
    with pytest.raises(A.NotRunnable, match="node3 has no bridge 'br0'"):
        run(tmp_path, pm, node_facts, from_store=True)
    assert pm.pushed == [] and listing(store) == before


def test_from_the_store_a_cib_that_refuses_purges_nothing(tmp_path) -> None:
    store = removed(tmp_path)
    before = listing(store)
    with pytest.raises(HavirtError, match="changed meanwhile"):
        run(tmp_path, FakeCib(refuse=True), from_store=True)
    assert listing(store) == before and store.numbers("web1") == [1]


def test_a_new_guest_whose_name_the_store_keeps_is_refused_as_in_the_store(tmp_path) -> None:
    store = removed(tmp_path)
    before = listing(store)
    pm = FakeCib()
    with pytest.raises(A.InStore, match=r"revision 1\) but not in the cluster") as caught:
        run(tmp_path, pm)
    assert caught.value.revision == 1
    assert pm.pushed == [] and listing(store) == before


def test_the_local_hypervisor_is_the_probes(tmp_path) -> None:
    pm = FakeCib()
    run(tmp_path, pm)
    nv = {n.get("name"): n.get("value") for n in etree.fromstring(pm.pushed[0]).iter("nvpair")}
    assert nv["hypervisor"] == probe.LOCAL_URI == "qemu:///system"


def test_the_command_adds_a_removed_guest_again_from_the_store(tmp_path) -> None:
    assert command(tmp_path, pm=FakeCib()).exit_code == 0
    store = DefinitionStore(str(tmp_path / "store"))
    before = listing(store)
    pm = FakeCib()  # its resource was removed since
    result = command(tmp_path, pm=pm, source=["--from-store"])
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.splitlines() == [
        "added web1 again from revision 1 in the store (nothing new stored), resource web1 "
        "(stopped, 2 constraints to the storage); checked on node1, node2, node3",
        "start it with: havirt domain start web1",
    ]
    assert len(pm.pushed) == 1 and listing(store) == before


def test_the_command_names_from_store_for_a_stored_name_and_xml_for_an_unknown_one(
    tmp_path,
) -> None:
    result = command(tmp_path, pm=FakeCib(), source=["--from-store"])
    assert result.exit_code == 2
    assert "web1 is not in the definition store" in result.stderr
    assert "fix: add it from its domain XML: --xml FILE" in result.stderr
    assert command(tmp_path, pm=FakeCib()).exit_code == 0
    pm = FakeCib()
    result = command(tmp_path, pm=pm)
    assert result.exit_code == 2
    assert "web1 is already in the definition store (revision 1) but not in" in result.stderr
    assert "havirt domain add web1 --from-store" in result.stderr
    assert "havirt domain revert web1 REV" in result.stderr
    assert pm.pushed == []


@pytest.mark.parametrize(
    ("source", "extra"),
    [([], []), (["--from-store", "--xml", "x.xml"], []), (None, ["--wait", "9"])],
    ids=["neither", "both", "wait-without-start"],
)
def test_the_command_refuses_contradicting_options(tmp_path, source, extra) -> None:
    pm = FakeCib()
    result = command(tmp_path, *extra, pm=pm, source=source)
    assert result.exit_code == 2
    assert ("--wait only applies with --start" if extra else "--xml FILE") in result.stderr
    if not extra:
        assert "--from-store" in result.stderr
    assert pm.pushed == [] and DefinitionStore(str(tmp_path / "store")).guests() == []


# -- --start: the resource added, then started as `domain start NAME --wait` does


def crm_status(where: tuple[str, ...], maintenance: bool = False):
    """crm_mon's view: three nodes, web1 running on ``where``."""
    from havirt.tools.pacemaker import ClusterStatus, NodeStatus, ResourceStatus

    nodes = tuple(
        NodeStatus(n, n, True, False, False, False, False, False, False, False, 0, "member")
        for n in ("node1", "node2", "node3")
    )
    web1 = ResourceStatus(
        id="web1",
        agent="ocf:havirt:VirtualDomain",
        role="Started" if where else "Stopped",
        active=bool(where),
        managed=True,
        failed=False,
        blocked=False,
        orphaned=False,
        nodes=where,
    )
    return ClusterStatus(nodes, (web1,), (), "node1", True, True, maintenance)


class StartingCib(FakeCib):
    """A FakeCib that also answers what `domain start` and the cluster lock ask."""

    def __init__(self, status, started_meanwhile: bool = False) -> None:
        super().__init__()
        self.crm_status = status
        self.started_meanwhile = started_meanwhile  # another admin starts it after the push
        self.written: list[tuple[str, str, str]] = []

    def push_cib(self, new_file: str, original_file: str, *, timeout=None) -> None:
        super().push_cib(new_file, original_file)
        if self.started_meanwhile:
            self.cib = self.cib.replace(
                'name="target-role" value="Stopped"', 'name="target-role" value="Started"'
            )

    def status(self, *, timeout=None):
        return self.crm_status

    def set_resource_meta(self, resource: str, name: str, value: str, *, timeout=None) -> None:
        self.written.append((resource, name, value))

    def create_element(self, scope: str, xml: str, *, timeout=None) -> bool:  # the lock
        return True

    def delete_where(self, xpath: str, *, timeout=None) -> None:
        return None


def cluster_env(pm: StartingCib):
    from havirt.tools.cluster.env import ClusterEnv
    from havirt.tools.cluster.lock import Holder, LockEnv

    lock = LockEnv(
        me=Holder("", "alice", "node1", 4242, 1),
        now=lambda: WHEN,
        monotonic=lambda: 0.0,
        sleep=lambda seconds: None,
        alive=lambda pid, start: True,
        new_token=lambda: "t1",
    )
    return ClusterEnv(pm, lock.monotonic, lock.now, lock.sleep, lock)  # type: ignore[arg-type]


def test_start_refused_leaves_it_added_and_stopped_and_exits_1(tmp_path) -> None:
    pm = StartingCib(crm_status((), maintenance=True))
    result = command(tmp_path, "--start", pm=pm, env=cluster_env(pm))
    assert result.exit_code == 1, result.output + result.stderr
    assert result.stdout.startswith("added web1: revision 1 in the store")
    assert "maintenance mode" in result.stderr
    assert (
        "havirt: web1 was added but not started: it stays added and stopped (target-role "
        "Stopped); start it with: havirt domain start web1"
    ) in result.stderr
    assert len(pm.pushed) == 1 and pm.written == []
    assert DefinitionStore(str(tmp_path / "store")).numbers("web1") == [1]


def test_start_in_json_carries_the_start_report_and_its_refusal(tmp_path) -> None:
    pm = StartingCib(crm_status((), maintenance=True))
    result = command(tmp_path, "--start", "--json", pm=pm, env=cluster_env(pm))
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert (body["guest"], body["revision"], body["start"]["ok"]) == ("web1", 1, False)
    assert "maintenance mode" in body["start"]["error"]


def test_start_of_a_guest_someone_started_meanwhile_is_done_and_exits_0(tmp_path) -> None:
    pm = StartingCib(crm_status(("node2",)), started_meanwhile=True)
    result = command(tmp_path, "--start", "--wait", "30", pm=pm, env=cluster_env(pm))
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.splitlines()[1:] == ["web1: already running on node2"]
    assert "start it with" not in result.stdout and pm.written == []
    (tmp_path / "json").mkdir()
    pm = StartingCib(crm_status(("node2",)), started_meanwhile=True)
    result = command(tmp_path / "json", "--start", "--json", pm=pm, env=cluster_env(pm))
    assert result.exit_code == 0, result.output + result.stderr
    start = json.loads(result.stdout)["start"]
    assert (start["action"], start["changed"], start["ok"], start["before"]) == (
        "start",
        False,
        True,
        ["node2"],
    )


def test_a_dry_run_with_start_says_it_would_start_it(tmp_path) -> None:
    pm = FakeCib()
    result = command(tmp_path, "--start", "--dry-run", pm=pm)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "web1 can be added (checked on node1, node2, node3); nothing was changed; with "
        "--start it would then be started"
    )
    result = command(tmp_path, "--start", "--dry-run", "--json", pm=pm)
    assert json.loads(result.stdout)["start"] == {"would_start": True}
    assert pm.pushed == []


def test_a_removed_guest_whose_history_pacemaker_still_keeps_comes_back(tmp_path) -> None:
    store = removed(tmp_path)
    pm = FakeCib()
    history = "<node_state id='1'><lrm><lrm_resources><lrm_resource id='web1'/>"
    pm.cib = pm.cib.replace(
        "<status/>", f"<status>{history}</lrm_resources></lrm></node_state></status>"
    )
    report = run(tmp_path, pm, text=store.get("web1"), from_store=True)
    assert report.revision == 1 and len(pm.pushed) == 1


def test_what_may_still_go_wrong_is_reported_with_the_guest_added(tmp_path) -> None:
    text = GUEST.replace("</vcpu>", "</vcpu><cpu mode='host-passthrough'/>")

    def unlike(nodes) -> None:  # unlike CPUs: a host-passthrough guest may not migrate
        nodes["node2"].cpu_model = "Haswell"

    node_facts = facts(text, unlike)
    report = run(tmp_path, FakeCib(), node_facts, text=text)
    assert report.revision == 1
    [warning] = report.warnings
    assert "host-passthrough" in warning and "node2: Haswell" in warning
