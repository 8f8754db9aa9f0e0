"""The comparisons: each kind of mismatch is reported on the right node, with a fix.

The nodes are fakes (validate_fakes.FakeNode) behind the session seam; the
whole library runs (collector, checks, engine) without SSH.
"""

from __future__ import annotations

import pytest
from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate import engine
from havirt.tools.validate.catalog import SKIPPABLE
from havirt.tools.validate.checks.context import ALL_NODES, CheckOptions, Context
from havirt.tools.validate.checks.lock import check_lock_manager
from havirt.tools.validate.facts import NodeFacts
from havirt.tools.validate.report import Report
from havirt.tools.validate.targets import Target
from validate_fakes import ConnectFailed, FakeConnector, FakeNode, cluster, net_xml, pool_xml


def run(
    targets: list[Target],
    nodes: dict[str, FakeNode],
    new_host: Target | None = None,
    **checks,
) -> Report:
    options = engine.Options(checks=CheckOptions(**checks), definitions={})
    return engine.validate(
        targets, FakeConnector(nodes), options, new_host, connect_errors=(ConnectFailed,)
    )


def errors(report: Report, check: str) -> list[Finding]:
    return [f for f in report.findings if f.code == check]


def only(report: Report, check: str) -> Finding:
    found = errors(report, check)
    assert len(found) == 1, found
    others = [f for f in report.findings if f.code != check and f.code != "lock-manager"]
    assert others == [], others
    return found[0]


def test_alike_nodes_pass_every_check() -> None:
    targets, nodes = cluster(3)
    for node in nodes.values():
        node.qemu_conf = 'lock_manager = "lockd"\n'
    report = run(targets, nodes)
    assert report.findings == []
    assert report.ok(strict=True)
    assert {c.status for c in report.checks} == {"ok"}


def test_a_network_missing_on_one_node() -> None:
    targets, nodes = cluster(3)
    del nodes["node2"].networks["lan"]
    finding = only(run(targets, nodes), "networks")
    assert (finding.node, finding.item, finding.severity) == ("node2", "network 'lan'", ERROR)
    assert "missing on node2; defined on node1, node3" in finding.message
    assert "virsh net-define lan.xml" in finding.fix and "(on node1)" in finding.fix


def test_a_network_with_another_bridge() -> None:
    targets, nodes = cluster(3)
    nodes["node3"].networks["lan"] = (net_xml("lan", "br9"), True, True)
    finding = only(run(targets, nodes), "networks")
    assert finding.node == "node3"
    assert finding.message == "bridge is 'br9' on node3; node1, node2 have 'br0'"
    assert "<bridge name='br0'/>" in finding.fix
    assert (finding.expected, finding.actual) == ("br0", "br9")


def test_network_flags_and_forward_mode() -> None:
    targets, nodes = cluster(3)
    nodes["node1"].networks["lan"] = (net_xml("lan", mode="nat"), False, False)
    found = {f.message.split(" is ")[0]: f for f in errors(run(targets, nodes), "networks")}
    assert set(found) == {"forward mode", "active", "autostart"}
    assert found["active"].fix == "on node1: virsh net-start lan"
    assert found["autostart"].fix == "on node1: virsh net-autostart lan"
    assert "<forward mode='bridge'/>" in found["forward mode"].fix


def test_a_network_only_one_node_has_is_reported_there() -> None:
    targets, nodes = cluster(3)
    nodes["node2"].networks["test"] = (net_xml("test", "br5"), True, False)
    finding = only(run(targets, nodes), "networks")
    assert (finding.node, finding.item) == ("node2", "network 'test'")
    assert "defined on node2 only, not on node1, node3" in finding.message
    assert "net-undefine test" in finding.fix


def test_two_nodes_that_disagree_report_the_node_lacking_the_object() -> None:
    targets, nodes = cluster(2)
    del nodes["node1"].networks["lan"]
    finding = only(run(targets, nodes), "networks")
    assert finding.node == "node1" and "missing" in finding.message


def test_a_pool_with_another_target_path() -> None:
    targets, nodes = cluster(3)
    nodes["node2"].pools["shared"] = (pool_xml("shared", "/mnt/elsewhere"), True, True)
    finding = only(run(targets, nodes), "pools")
    assert (finding.node, finding.item) == ("node2", "pool 'shared'")
    assert (
        finding.message == "target path is '/mnt/elsewhere' on node2; node1, node3 have '/srv/pool'"
    )
    assert "<target><path>/srv/pool</path></target>" in finding.fix


def test_a_pool_with_other_mount_options() -> None:
    targets, nodes = cluster(3)
    nodes["node1"].pools["shared"] = (pool_xml("shared", opts=("soft",)), True, True)
    finding = only(run(targets, nodes), "pools")
    assert finding.node == "node1" and "source is" in finding.message
    assert finding.actual["mount_opts"] == "soft" and "mount_opts" not in finding.expected


def test_ssh_trust_broken_by_a_missing_authorized_key() -> None:
    targets, nodes = cluster(3)
    for source in ("node1", "node3"):
        nodes[source].unreachable_peers["node2"] = "root@node2: Permission denied (publickey)."
    found = errors(run(targets, nodes), "ssh-trust")
    assert [(f.node, f.item) for f in found] == [
        ("node1", "node1 -> node2"),
        ("node3", "node3 -> node2"),
    ]
    assert "cannot reach node2 as root" in found[0].message
    assert "Permission denied (publickey)" in found[0].message
    assert found[0].fix.startswith("on node1, as root: ssh-copy-id root@node2")


def test_ssh_trust_host_key_and_libvirt_failures_have_their_own_fix() -> None:
    targets, nodes = cluster(3)
    nodes["node1"].unreachable_peers["node3"] = "Host key verification failed."
    nodes["node2"].libvirt_only_fails.add("node1")
    found = {f.item: f for f in errors(run(targets, nodes, migration_user="migrate"), "ssh-trust")}
    fix = found["node1 -> node3"].fix
    assert "/etc/ssh/ssh_host_ed25519_key.pub on node3" in fix and "'node3 <type> <key>'" in fix
    libvirt = found["node2 -> node1"]
    assert "SSH works, libvirt over SSH does not" in libvirt.message
    assert "migrate may use qemu:///system" in libvirt.fix
    assert "as migrate" in libvirt.message


def test_ssh_trust_reaching_the_wrong_host() -> None:
    targets, nodes = cluster(3)
    nodes["node2"].answers_as["node3"] = "node1"
    finding = only(run(targets, nodes), "ssh-trust")
    assert finding.node == "node2" and "calls itself 'node1', not node3" in finding.message


def test_cpu_differences_name_the_features_and_the_baseline() -> None:
    targets, nodes = cluster(3)
    nodes["node3"].cpu_model = "Haswell"
    nodes["node3"].cpu_features = ("vmx", "aes", "pcid")
    nodes["node1"].baseline = (
        "<cpu mode='custom' match='exact'><model fallback='forbid'>Haswell</model>"
        "<feature policy='require' name='vmx'/><feature policy='require' name='aes'/></cpu>\n"
    )
    finding = only(run(targets, nodes), "cpu")
    assert finding.node == "node3"
    assert "model 'Haswell' vs 'Skylake-Client'" in finding.message
    assert "lacks avx2" in finding.message and "has extra pcid" in finding.message
    assert "model 'Haswell' with the 2 features" in finding.fix
    assert finding.expected["baseline"].startswith("<cpu mode='custom'")
    assert sum("cpu-baseline" in c for c in nodes["node1"].commands) == 1


def test_alike_cpus_need_no_baseline() -> None:
    targets, nodes = cluster(2)
    run(targets, nodes)
    assert not any("cpu-baseline" in c for n in nodes.values() for c in n.commands)


def test_versions_differ_or_are_missing() -> None:
    targets, nodes = cluster(3)
    nodes["node2"].qemu = "8.0.0"
    nodes["node3"].corosync = None
    found = {f.item: f for f in errors(run(targets, nodes), "versions")}
    assert set(found) == {"QEMU", "Corosync"}
    assert (found["QEMU"].node, found["QEMU"].message) == (
        "node2",
        "QEMU 8.0.0 on node2; node1, node3: 7.2.0",
    )
    assert found["Corosync"].message == "Corosync is not installed on node3; node1, node2: 3.1.7"
    assert "apt-get install corosync" in found["Corosync"].fix


def test_software_no_node_has_is_not_a_mismatch() -> None:
    targets, nodes = cluster(3, pacemaker=None, corosync=None)
    assert errors(run(targets, nodes), "versions") == []


def test_duplicate_host_uuid() -> None:
    targets, nodes = cluster(3)
    nodes["node3"].uuid = nodes["node1"].uuid
    finding = only(run(targets, nodes), "host-uuid")
    assert finding.node == "node3"
    assert "same host UUID as node1" in finding.message
    assert "host_uuid" in finding.fix and "libvirtd.conf" in finding.fix


def test_hostname_that_is_not_the_node_name() -> None:
    targets, nodes = cluster(2)
    nodes["node2"].hostname = "localhost"
    nodes["node1"].answers_as["node2"] = "localhost"  # what node2's libvirt says over SSH
    finding = only(run(targets, nodes), "hostnames")
    assert (finding.node, finding.item) == ("node2", "hostname")
    assert "hostnamectl set-hostname node2" in finding.fix


def test_fqdn_and_short_names_agree() -> None:
    targets, nodes = cluster(2)
    nodes["node1"].hostname = "node1.example.org"
    assert errors(run(targets, nodes), "hostnames") == []


def test_resolution_disagreement_in_one_nodes_hosts_file() -> None:
    targets, nodes = cluster(3)
    nodes["node2"].hosts["node3"] = "10.0.0.99"
    finding = only(run(targets, nodes), "hostnames")
    assert (finding.node, finding.item) == ("node2", "name node3")
    assert finding.message == "node2 resolves node3 to 10.0.0.99; node1, node3: 10.0.0.13"
    assert "make node3 resolve to 10.0.0.13" in finding.fix


# Debian's installer maps the host's name to 127.0.1.1, Vagrant's hostname step to
# 127.0.2.1: the fix names the line that is there.
@pytest.mark.parametrize("loopback", ["127.0.1.1", "127.0.2.1"])
def test_unresolvable_and_loopback_names(loopback: str) -> None:
    targets, nodes = cluster(3)
    del nodes["node1"].hosts["node2"]
    nodes["node3"].hosts["node3"] = loopback
    found = {(f.node, f.item): f for f in errors(run(targets, nodes), "hostnames")}
    assert set(found) == {("node1", "name node2"), ("node3", "name node3")}
    assert "cannot resolve node2" in found[("node1", "name node2")].message
    loop = found[("node3", "name node3")]
    assert "loopback" in loop.message and f"remove '{loopback} node3')" in loop.fix


def test_nodes_known_by_address_have_no_names_to_check() -> None:
    targets, nodes = cluster(2)
    targets = [Target(t.address, t.address, "root") for t in targets]
    nodes = {t.address: nodes[f"node{i + 1}"] for i, t in enumerate(targets)}
    report = run(targets, nodes)
    assert errors(report, "hostnames") == []
    assert nodes["10.0.0.11"].commands and not any(
        "getent" in c for c in nodes["10.0.0.11"].commands
    )


def test_clock_offset_beyond_the_limit() -> None:
    targets, nodes = cluster(3)
    nodes["node2"].clock_skew = 3.0
    finding = only(run(targets, nodes), "clock")
    assert finding.node == "node2" and "off the other nodes (limit 1 s)" in finding.message
    assert finding.actual == pytest.approx(3.0, abs=0.1)
    assert "chrony" in finding.fix
    assert errors(run(targets, nodes, max_clock_offset=5.0), "clock") == []


def test_lock_manager_differs() -> None:
    targets, nodes = cluster(3)
    for name in ("node1", "node2"):
        nodes[name].qemu_conf = 'lock_manager = "lockd"\n'
    finding = only(run(targets, nodes), "lock-manager")
    assert finding.node == "node3"
    assert finding.message == "lock manager is 'none' on node3; node1, node2: 'lockd'"
    assert 'lock_manager = "lockd"' in finding.fix and "virtlockd" in finding.fix


def test_lockd_settings_must_agree_and_no_lock_manager_is_a_warning() -> None:
    targets, nodes = cluster(3)
    for node in nodes.values():
        node.qemu_conf = 'lock_manager = "lockd"\n'
        node.lockd_conf = 'file_lockspace_dir = "/srv/locks"\n'
    nodes["node1"].lockd_conf = 'file_lockspace_dir = "/var/lib/libvirt/lockd/files"\n'
    finding = only(run(targets, nodes), "lock-manager")
    assert (finding.node, finding.item) == ("node1", "file_lockspace_dir")
    targets, nodes = cluster(2)
    warning = only(run(targets, nodes), "lock-manager")
    assert (warning.node, warning.severity) == (ALL_NODES, WARNING)


def test_sanlock_host_ids_must_differ() -> None:
    targets, nodes = cluster(2)
    for node in nodes.values():
        node.qemu_conf = 'lock_manager = "sanlock"\n'
    # The fake serves qemu-lockd.conf only: build the facts' lock config directly.
    ctx = Context(targets, {n: NodeFacts(n) for n in nodes})
    from havirt.tools.validate.facts import LockConfig

    for name in nodes:
        ctx.facts[name].lock = LockConfig("sanlock", (), host_id="1")
    (finding,) = check_lock_manager(ctx)
    assert (finding.node, finding.item) == ("node2", "host_id")


def test_memory_for_n_plus_one() -> None:
    targets, nodes = cluster(3)
    gib = 1024 * 1024
    for node in nodes.values():
        node.meminfo_kib = (16 * gib, 3 * gib)
    nodes["node1"].guests = {"big": 6 * gib}
    finding = only(run(targets, nodes), "memory")  # others: 2 x (3 - 1) GiB = 4 GiB < 6 GiB
    assert finding.node == "node1" and "need 6144 MiB" in finding.message
    nodes["node1"].guests = {"a": 1 * gib, "b": 3 * gib}  # 4 GiB fit in total, "b" nowhere
    finding = only(run(targets, nodes), "memory")
    assert "guest b (3072 MiB) fits on no other node" in finding.message
    assert errors(run(targets, nodes, memory_reserve_mib=0), "memory") == []


def test_one_node_with_guests_gets_a_warning() -> None:
    targets, nodes = cluster(1)
    nodes["node1"].guests = {"vm": 1024}
    finding = only(run(targets, nodes), "memory")
    assert finding.severity == WARNING


# ---------------------------------------------------------------- --new-host


def test_new_host_is_measured_against_the_members() -> None:
    targets, nodes = cluster(3)
    members, joining = targets[:2], targets[2]
    del nodes["node3"].networks["lan"]
    nodes["node3"].networks["extra"] = (net_xml("extra", "br7"), True, True)
    report = run(members, nodes, new_host=joining)
    assert report.mode == "new-host" and report.new_host == "node3"
    found = {(f.node, f.item, f.severity) for f in errors(report, "networks")}
    assert found == {("node3", "network 'lan'", ERROR), ("node3", "network 'extra'", WARNING)}


def test_with_one_member_the_member_is_the_reference() -> None:
    targets, nodes = cluster(2)
    nodes["node2"].networks["lan"] = (net_xml("lan", "br9"), True, True)
    report = run(targets[:1], nodes, new_host=targets[1])
    (finding,) = errors(report, "networks")
    assert finding.node == "node2" and "node1 has 'br0'" in finding.message
    # Without --new-host, a tie goes to the first node listed: the same answer here.
    nodes["node1"].networks["lan"] = (net_xml("lan", "br9"), True, True)
    nodes["node2"].networks["lan"] = (net_xml("lan", "br0"), True, True)
    (finding,) = errors(run(targets, nodes), "networks")
    assert finding.node == "node2"


def test_new_host_duplicate_uuid_is_the_new_hosts_problem() -> None:
    targets, nodes = cluster(3)
    nodes["node3"].uuid = nodes["node2"].uuid
    finding = only(run(targets[1:], nodes, new_host=targets[0]), "host-uuid")
    assert finding.node == "node3"
    nodes["node1"].uuid = nodes["node2"].uuid
    nodes["node3"].uuid = "00000000-0000-0000-0000-000000000003"
    finding = only(run(targets[1:], nodes, new_host=targets[0]), "host-uuid")
    assert finding.node == "node1"


@pytest.mark.parametrize("check_id", SKIPPABLE)
def test_every_check_has_a_title_and_can_be_skipped(check_id: str) -> None:
    targets, nodes = cluster(2)
    report = engine.validate(
        targets, FakeConnector(nodes), engine.Options(skip=(check_id,)), None, (ConnectFailed,)
    )
    outcome = next(c for c in report.checks if c.id == check_id)
    assert outcome.status == "skipped" and outcome.title
