"""Record keeping's logic with fakes at the seams: the CIB reader, the node URIs, the join
of Pacemaker's and libvirt's views with its flags, gather() over a fake runner and
scanner, and the libvirt listing on libvirt's own test driver."""

from __future__ import annotations

import threading
import time

import pytest
from havirt.tools import records
from havirt.tools.errors import HavirtError
from havirt.tools.findings import ERROR, NOTE
from havirt.tools.pacemaker import Pacemaker, parse_status
from havirt.tools.pacemaker.cib import parse_config
from havirt.tools.records import flags, scan
from records_fakes import (
    CIBADMIN,
    CRM_MON,
    ArgvRunner,
    FakeScanner,
    Rsc,
    cib_xml,
    crm_mon_xml,
    dom,
    guest_primitive,
    sources,
)

THREE = [guest_primitive(g) for g in ("vm1", "vm2", "vm3")]
HEALTHY = [Rsc("vm1", ["node1"]), Rsc("vm2", ["node2"]), Rsc("vm3", ["node3"])]
LIBVIRT_HEALTHY = {"node1": [dom("vm1")], "node2": [dom("vm2")], "node3": [dom("vm3")]}


def listing(resources=HEALTHY, libvirt=None, primitives=THREE, **crm) -> records.DomainListing:
    found = sources(crm_mon_xml(resources, **crm), cib_xml(primitives), libvirt or LIBVIRT_HEALTHY)
    return records.guests(found)


def by_name(found: records.DomainListing) -> dict[str, records.Guest]:
    return {g.name: g for g in found.guests}


def codes(guest: records.Guest) -> list[str]:
    return [f.code for f in guest.flags]


# -- the CIB ------------------------------------------------------------------------------


def test_cib_guests_any_provider_params_utilization_and_parents() -> None:
    extra = (
        '<template id="tpl" class="ocf" provider="heartbeat" type="VirtualDomain">'
        '<instance_attributes id="tpl-ia"><nvpair id="tpl-h" name="hypervisor" '
        'value="qemu:///system"/></instance_attributes></template>'
        '<primitive id="vm9" template="tpl"><instance_attributes id="vm9-ia">'
        '<nvpair id="vm9-c" name="config" value="/x/vm9.xml"/></instance_attributes></primitive>'
        '<group id="grp"><primitive id="vm8" class="ocf" provider="heartbeat" '
        'type="VirtualDomain"/></group>'
        '<primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"/>'
        '<primitive id="fence-node1" class="stonith" type="fence_xvm"/>'
    )
    config = records.parse_config(cib_xml([guest_primitive("vm1")], extra_resources=extra))
    assert [g.id for g in config.guests] == ["vm1", "vm9", "vm8"]
    vm1 = config.primitives["vm1"]
    assert vm1.agent == "ocf:havirt:VirtualDomain"
    assert vm1.params["migration_transport"] == "tcp"
    assert vm1.utilization == {"cpu": "1", "hv_memory": "128"}
    vm9 = config.primitives["vm9"]  # the template's agent and parameters, its own on top
    assert vm9.agent == "ocf:heartbeat:VirtualDomain"
    assert vm9.params == {"hypervisor": "qemu:///system", "config": "/x/vm9.xml"}
    assert config.primitives["vm8"].parent == "grp"
    assert config.primitives["fence-node1"].agent == "stonith:fence_xvm"
    assert config.node_capacity["node2"] == {"cpu": "4", "hv_memory": "2048"}


def test_cib_location_constraints_naming_a_guest() -> None:
    constraints = (
        '<rsc_location id="cli-prefer-vm1" rsc="vm1" node="node2" score="INFINITY" role="Started"/>'
        '<rsc_location id="cli-ban-vm1-on-node3" rsc="vm1" node="node3" score="-INFINITY"/>'
        '<rsc_location id="pref" rsc="vm2" node="node1" score="100"/>'
        '<rsc_location id="pattern" rsc-pattern="^vm[0-9]$" node="node3" score="-50"/>'
        '<rsc_location id="ruled" rsc="vm1"><rule id="r1" score="-INFINITY" boolean-op="or">'
        '<expression id="e1" attribute="#uname" operation="eq" value="node3"/>'
        '<expression id="e2" attribute="pingd" operation="not_defined"/></rule></rsc_location>'
        '<rsc_location id="set" node="node1" score="10"><resource_set id="s">'
        '<resource_ref id="vm1"/></resource_set></rsc_location>'
    )
    config = records.parse_config(cib_xml(THREE, constraints=constraints))
    found = {c.id: c for c in config.locations_of("vm1")}
    assert set(found) == {"cli-prefer-vm1", "cli-ban-vm1-on-node3", "pattern", "ruled", "set"}
    assert found["cli-prefer-vm1"].origin == "move" and found["cli-prefer-vm1"].role == "Started"
    assert found["cli-ban-vm1-on-node3"].origin == "ban"
    assert found["ruled"].rule == "#uname eq node3 or pingd not_defined"
    assert found["ruled"].score == "-INFINITY" and found["ruled"].node is None
    assert [c.id for c in config.locations_of("vm2")] == ["pref", "pattern"]


# -- how nodes are reached ----------------------------------------------------------------


def test_node_uris_follow_the_guests_migration_transport_and_local_hypervisor() -> None:
    config = records.parse_config(cib_xml(THREE))
    uris = records.node_uris(["node1", "node2"], config.guests, local="node1")
    assert uris == {"node1": "qemu:///system", "node2": "qemu+tcp://node2/system"}


def test_node_uris_without_transport_are_the_stock_agents_remote_uri() -> None:
    config = records.parse_config(cib_xml([guest_primitive("vm1", transport=None)]))
    assert records.node_uris(["node2"], config.guests) == {"node2": "qemu://node2/system"}


def test_node_uris_take_the_most_common_way_of_the_guests() -> None:
    prims = [guest_primitive("a", transport="ssh"), *THREE]
    config = records.parse_config(cib_xml(prims))
    assert records.node_uris(["n"], config.guests) == {"n": "qemu+tcp://n/system"}


def test_node_uris_without_guests_fall_back_to_ssh_and_local_system() -> None:
    uris = records.node_uris(["node1", "node2"], [], local="node1")
    assert uris == {"node1": "qemu:///system", "node2": "qemu+ssh://node2/system"}


def test_a_connect_template_is_used_for_every_node() -> None:
    config = records.parse_config(cib_xml(THREE))
    uris = records.node_uris(
        ["node1", "node2"], config.guests, template="qemu+ssh://root@{node}/system", local="node1"
    )
    assert uris == {
        "node1": "qemu+ssh://root@node1/system",
        "node2": "qemu+ssh://root@node2/system",
    }


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("qemu+ssh://node1/system", "does not contain {node}"),
        ("qemu+bogus://{node}/system", "unknown transport"),
    ],
)
def test_a_bad_connect_template_is_refused_with_a_hint(template: str, message: str) -> None:
    with pytest.raises(HavirtError, match=message):
        records.node_uris(["node1"], [], template=template)


def test_the_local_node_is_found_by_host_name() -> None:
    assert scan.local_node(["node1", "node2"], "node2") == "node2"
    assert scan.local_node(["node1", "node2"], "node2.example.com") == "node2"
    assert scan.local_node(["node1"], "workstation") is None


# -- the join and its flags ---------------------------------------------------------------


def test_a_healthy_cluster_lists_every_guest_without_flags() -> None:
    found = listing()
    assert [g.name for g in found.guests] == ["vm1", "vm2", "vm3"]
    vm2 = by_name(found)["vm2"]
    assert (vm2.resource, vm2.role, vm2.pacemaker_nodes, vm2.running_on) == (
        "vm2",
        "Started",
        ("node2",),
        ("node2",),
    )
    assert not any(g.flags for g in found.guests)
    assert found.complete and not found.flagged


def test_a_second_copy_on_another_node_is_flagged_with_the_rogue_node() -> None:
    libvirt = {**LIBVIRT_HEALTHY, "node3": [dom("vm3"), dom("vm2")]}
    vm2 = by_name(listing(libvirt=libvirt))["vm2"]
    assert codes(vm2) == [flags.TWO_NODES]
    (flag,) = vm2.flags
    assert flag.severity == ERROR
    assert flag.message == (
        "libvirt runs it on node2 and node3; Pacemaker knows only the copy on node2"
    )
    assert "on node3: virsh destroy vm2" in flag.fix


def test_pacemaker_itself_seeing_a_guest_on_two_nodes_is_flagged() -> None:
    resources = [Rsc("vm1", ["node1", "node2"]), *HEALTHY[1:]]
    libvirt = {**LIBVIRT_HEALTHY, "node2": [dom("vm2"), dom("vm1")]}
    vm1 = by_name(listing(resources, libvirt))["vm1"]
    assert codes(vm1) == [flags.TWO_NODES, flags.TWO_NODES]
    assert vm1.flags[0].message == "Pacemaker sees it active on node1 and node2"


def test_a_domain_no_resource_describes_is_outside_pacemaker() -> None:
    libvirt = {**LIBVIRT_HEALTHY, "node2": [dom("vm2"), dom("stray")]}
    found = listing(libvirt=libvirt)
    stray = by_name(found)["stray"]
    assert stray.resource is None and stray.running_on == ("node2",)
    assert codes(stray) == [flags.OUTSIDE]
    assert "runs on node2 outside Pacemaker's knowledge" in stray.flags[0].message
    assert found.flagged == (stray,)


def test_a_domain_only_defined_outside_pacemaker_is_listed_not_flagged() -> None:
    libvirt = {**LIBVIRT_HEALTHY, "node3": [dom("vm3"), dom("old", "shutoff", persistent=True)]}
    old = by_name(listing(libvirt=libvirt))["old"]
    assert old.defined_on == ("node3",) and old.running_on == () and old.flags == ()


def test_started_in_pacemaker_but_not_running_there_is_a_disagreement() -> None:
    libvirt = {**LIBVIRT_HEALTHY, "node2": [dom("vm2", "shutoff", persistent=True)]}
    vm2 = by_name(listing(libvirt=libvirt))["vm2"]
    assert codes(vm2) == [flags.DISAGREE]
    assert (
        vm2.flags[0].message
        == "Pacemaker has it started on node2, but libvirt there has it shutoff"
    )
    libvirt = {**LIBVIRT_HEALTHY, "node2": []}
    vm2 = by_name(listing(libvirt=libvirt))["vm2"]
    assert vm2.flags[0].message.endswith("but libvirt there does not know it")
    assert "crm_resource --refresh -r vm2" in vm2.flags[0].fix


def test_running_elsewhere_or_while_stopped_is_a_disagreement() -> None:
    libvirt = {"node1": [dom("vm1")], "node2": [], "node3": [dom("vm3"), dom("vm2")]}
    vm2 = by_name(listing(libvirt=libvirt))["vm2"]
    assert [f.message for f in vm2.flags] == [
        "Pacemaker has it started on node2, but libvirt there does not know it",
        "libvirt runs it on node3, but Pacemaker has it on node2",
    ]
    resources = [*HEALTHY[:2], Rsc("vm3", [])]
    vm3 = by_name(listing(resources))["vm3"]
    assert [f.message for f in vm3.flags] == [
        "libvirt runs it on node3, but Pacemaker has it stopped"
    ]


def test_a_live_migration_in_progress_is_a_note_not_a_double_start() -> None:
    incoming = dom("vm2", "paused", reason="migration")
    libvirt = {**LIBVIRT_HEALTHY, "node3": [dom("vm3"), incoming]}
    found = listing(libvirt=libvirt)
    vm2 = by_name(found)["vm2"]
    assert codes(vm2) == [flags.MIGRATING] and vm2.flags[0].severity == NOTE
    assert "node3 (paused/migration)" in vm2.flags[0].message
    assert not found.flagged


def test_an_unreachable_node_makes_the_view_incomplete_and_its_guests_unverified() -> None:
    libvirt = {**LIBVIRT_HEALTHY, "node2": "libvirt did not answer 'connect' within 5.0s"}
    found = listing(libvirt=libvirt)
    vm2 = by_name(found)["vm2"]
    assert vm2.unverified == ("node2",) and codes(vm2) == [flags.UNVERIFIED]
    assert not found.flagged and not found.complete
    assert [s.node for s in found.unreachable] == ["node2"]


def test_offline_nodes_not_asked_do_not_make_the_view_incomplete() -> None:
    resources = [Rsc("vm1", ["node1"]), Rsc("vm2", ["node2"]), Rsc("vm3", [])]
    libvirt = {**LIBVIRT_HEALTHY, "node3": None}
    found = listing(resources, libvirt, offline=["node3"])
    assert found.complete and not found.flagged
    assert by_name(found)["vm3"].role == "Stopped"


def test_failed_blocked_and_failed_actions() -> None:
    resources = [Rsc("vm1", ["node1"], failed=True), Rsc("vm2", ["node2"], blocked=True)]
    failures = [
        {
            "op_key": "vm1_monitor_10000",
            "node": "node1",
            "exitstatus": "not running",
            "exitreason": "gone",
            "exitcode": "7",
            "call": "9",
            "status": "complete",
            "task": "monitor",
            "interval": "10000",
        }
    ]
    found = by_name(listing([*resources, HEALTHY[2]], failures=failures))
    assert codes(found["vm1"]) == [flags.FAILED, flags.FAILED_ACTIONS]
    assert found["vm1"].flags[1].message == "failed actions: monitor on node1: not running (gone)"
    assert codes(found["vm2"]) == [flags.BLOCKED]


def test_the_domain_is_the_one_the_config_file_names() -> None:
    crm = crm_mon_xml([Rsc("guest-a", ["node1"])])
    cib = cib_xml([guest_primitive("guest-a")])
    ident = {"guest-a": records.GuestIdentity("guest-a", "alpha", "uuid-alpha", "/x/a.xml")}
    libvirt = {"node1": [dom("alpha")], "node2": [dom("guest-a", uuid="other")]}
    found = by_name(records.guests(sources(crm, cib, libvirt, identities=ident)))
    assert found["alpha"].resource == "guest-a" and found["alpha"].running_on == ("node1",)
    assert found["alpha"].flags == ()
    # Same name, another UUID: not this guest -- a domain outside Pacemaker.
    assert codes(found["guest-a"]) == [flags.OUTSIDE]


def test_guests_on_a_node_and_an_unknown_node() -> None:
    found = listing()
    assert [g.name for g in records.guests_on(found, "node3").guests] == ["vm3"]
    with pytest.raises(records.RecordsError, match="no cluster node named node9") as info:
        records.guests_on(found, "node9")
    assert "node1, node2, node3" in (info.value.hint or "")


# -- one guest ----------------------------------------------------------------------------


def test_locate_by_resource_domain_name_or_uuid_with_its_constraints() -> None:
    constraints = '<rsc_location id="cli-prefer-vm2" rsc="vm2" node="node3" score="INFINITY"/>'
    found = sources(crm_mon_xml(HEALTHY), cib_xml(THREE, constraints=constraints), LIBVIRT_HEALTHY)
    for name in ("vm2", "uuid-vm2", "UUID-VM2"):
        where = records.locate(found, name)
        assert where.guest.name == "vm2" and where.guest.running_on == ("node2",)
    assert [c.id for c in where.locations] == ["cli-prefer-vm2"]
    data = where.to_dict()
    assert data["location_constraints"][0]["origin"] == "move"
    assert [n["node"] for n in data["nodes"]] == ["node1", "node2", "node3"]


def test_locating_an_unknown_guest_is_an_error_saying_who_was_not_heard() -> None:
    libvirt = {**LIBVIRT_HEALTHY, "node3": "no route to host"}
    found = sources(crm_mon_xml(HEALTHY), cib_xml(THREE), libvirt)
    with pytest.raises(records.RecordsError, match="no guest named vm7") as info:
        records.locate(found, "vm7")
    assert "libvirt of node3 did not answer" in info.value.message
    assert info.value.hint == "'havirt domain list' shows every guest"


# -- nodes --------------------------------------------------------------------------------


def test_nodes_state_guests_utilization_and_libvirt() -> None:
    resources = [Rsc("vm1", ["node1"]), Rsc("vm2", ["node1"]), Rsc("vm3", [])]
    prims = [guest_primitive("vm1"), guest_primitive("vm2", cpu=2, memory=512), THREE[2]]
    libvirt = {"node1": [dom("vm1"), dom("vm2")], "node2": "refused", "node3": None}
    found = sources(
        crm_mon_xml(resources, standby=["node2"], offline=["node3"]), cib_xml(prims), libvirt
    )
    node1, node2, node3 = records.nodes(found)
    assert (node1.state, node1.is_dc, node1.guests) == ("online", True, ("vm1", "vm2"))
    assert node1.utilization["cpu"] == records.Usage(4, 3)
    assert node1.utilization["hv_memory"] == records.Usage(2048, 640)
    assert node1.libvirt_running == ("vm1", "vm2")
    assert (node2.state, node2.libvirt.ok, node2.libvirt.error) == ("standby", False, "refused")
    assert (node3.state, node3.libvirt.asked) == ("offline", False)
    assert node3.to_dict()["libvirt"]["reachable"] is None


@pytest.mark.parametrize(
    ("crm", "state"),
    [
        ({"unclean": ["node2"]}, "unclean"),
        ({"offline": ["node2"]}, "offline"),
        ({"standby": ["node2"]}, "standby"),
        ({}, "online"),
    ],
)
def test_node_state_words(crm: dict, state: str) -> None:
    found = sources(crm_mon_xml([], **crm), cib_xml([]), {})
    assert records.nodes(found)[1].state == state


# -- gather -------------------------------------------------------------------------------


def test_gather_reads_crm_mon_and_the_cib_and_asks_only_online_nodes(tmp_path) -> None:
    config = tmp_path / "vm1.xml"
    config.write_text(
        "<domain type='qemu'><name>alpha</name><uuid>AAAA-1</uuid><memory>1024</memory></domain>"
    )
    gone = str(tmp_path / "nonexistent" / "vm2.xml")  # a config file this node lacks
    cib = cib_xml([guest_primitive("vm1", config=str(config)), guest_primitive("vm2", config=gone)])
    crm = crm_mon_xml([Rsc("vm1", ["node1"]), Rsc("vm2", [])], offline=["node3"])
    runner = ArgvRunner({CRM_MON: crm, CIBADMIN: cib})
    scanner = FakeScanner({"node1": [dom("alpha", uuid="aaaa-1")]})
    found = records.gather(Pacemaker(runner), scanner, timeout=2.5, hostname="node1")
    assert sorted(runner.calls) == sorted([CRM_MON, CIBADMIN])
    assert scanner.asked == [({"node1": "qemu:///system", "node2": "qemu+tcp://node2/system"}, 2.5)]
    assert found.local == "node1"
    assert found.scans["node3"].asked is False
    assert found.identities["vm1"] == records.GuestIdentity("vm1", "alpha", "aaaa-1", str(config))
    vm2 = found.identities["vm2"]  # its config file does not exist here: the id stands in
    assert vm2.domain == "vm2" and "config file" in (vm2.problem or "")
    assert by_name(records.guests(found))["alpha"].running_on == ("node1",)


def test_gather_asks_offline_nodes_too_when_told() -> None:
    runner = ArgvRunner({CRM_MON: crm_mon_xml([], offline=["node3"]), CIBADMIN: cib_xml([])})
    scanner = FakeScanner({})
    records.gather(Pacemaker(runner), scanner, all_nodes=True, hostname="elsewhere")
    assert list(scanner.asked[0][0]) == ["node1", "node2", "node3"]


def test_nodes_libvirt_reads_each_node_as_gather_does_when_asked() -> None:
    status = parse_status(crm_mon_xml([], offline=["node3"]))
    config = parse_config(cib_xml([]))
    scanner = FakeScanner({"node2": "refused"})
    view = records.NodesLibvirt(scanner, "qemu+ssh://root@{node}/system", 3.0, hostname="x")
    assert scanner.asked == []  # nothing is read until a command asks
    scans = view.domains(status, config)
    assert scanner.asked == [({n: f"qemu+ssh://root@{n}/system" for n in ("node1", "node2")}, 3.0)]
    assert (scans["node2"].error, scans["node3"].asked) == ("refused", False)
    records.NodesLibvirt(scanner, all_nodes=True, hostname="x").domains(status, config)
    assert list(scanner.asked[-1][0]) == ["node1", "node2", "node3"]


def test_gather_fails_clearly_when_pacemaker_does_not_answer() -> None:
    runner = ArgvRunner({CIBADMIN: cib_xml([])})  # crm_mon "not installed"
    with pytest.raises(HavirtError, match="crm_mon is not installed"):
        records.gather(Pacemaker(runner), FakeScanner({}))


# -- the libvirt side ---------------------------------------------------------------------


def test_scanner_gives_up_on_a_node_that_never_answers() -> None:
    release = threading.Event()

    def stuck(node: str, uri: str, timeout: float) -> records.NodeScan:
        if node == "node2":
            release.wait(30)
        return records.NodeScan(node, uri)

    start = time.monotonic()
    try:
        # the join waits the bound itself
        scanner = records.LibvirtScanner(clock=lambda: 0.0, scan_node=stuck)
        found = scanner.scan({"node1": "u1", "node2": "u2"}, timeout=0.2)
    finally:
        release.set()
    assert time.monotonic() - start < 10  # the timeout plus the close margin, not 30 s
    assert found["node1"].ok
    assert found["node2"].error == "no answer within 0.2 s"
