"""Collecting facts: the collector against a fake node. The framed scripts, run by a
real sh, are tested in tests/integration/test_validate_probe_shell.py."""

from __future__ import annotations

import pytest
from havirt.tools.validate import probe
from havirt.tools.validate.targets import Target
from havirt.tools.validate.trust_probe import trust_peers
from validate_fakes import FakeNode, FakeSession, cluster


def test_trust_peers_start_after_the_node_itself() -> None:
    targets, _ = cluster(4)
    assert [t.name for t in trust_peers(targets, "node3")] == ["node4", "node1", "node2"]


def collect(node: FakeNode, targets: list[Target], **options) -> probe.Collector:
    collector = probe.Collector(
        FakeSession(node, now=lambda: 1000.0),
        next(t for t in targets if t.name == node.name),
        targets,
        probe.ProbeOptions(clock=lambda: 1000.0, **options),
        "root",
    )
    collector.collect()
    return collector


def test_collector_reads_a_healthy_node() -> None:
    targets, nodes = cluster(3)
    nodes["node1"].guests = {"vm1": 1048576}
    facts = collect(nodes["node1"], targets).facts
    assert facts.problems == []
    assert facts.hostname == "node1"
    assert facts.host_uuid.endswith("1")
    assert facts.networks["lan"].bridge == "br0"
    assert facts.pools["shared"].target == "/srv/pool"
    assert facts.versions == {
        "libvirt": "9.0.0",
        "qemu": "7.2.0",
        "pacemaker": "2.1.5",
        "corosync": "3.1.7",
    }
    assert facts.resolution == {
        "node1": ("10.0.0.11",),
        "node2": ("10.0.0.12",),
        "node3": ("10.0.0.13",),
    }
    assert facts.lock.manager == "none"
    assert facts.memory.guests_kib == (("vm1", 1048576),)
    assert facts.clock_offset == 0.0
    assert set(facts.trust) == {"node2", "node3"} and all(t.ok for t in facts.trust.values())


def test_one_node_needs_no_trust_probe() -> None:
    targets, nodes = cluster(1)
    collector = collect(nodes["node1"], targets)
    assert collector.facts.trust is None
    assert len(nodes["node1"].commands) == 3  # date, facts, definitions


def test_collector_reports_libvirt_down_per_check() -> None:
    targets, nodes = cluster(2)
    nodes["node2"].libvirt_up = False
    facts = collect(nodes["node2"], targets).facts
    checks = {p.code for p in facts.problems}
    assert {"networks", "pools", "host-uuid", "cpu", "versions", "hostnames"} <= checks
    assert all("failed to connect to the hypervisor" in p.message for p in facts.problems)
    assert facts.networks is None and facts.cpu is None


def test_unreadable_qemu_conf_is_a_warning_with_a_fix() -> None:
    targets, nodes = cluster(2)
    nodes["node1"].qemu_conf = None
    (problem,) = collect(nodes["node1"], targets).facts.problems
    assert (problem.code, problem.severity) == ("lock-manager", "warning")
    assert "Permission denied" in problem.message
    assert "run validate as root" in problem.fix


def test_an_unknown_name_resolves_to_nothing_and_a_broken_getent_is_a_problem() -> None:
    targets, nodes = cluster(3)
    del nodes["node1"].hosts["node3"]
    assert collect(nodes["node1"], targets).facts.resolution["node3"] == ()
    nodes["node2"].hosts = {"node1": "0.0.0.1"}  # looks like the separator: cannot be read
    facts = collect(nodes["node2"], targets).facts
    assert facts.resolution is None
    (problem,) = facts.problems
    assert (problem.code, problem.item) == ("hostnames", "name resolution")
    assert "getent ahosts node1" in problem.fix


def test_missing_cluster_software_is_none_not_an_error() -> None:
    targets, nodes = cluster(2)
    nodes["node1"].pacemaker = None
    facts = collect(nodes["node1"], targets).facts
    assert facts.versions["pacemaker"] is None and facts.problems == []


def test_trust_failures_keep_the_ssh_diagnosis() -> None:
    targets, nodes = cluster(3)
    nodes["node1"].unreachable_peers["node2"] = "Permission denied (publickey)."
    nodes["node1"].libvirt_only_fails.add("node3")
    trust = collect(nodes["node1"], targets, migration_user="migrate").facts.trust
    assert not trust["node2"].ok and trust["node2"].ssh_ok is False
    assert trust["node2"].ssh_error == "Permission denied (publickey)."
    assert not trust["node3"].ok and trust["node3"].ssh_ok is True
    assert "failed to connect" in trust["node3"].libvirt_error
    assert "qemu+ssh://migrate@node2/system" in nodes["node1"].commands[-1]


def test_clock_offset_is_measured_against_the_middle_of_the_round_trip() -> None:
    targets, nodes = cluster(1)
    node = nodes["node1"]
    node.clock_skew = 5.0
    ticks = iter([100.0, 100.4])
    collector = probe.Collector(
        FakeSession(node, now=lambda: 100.2),
        targets[0],
        targets,
        probe.ProbeOptions(clock=lambda: next(ticks)),
        "root",
    )
    collector.collect_clock()
    assert collector.facts.clock_offset == pytest.approx(5.0)
    assert collector.facts.clock_uncertainty == pytest.approx(0.2)


def test_cpu_baseline_is_parsed_only_when_virsh_gives_a_cpu() -> None:
    _, nodes = cluster(1)
    session = FakeSession(nodes["node1"])
    assert probe.cpu_baseline(session, ["<cpu/>"], 10) is None
    nodes["node1"].baseline = "<cpu mode='custom'><model>Haswell</model></cpu>\n"
    assert probe.cpu_baseline(session, ["<cpu/>"], 10).startswith("<cpu mode='custom'>")


def test_what_a_guest_needs_of_a_node_is_collected_in_the_same_round_trips() -> None:
    targets, nodes = cluster(1)
    node = nodes["node1"]
    node.kvm = False
    node.bridges = ("br-lan", "virbr0")
    node.files = ("/srv/pool/web1.qcow2",)
    node.running = {"web1": "4DEA22B3-1D52-D8F3-2516-782E98AB3FA0"}
    node.domains = {"web1": "<domain><name>web1</name></domain>"}
    paths = ("/srv/pool/web1.qcow2", "/dev/disk/by-path/it's gone")
    facts = collect(node, targets, paths=paths).facts
    assert facts.bridges == frozenset({"br-lan", "virbr0"})
    assert facts.paths == {paths[0]: True, paths[1]: False}
    assert facts.running == {"4dea22b3-1d52-d8f3-2516-782e98ab3fa0": "web1"}
    assert facts.definitions == {"web1": "<domain><name>web1</name></domain>"}
    arch = facts.guest_arches["x86_64"]
    assert arch.emulators == {"/usr/bin/qemu-system-x86_64"}
    assert {"pc", "pc-i440fx-7.2", "q35", "pc-q35-7.2"} <= arch.machines
    assert arch.domain_types == {"qemu"}
    # The guest CPUs of each domain type the node has (no KVM: qemu's alone).
    assert set(facts.guest_cpus) == {"qemu"}
    assert facts.guest_cpus["qemu"].usable == {"qemu64", "kvm64", "Nehalem", "Skylake-Client"}
    assert len(node.commands) == 3  # date, facts, definitions: no round trip of their own


def test_paths_are_not_tested_unless_asked() -> None:
    targets, nodes = cluster(1)
    facts = collect(nodes["node1"], targets).facts
    assert facts.paths is None
    assert not any("for p in" in c for c in nodes["node1"].commands)


def test_unreadable_guest_cpus_are_a_warning_and_unknown() -> None:
    targets, nodes = cluster(1)
    nodes["node1"].cpu_models = ("qemu64", "<broken")
    facts = collect(nodes["node1"], targets).facts
    assert facts.guest_cpus == {}
    assert [(p.code, p.severity, p.item) for p in facts.problems] == [
        ("cpu", "warning", "kvm guest CPUs"),
        ("cpu", "warning", "qemu guest CPUs"),
    ]
    assert facts.problems[0].message.startswith("unreadable domcapabilities: malformed XML")
