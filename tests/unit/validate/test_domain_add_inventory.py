"""`havirt domain add NAME --from-inventory`: the domain XML rendered from the inventory's
[[guests]] entry (tools/domains/from_inventory.py), and the command adding it with the
inventory's wishes, as `havirt generate` renders them (tools/cli/domain_add.py). The
rendering against libvirt's own schema: tests/contract/test_from_inventory_schema.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from havirt.tools.domains import DefinitionStore
from havirt.tools.domains import from_inventory as F
from havirt.tools.errors import BadRequest, Refused
from havirt.tools.generate import cib_plan
from havirt.tools.inventory import load_text
from lxml import etree
from test_domain_add import INVENTORY as BASE
from test_domain_add import NODE, WHEN, FakeCib, run, schemas
from validate_fakes import cluster

UUID = "0b6a3c1e-5a2f-4c38-9d0e-2f4b1f8e7a11"
# The cluster of test_domain_add.py (its storage "shared" at /srv/pool), with networks
# and guests.
INVENTORY = (
    BASE
    + """
[[networks]]
name = "lan"
bridge = "br0"
[[networks]]
name = "inside"
bridge = "virbr9"
forward = "nat"
address = "192.168.9.1/24"
[[guests]]
name = "web1"
vcpus = 2
memory = "512MiB"
mac = "52:54:00:00:01:01"
preferred_nodes = ["node2"]
anti_affinity = ["web"]
migrate = false
params = { shutdown_mode = "acpi" }
disk = { size = "20GiB", base_image = "base.qcow2", pool = "shared" }
[[guests]]
name = "web2"
vcpus = 1
memory = "256MiB"
anti_affinity = ["web"]
disk = { size = "8GiB" }
[[guests]]
name = "db1"
vcpus = 1
memory = "1GiB"
network = "inside"
"""
)
ALL_NODES = "".join(
    NODE.replace("NAME", f"node{i}").replace("ADDRESS", f"10.0.0.{10 + i}") for i in (1, 2, 3)
)


def inventory(store: str = "/srv/havirt-shared/definitions"):
    return load_text(INVENTORY.replace("STORE", store) + ALL_NODES, "cluster.toml")


# -- the rendering


def test_a_typical_guest_renders_as_the_golden_file(golden) -> None:
    inv = inventory()
    golden("domains/web1-from-inventory.xml", F.render(inv, F.guest_of(inv, "web1"), lambda: UUID))


def test_the_domain_type_is_the_callers_and_a_libvirt_network_is_used_by_name() -> None:
    inv = inventory()
    root = etree.fromstring(F.render(inv, F.guest_of(inv, "db1"), lambda: UUID, "qemu"))
    assert root.get("type") == "qemu"
    [interface] = root.findall("devices/interface")
    assert (interface.get("type"), interface.find("source").get("network")) == (
        "network",
        "inside",
    )
    assert interface.find("mac") is None
    assert root.find("devices/disk/source").get("file") == "/srv/pool/db1.qcow2"
    with pytest.raises(BadRequest, match=r"domain type 'xen'.*\n  fix: choose one of: kvm, qemu"):
        F.render(inv, F.guest_of(inv, "web2"), lambda: UUID, "xen")


def test_an_unknown_guest_is_refused_listing_the_inventorys_guests() -> None:
    with pytest.raises(BadRequest) as caught:
        F.guest_of(inventory(), "web9")
    assert caught.value.message == (
        "web9 is not a guest of the inventory cluster.toml (its guests: web1, web2, db1)"
    )


def test_the_disk_is_created_from_its_base_image_or_empty_of_its_size() -> None:
    inv = inventory()
    assert F.create_command(inv, F.guest_of(inv, "web1")) == (
        "qemu-img create -f qcow2 -b /srv/pool/base.qcow2 -F qcow2 /srv/pool/web1.qcow2 20G"
    )
    assert F.create_command(inv, F.guest_of(inv, "web2")) == (
        "qemu-img create -f qcow2 /srv/pool/web2.qcow2 8G"
    )
    assert F.create_command(inv, F.guest_of(inv, "db1")) == (
        "qemu-img create -f qcow2 /srv/pool/db1.qcow2 SIZE"
    )


# -- the library: the wishes carried into add


def test_a_constraint_the_cib_already_has_is_refused_naming_it(tmp_path) -> None:
    inv = inventory()
    wishes = F.wishes(inv, F.guest_of(inv, "web1"))
    pm = FakeCib()
    pm.cib = pm.cib.replace(
        "<constraints/>",
        "<constraints><rsc_location id='location-web1-node2-50' rsc='web1' node='node2' "
        "score='50'/></constraints>",
    )
    with pytest.raises(Refused) as caught:
        run(tmp_path, pm, wishes=wishes)
    assert caught.value.message == (
        "the CIB already has a constraint location-web1-node2-50; nothing was changed"
    )
    assert caught.value.hint == "remove it first (pcs constraint delete location-web1-node2-50)"
    assert pm.pushed == [] and DefinitionStore(str(tmp_path)).guests() == []


def test_the_wishes_are_generates_for_that_guest() -> None:
    inv = inventory()
    wishes = F.wishes(inv, F.guest_of(inv, "web1"))
    assert (wishes.params, wishes.migrate, wishes.hypervisor) == (
        {"shutdown_mode": "acpi"},
        False,
        "qemu:///system",
    )
    rendered = [
        etree.tostring(cib_plan.constraint_xml(c), encoding="unicode")
        for c in (*wishes.constraints, *wishes.apart)
    ]
    assert rendered == generated(("web1",))


# -- the command


def command(
    tmp_path: Path,
    *args: str,
    pm: FakeCib,
    files=("/srv/pool/web1.qcow2",),
    name="web1",
    source=("--from-inventory",),
    kvm: bool = True,
):
    """``havirt domain add NAME SOURCE ARGS --inventory cluster.toml`` on three fake
    nodes that have ``files``."""
    from click.testing import CliRunner
    from havirt.tools.cli.main import main
    from havirt.tools.cli.world import ClusterWorld
    from validate_fakes import FakeConnector

    _, fake_nodes = cluster(3, files=files, kvm=kvm)
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    text = INVENTORY.replace("STORE", str(store)) + ALL_NODES
    (tmp_path / "cluster.toml").write_text(text)
    world = ClusterWorld(
        connector=lambda *a: FakeConnector(fake_nodes),
        pacemaker=lambda: pm,  # type: ignore[arg-type,return-value]
        who=lambda: "alice",
        now=lambda: WHEN,
        scratch=lambda: str(tmp_path),
        schemas=str(schemas(tmp_path)),
    )
    argv = ["domain", "add", name, *source, *args, "--inventory", str(tmp_path / "cluster.toml")]
    return CliRunner().invoke(main, argv, obj=world)


def generated(names: tuple[str, ...]) -> list[str]:
    """The constraints `havirt generate` renders that name any of ``names``, as XML."""
    cib = cib_plan.to_xml_tree(cib_plan.plan(inventory()))
    return [
        etree.tostring(c, encoding="unicode")
        for c in cib.find("configuration/constraints")
        if {c.get("rsc"), c.get("with-rsc"), c.get("then")} & set(names)
    ]


def pushed_constraints(cib: str) -> list[str]:
    root = etree.fromstring(cib)
    return [etree.tostring(c, encoding="unicode") for c in root.find("configuration/constraints")]


def test_the_guest_is_added_with_the_inventorys_wishes_as_generate_renders_them(
    tmp_path,
) -> None:
    pm = FakeCib("<primitive id='web2' class='ocf' provider='havirt' type='VirtualDomain'/>")
    result = command(tmp_path, pm=pm)
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.splitlines() == [
        "added web1 from the inventory: revision 1 in the store, resource web1 (stopped, 4 "
        "constraints from the inventory); checked on node1, node2, node3",
        "start it with: havirt domain start web1",
    ]
    [cib] = pm.pushed
    # Storage order and colocation, the preferred node, the anti-affinity with web2:
    # exactly generate's, in generate's order.
    assert pushed_constraints(cib) == generated(("web1",))
    assert len(generated(("web1",))) == 4
    [primitive] = etree.fromstring(cib).findall("configuration/resources/primitive[@id='web1']")
    [web1] = [r for r in cib_plan.plan(inventory()).resources if r.id == "web1"]
    assert isinstance(web1, cib_plan.Primitive)
    want = cib_plan.primitive_xml(web1)

    def pairs(element, block: str) -> dict[str, str]:
        return {n.get("name"): n.get("value") for n in element.iterfind(f"{block}/nvpair")}

    store = DefinitionStore(str(tmp_path / "store"))
    given = pairs(primitive, "instance_attributes")
    assert given.pop("config") == store.current_path("web1")
    assert given == {k: v for k, v in pairs(want, "instance_attributes").items() if k != "config"}
    assert given["shutdown_mode"] == "acpi"
    assert pairs(primitive, "meta_attributes") == {
        **pairs(want, "meta_attributes"),
        "target-role": "Stopped",
    }
    assert pairs(primitive, "meta_attributes")["allow-migrate"] == "false"
    ops = [op.get("name") for op in primitive.iter("op")]
    assert ops == [op.get("name") for op in want.iter("op")] == ["monitor", "start", "stop"]
    assert pairs(primitive, "utilization") == pairs(want, "utilization")
    [revision] = store.history("web1")
    assert revision.why == "added from the inventory"
    stored = etree.fromstring(store.get("web1"))
    assert stored.find("devices/disk/source").get("file") == "/srv/pool/web1.qcow2"


def test_anti_affinity_with_a_guest_not_yet_added_waits_for_it(tmp_path) -> None:
    pm = FakeCib()
    result = command(tmp_path, pm=pm)
    assert result.exit_code == 0, result.output + result.stderr
    assert (
        "not made yet, as the other guest is not in the cluster (made when it is added from "
        "the inventory): colocation-web2-web1--1000"
    ) in result.stdout
    assert pushed_constraints(pm.pushed[0]) == generated(("web1",))[:3]
    # web2, added later, brings the constraint with web1 (its own wishes name it).
    later = FakeCib()
    later.cib = pm.cib
    result = command(tmp_path, pm=later, files=("/srv/pool/web2.qcow2",), name="web2")
    assert result.exit_code == 0, result.output + result.stderr
    both = pushed_constraints(later.cib)
    assert both[:3] == generated(("web1",))[:3]
    assert sorted(both) == sorted(generated(("web1", "web2")))


def test_a_missing_disk_is_refused_naming_the_node_and_how_to_create_it(tmp_path) -> None:
    pm = FakeCib()
    result = command(tmp_path, pm=pm, files=())
    assert result.exit_code == 2
    create = "qemu-img create -f qcow2 -b /srv/pool/base.qcow2 -F qcow2 /srv/pool/web1.qcow2 20G"
    assert (
        f"  node1: web1's disk /srv/pool/web1.qcow2 does not exist on node1; fix: create it "
        f"(havirt does not create disks): {create}"
    ) in result.stderr
    assert "web1 cannot be added: web1's disk /srv/pool/web1.qcow2 does not exist on node1 " in (
        result.stderr
    )
    assert f"fix: on node1: create it (havirt does not create disks): {create}" in result.stderr
    assert pm.pushed == [] and DefinitionStore(str(tmp_path / "store")).guests() == []


def test_nodes_without_kvm_are_refused_naming_the_qemu_domain_type(tmp_path) -> None:
    pm = FakeCib()
    result = command(tmp_path, pm=pm, kvm=False)
    assert result.exit_code == 2
    assert (
        "  node2: node2 cannot run domain type 'kvm' (no KVM there); fix: enable KVM there, "
        "or add the guest with domain type qemu (emulated, slower)"
    ) in result.stderr
    assert command(tmp_path, "--domain-type", "qemu", pm=pm, kvm=False).exit_code == 0
    assert len(pm.pushed) == 1
    stored = DefinitionStore(str(tmp_path / "store")).get("web1")
    assert etree.fromstring(stored).get("type") == "qemu"


def test_an_unknown_guest_is_refused_in_one_line_before_any_node_is_asked(tmp_path) -> None:
    pm = FakeCib()
    result = command(tmp_path, pm=pm, name="web9")
    assert result.exit_code == 2
    [error, fix] = result.stderr.splitlines()
    assert error == (
        "havirt: error: web9 is not a guest of the inventory cluster.toml (its guests: web1, "
        "web2, db1)"
    )
    assert "[[guests]]" in fix
    assert pm.pushed == []


def test_a_dry_run_shows_the_xml_it_would_store_and_json_carries_it(tmp_path) -> None:
    pm = FakeCib()
    result = command(tmp_path, "--dry-run", pm=pm)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "web1 can be added from the inventory (checked on node1, node2, node3); nothing was "
        "changed",
        "the domain XML it would store as revision 1:",
    ]
    assert lines[2] == '<domain type="kvm">' and "<name>web1</name>" in result.stdout
    result = command(tmp_path, "--dry-run", "--json", "--domain-type", "qemu", pm=pm)
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["from_inventory"], body["revision"]) == (True, None)
    assert etree.fromstring(body["definition"]).get("type") == "qemu"
    assert body["waiting"] == ["colocation-web2-web1--1000"]
    assert pm.pushed == [] and DefinitionStore(str(tmp_path / "store")).guests() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--xml", "web1.xml"], "give exactly one of --xml FILE"),
        (["--from-store"], "give exactly one of --xml FILE"),
    ],
    ids=["with-xml", "with-from-store"],
)
def test_from_inventory_with_another_source_is_refused(tmp_path, args, message) -> None:
    (tmp_path / "web1.xml").write_text("<domain/>")
    pm = FakeCib()
    result = command(tmp_path, pm=pm, source=("--from-inventory", *args))
    assert result.exit_code == 2
    assert message in result.stderr and "--from-inventory" in result.stderr
    assert pm.pushed == []


def test_the_domain_type_without_from_inventory_is_refused(tmp_path) -> None:
    (tmp_path / "web1.xml").write_text("<domain/>")
    xml = ("--xml", str(tmp_path / "web1.xml"))
    result = command(tmp_path, "--domain-type", "qemu", pm=FakeCib(), source=xml)
    assert result.exit_code == 2
    assert "--domain-type only applies with --from-inventory" in result.stderr


def test_an_inventory_that_puts_the_xml_elsewhere_than_the_store_is_warned_of(tmp_path) -> None:
    inv = inventory()  # [guest_defaults] config = /srv/havirt-shared/guests/{name}.xml
    report = run(tmp_path, FakeCib(), wishes=F.wishes(inv, F.guest_of(inv, "web1")))
    [warning] = report.warnings
    assert "/srv/havirt-shared/guests/web1.xml" in warning and "apply" in warning
    # Without a config of its own, the inventory points the guest at the store: in step.
    bare = INVENTORY.replace('config = "/srv/havirt-shared/guests/{name}.xml"\n', "")
    (tmp_path / "x").mkdir()
    inv = load_text(bare.replace("STORE", str(tmp_path / "x")) + ALL_NODES, "cluster.toml")
    again = run(tmp_path / "x", FakeCib(), wishes=F.wishes(inv, F.guest_of(inv, "web1")))
    assert again.warnings == []
