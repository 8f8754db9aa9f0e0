"""Can every node run this guest? tools/domains/fit.py on facts as validate's probe
collects them (here from fake nodes, through the real collector)."""

from __future__ import annotations

import pytest
from havirt.tools.domains.fit import Needs, judge_fit, read_needs
from havirt.tools.findings import ERROR, WARNING
from havirt.tools.userinput import parse_xml
from havirt.tools.validate import probe
from havirt.tools.validate.facts import NodeFacts
from validate_fakes import FakeNode, FakeSession, cluster, pool_xml

UUID = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
GUEST = f"""<domain type='qemu'>
  <name>web1</name><uuid>{UUID}</uuid>
  <memory unit='GiB'>2</memory><currentMemory unit='MiB'>1024</currentMemory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><source file='/srv/pool/web1.qcow2'/></disk>
    <disk type='block' device='disk'><source dev='/dev/disk/by-id/wwn-0x5000'/></disk>
    <disk type='volume' device='disk'><source pool='shared' volume='data'/></disk>
    <disk type='network' device='disk'><source protocol='iscsi' name='iqn.x/1'/></disk>
    <disk type='file' device='cdrom'/>
    <interface type='network'><source network='lan'/></interface>
    <interface type='bridge'><source bridge='br0'/></interface>
  </devices>
</domain>"""
PRESENT = ("/srv/pool/web1.qcow2", "/dev/disk/by-id/wwn-0x5000")


def needs(text: str = GUEST) -> Needs:
    return read_needs(parse_xml(text, "the XML"))


def facts_of(nodes: dict[str, FakeNode], targets, need: Needs) -> dict[str, NodeFacts]:
    found = {}
    for target in targets:
        collector = probe.Collector(
            FakeSession(nodes[target.name], now=lambda: 1000.0),
            target,
            targets,
            probe.ProbeOptions(trust=False, clock=lambda: 1000.0, paths=need.paths),
            "root",
        )
        found[target.name] = collector.collect()
    return found


def judge(nodes, targets, text: str = GUEST, **kw):
    need = needs(text)
    return judge_fit(need, facts_of(nodes, targets, need), **kw)


@pytest.fixture
def three():
    targets, nodes = cluster(3, files=PRESENT)
    return targets, nodes


def test_what_a_guest_needs_is_read_from_its_xml() -> None:
    n = needs()
    assert (n.name, n.uuid, n.domain_type, n.arch, n.machine) == (
        "web1",
        UUID,
        "qemu",
        "x86_64",
        "pc",
    )
    assert n.memory_kib == 2 * 1024 * 1024  # the larger of memory and currentMemory
    assert (n.networks, n.bridges, n.volume_pools) == (("lan",), ("br0",), ("shared",))
    assert n.paths == PRESENT  # network disks and empty cdroms ask nothing of a node


def test_alike_nodes_can_run_it(three) -> None:
    assert judge(*reversed(three)) == []


def test_a_bridge_missing_on_one_node_names_that_node(three) -> None:
    targets, nodes = three
    nodes["node2"].bridges = ("br1",)
    [f] = judge(nodes, targets)
    assert (f.code, f.node, f.guest, f.item) == ("networks", "node2", "web1", "bridge 'br0'")
    assert f.message == "node2 has no bridge 'br0'"
    assert "create the bridge 'br0' on node2" in (f.fix or "")


def test_a_disk_outside_the_shared_pool_is_refused_once(three) -> None:
    targets, nodes = three
    for node in nodes.values():
        node.files = (*PRESENT, "/var/lib/libvirt/images/web1.qcow2")
    text = GUEST.replace("/srv/pool/web1.qcow2", "/var/lib/libvirt/images/web1.qcow2")
    [f] = judge(nodes, targets, text)
    assert (f.code, f.node) == ("disks", "*")
    assert f.message == (
        "web1's disk /var/lib/libvirt/images/web1.qcow2 is outside the storage every node "
        "shares (shared: shared at /srv/pool)"
    )


def test_a_pool_at_another_path_on_one_node_is_not_shared(three) -> None:
    targets, nodes = three
    nodes["node3"].pools = {"shared": (pool_xml("shared", target="/mnt/other"), True, True)}
    codes = {(f.code, f.node) for f in judge(nodes, targets)}
    assert ("disks", "*") in codes


def test_a_disk_missing_on_a_node(three) -> None:
    targets, nodes = three
    nodes["node1"].files = PRESENT[:1]
    [f] = judge(nodes, targets)
    assert (f.node, f.message) == (
        "node1",
        "web1's disk /dev/disk/by-id/wwn-0x5000 does not exist on node1",
    )


def test_more_memory_than_any_node_has(three) -> None:
    targets, nodes = three
    text = GUEST.replace("<memory unit='GiB'>2</memory>", "<memory unit='GiB'>64</memory>")
    [f] = judge(nodes, targets, text)
    assert (f.code, f.node) == ("memory", "*")
    assert f.message == (
        "web1 needs 65536 MiB; the largest node, node1, has 15360 MiB after the 1024 MiB reserve"
    )


def test_kvm_where_a_node_has_none(three) -> None:
    targets, nodes = three
    nodes["node3"].kvm = False
    [f] = judge(nodes, targets, GUEST.replace("type='qemu'", "type='kvm'", 1))
    assert (f.node, f.message) == ("node3", "node3 cannot run domain type 'kvm' (no KVM there)")
    assert "<domain type='qemu'>" in (f.fix or "")


def test_machine_and_emulator_and_network_unknown(three) -> None:
    targets, nodes = three
    del nodes["node2"].networks["lan"]
    text = GUEST.replace("machine='pc'", "machine='pc-q35-9.9'").replace(
        "/usr/bin/qemu-system-x86_64", "/opt/qemu/bin/qemu"
    )
    found = {(f.code, f.node, f.item) for f in judge(nodes, targets, text)}
    assert ("networks", "node2", "network 'lan'") in found
    assert {("hypervisor", n, "machine pc-q35-9.9") for n in nodes} <= found
    assert {("hypervisor", n, "emulator /opt/qemu/bin/qemu") for n in nodes} <= found


def test_a_guest_of_that_name_or_uuid_running_anywhere(three) -> None:
    targets, nodes = three
    nodes["node2"].running = {"web1": "11111111-1d52-d8f3-2516-782e98ab3fa0"}
    nodes["node3"].running = {"old-web": UUID}
    found = sorted((f.node, f.message) for f in judge(nodes, targets) if f.code == "identity")
    assert found == [
        (
            "node2",
            "a guest named web1 (UUID 11111111-1d52-d8f3-2516-782e98ab3fa0) already runs on node2",
        ),
        ("node3", f"the guest old-web (UUID {UUID}) already runs on node3"),
    ]


def test_an_unknown_memory_unit_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown memory unit 'parsecs'"):
        needs(GUEST.replace("unit='GiB'", "unit='parsecs'"))


def test_the_inventorys_shared_storage_counts_as_shared(three) -> None:
    targets, nodes = three
    for node in nodes.values():
        node.pools = {}  # no libvirt pool at all: the storage is mounted, as the inventory says
    need = needs()
    node_facts = facts_of(nodes, targets, need)
    outside = [("disks", "*", "disk /srv/pool/web1.qcow2")]
    assert [(f.code, f.node, f.item) for f in judge_fit(need, node_facts) if f.node == "*"] == (
        outside
    )
    found = judge_fit(need, node_facts, storage={"shared": "/srv/pool"})
    assert [f for f in found if f.node == "*"] == []


def cpu(xml: str) -> str:
    """The guest with ``xml`` as its <cpu>."""
    return GUEST.replace("<devices>", f"{xml}\n  <devices>", 1)


def test_the_guests_cpu_is_read_from_its_xml() -> None:
    assert (needs().cpu_mode, needs().cpu_model) == (None, None)  # no <cpu>: any CPU will do
    custom = needs(cpu("<cpu match='exact'><model fallback='forbid'>Haswell</model></cpu>"))
    assert (custom.cpu_mode, custom.cpu_model, custom.cpu_fallback) == (
        "custom",
        "Haswell",
        "forbid",
    )
    passthrough = needs(cpu("<cpu mode='host-passthrough' check='none'/>"))
    assert (passthrough.cpu_mode, passthrough.cpu_model) == ("host-passthrough", None)
    topology = needs(cpu("<cpu><topology sockets='1' cores='2' threads='1'/></cpu>"))
    assert (topology.cpu_mode, topology.cpu_model, topology.cpu_fallback) == (
        "custom",
        None,
        "allow",
    )


def test_a_model_every_node_gives_fits(three) -> None:
    targets, nodes = three
    assert judge(nodes, targets, cpu("<cpu mode='custom'><model>Nehalem</model></cpu>")) == []
    assert judge(nodes, targets, cpu("<cpu mode='host-model'/>")) == []


def test_a_model_one_node_cannot_give_names_it_and_the_cluster_baseline(three) -> None:
    targets, nodes = three
    nodes["node2"].cpu_models = ("qemu64", "kvm64", "Westmere", "Nehalem", "Opteron_G2")
    [f] = judge(nodes, targets, cpu("<cpu><model fallback='forbid'>Skylake-Client</model></cpu>"))
    assert (f.code, f.severity, f.node, f.item) == (
        "cpu",
        ERROR,
        "node2",
        "CPU model Skylake-Client",
    )
    assert f.message == (
        "node2 cannot give the guest CPU model Skylake-Client "
        "(usable here: Westmere, Nehalem, qemu64, kvm64, Opteron_G2)"
    )
    assert f.fix == (
        "choose a model every node has: e.g. the cluster baseline Nehalem (or: qemu64, kvm64)"
    )


def test_a_model_the_host_lacks_features_for_is_refused_even_with_fallback_allowed(three) -> None:
    targets, nodes = three
    found = judge(nodes, targets, cpu("<cpu><model fallback='allow'>Skylake-Server</model></cpu>"))
    assert [(f.node, f.severity) for f in found] == [(n, ERROR) for n in nodes]
    assert "libvirt may give another model" not in found[0].message


def test_a_model_a_node_does_not_know_is_a_warning_when_libvirt_may_fall_back(three) -> None:
    targets, nodes = three
    nodes["node3"].cpu_models = ("qemu64", "Nehalem")
    [f] = judge(nodes, targets, cpu("<cpu><model>Skylake-Client</model></cpu>"))
    assert (f.node, f.severity) == ("node3", WARNING)
    assert f.message.endswith(
        "(usable here: Nehalem, qemu64); libvirt may give another model instead"
    )
    [f] = judge(nodes, targets, cpu("<cpu><model fallback='forbid'>Skylake-Client</model></cpu>"))
    assert (f.node, f.severity) == ("node3", ERROR)


def test_the_guests_own_domain_type_is_judged(three) -> None:
    targets, nodes = three
    kvm_guest = cpu("<cpu><model>Skylake-Client</model></cpu>").replace(
        "type='qemu'", "type='kvm'", 1
    )
    for node in nodes.values():
        node.kvm = False  # no KVM: no kvm guest CPUs; the domain type's own finding says it
    assert {f.code for f in judge(nodes, targets, kvm_guest)} == {"hypervisor"}
    # A guest of another architecture than the nodes' own: its CPUs were not asked.
    arm = cpu("<cpu><model>cortex-a57</model></cpu>").replace("x86_64", "aarch64")
    assert "cpu" not in {f.code for f in judge(nodes, targets, arm)}


def test_nodes_that_did_not_say_their_cpus_are_not_judged(three) -> None:
    targets, nodes = three
    for node in nodes.values():
        node.cpu_models = None  # domcapabilities failed: nothing known, nothing refused
    assert judge(nodes, targets, cpu("<cpu><model>Icelake-Server</model></cpu>")) == []


def test_host_passthrough_where_a_node_lacks_it_and_across_unlike_cpus(three) -> None:
    targets, nodes = three
    text = cpu("<cpu mode='host-passthrough'/>")
    assert judge(nodes, targets, text) == []  # alike nodes: migrates fine
    nodes["node2"].cpu_model = "Haswell"
    [f] = judge(nodes, targets, text)
    assert (f.code, f.severity, f.node) == ("cpu", WARNING, "*")
    assert f.message == (
        "web1's CPU mode host-passthrough gives it each node's own CPU, and the nodes' CPUs "
        "differ (node1: Skylake-Client, node2: Haswell, node3: Skylake-Client): a live "
        "migration between them may fail"
    )
    nodes["node2"].cpu_model = "Skylake-Client"
    nodes["node3"].cpu_features = ("vmx",)
    [f] = judge(nodes, targets, text)
    assert "(all Skylake-Client with other features)" in f.message
    nodes["node3"].cpu_features = nodes["node1"].cpu_features
    nodes["node1"].cpu_modes = ("custom", "host-model")  # under TCG: no host-passthrough
    [f] = judge(nodes, targets, text)
    assert (f.severity, f.node, f.message) == (
        ERROR,
        "node1",
        "node1 cannot give qemu guests the CPU mode host-passthrough",
    )
    assert f.fix == (
        "give the guest a CPU model every node has (<cpu mode='custom'>): e.g. the cluster "
        "baseline Skylake-Client (or: Nehalem, qemu64, kvm64)"
    )


def test_no_model_every_node_gives_says_so(three) -> None:
    targets, nodes = three
    nodes["node1"].cpu_models = ("Nehalem",)
    nodes["node2"].cpu_models = ("EPYC",)
    found = judge(nodes, targets, cpu("<cpu><model fallback='forbid'>EPYC</model></cpu>"))
    assert [(f.node, f.fix) for f in found] == [
        (n, "no CPU model is usable on every node: use host-model") for n in ("node1", "node3")
    ]
