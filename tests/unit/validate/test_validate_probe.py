"""Collecting facts: the framed scripts (run by a real local sh) and the collector
(against a fake node)."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest
from havirt.ocf.runner import CommandRunner
from havirt.tools.validate import facts as F
from havirt.tools.validate import probe
from havirt.tools.validate.targets import Target
from validate_fakes import FakeNode, FakeSession, cluster


def run_sh(script: str, path: str | None = None, timeout: float = 30) -> str:
    env = {"PATH": path} if path else None
    result = CommandRunner().run(["sh", "-c", script], timeout=timeout, env=env)
    assert result.ok, result.describe()
    return result.stdout


def test_sections_keep_each_commands_output_exit_code_and_errors_apart() -> None:
    boundary = probe.new_boundary()
    script = probe.sections_script(
        boundary,
        [
            ("one", "printf 'line 1\\nline 2\\n'"),
            ("no-newline", "printf partial"),
            ("fails", "echo out; echo 'error: broken' >&2; exit 3"),
            ("missing", "no-such-command-here"),
            ("quotes", 'echo "it\'s $((1 + 1))"'),
            ("exit-stays-inside", "exit 4"),
        ],
    )
    found = probe.parse_sections(boundary, run_sh(script))
    assert found["one"] == probe.Section("line 1\nline 2", 0, "")
    assert found["no-newline"].stdout == "partial"
    assert (found["fails"].stdout, found["fails"].rc) == ("out", 3)
    assert found["fails"].error() == "broken"
    assert found["missing"].rc == 127
    assert "not found" in found["missing"].error()
    assert found["quotes"].stdout == "it's 2"
    assert found["exit-stays-inside"].rc == 4
    assert found["exit-stays-inside"].rc == 4


def test_a_hanging_command_times_out_alone() -> None:
    boundary = probe.new_boundary()
    hang = probe.bounded("sleep 30", 1)
    script = probe.sections_script(boundary, [("hang", hang), ("after", "echo ok")])
    found = probe.parse_sections(boundary, run_sh(script, timeout=20))
    assert found["hang"].rc == 124 and found["hang"].error() == "timed out"
    assert found["after"] == probe.Section("ok", 0, "")


def test_output_mimicking_the_frame_does_not_confuse_the_parser() -> None:
    boundary = probe.new_boundary()
    fake = "@@havirt-0000000000000000 end x 0"
    script = probe.sections_script(boundary, [("x", f"echo '{fake}'")])
    assert probe.parse_sections(boundary, run_sh(script))["x"].stdout == fake


@pytest.mark.skipif(shutil.which("virsh") is None, reason="virsh (libvirt-clients) not installed")
def test_virsh_batch_markers_and_quoting_with_libvirts_test_driver(tmp_path: Path) -> None:
    name = "odd name 'with\" \\ chars"
    escaped = name.replace("'", "&apos;").replace('"', "&quot;")
    xml = tmp_path / "net.xml"
    xml.write_text(f"<network><name>{escaped}</name><bridge name='vb9'/></network>")
    boundary = probe.new_boundary()
    batch = probe.virsh_batch(
        boundary,
        [
            ("define", f"net-define {probe.virsh_word(str(xml))}"),
            ("dump", f"net-dumpxml {probe.virsh_word(name)}"),
            ("names", "net-list --all --name"),
        ],
    )
    result = CommandRunner().run(["virsh", "-c", "test:///default", batch], timeout=30)
    answers = probe.split_marked(boundary, result.stdout)
    assert "vb9" in answers["dump"]
    assert name in answers["names"].splitlines()


@pytest.mark.skipif(shutil.which("getent") is None, reason="getent (libc-bin) not installed")
def test_one_real_getent_resolves_every_name_in_order() -> None:
    # Names any host resolves without DNS: numeric ones, each its own answer.
    names = ["127.0.0.2", "127.0.0.3"]
    keys = " ".join(F.getent_keys(names))
    answers = F.parse_getent_keys(run_sh(f"getent ahosts {keys}"), names)
    assert answers == {"127.0.0.2": ("127.0.0.2",), "127.0.0.3": ("127.0.0.3",)}


def test_trust_script_probes_every_peer_in_waves_and_asks_ssh_only_on_failure(
    tmp_path: Path,
) -> None:
    # Stand-ins for virsh and ssh: node3 refuses our key, node5's libvirt is down.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    (bin_dir / "virsh").write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        echo "virsh $2" >> {log}
        case "$2" in
          *node3*) echo 'error: Cannot recv data: Permission denied (publickey).' >&2; exit 1;;
          *node5*) echo 'error: failed to connect to the hypervisor' >&2; exit 1;;
        esac
        host=${{2#qemu+ssh://}}; echo "${{host%%/*}}"
        """)
    )
    (bin_dir / "ssh").write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        echo "ssh $*" >> {log}
        case "$*" in *node3*) echo 'root@node3: Permission denied (publickey).' >&2; exit 255;; esac
        exit 0
        """)
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    peers = [Target(f"node{i}", f"10.0.0.{i}") for i in range(2, 8)]
    boundary = probe.new_boundary()
    script = probe.trust_script(boundary, peers, "migrate", timeout=10)
    assert script.count(" wait") == 2  # 6 peers, 4 at a time
    path = f"{bin_dir}:{os.environ['PATH']}"
    found = probe.parse_sections(boundary, run_sh(script, path=path))
    assert found["v0"] == probe.Section("migrate@node2", 0, "")
    assert found["v1"].rc == 1 and found["s1"].rc == 255
    assert "Permission denied" in found["s1"].stderr
    assert found["v3"].rc == 1 and found["s3"].rc == 0
    assert "s0" not in found and "s2" not in found
    calls = log.read_text()
    assert calls.count("virsh ") == 6 and calls.count("ssh ") == 2
    assert "qemu+ssh://migrate@node4/system?no_tty=1" in calls
    assert "BatchMode=yes" in calls


def test_trust_peers_start_after_the_node_itself() -> None:
    targets, nodes = cluster(4)
    collector = probe.Collector(
        FakeSession(nodes["node3"]), targets[2], targets, probe.ProbeOptions(), "root"
    )
    assert [t.name for t in collector.trust_peers()] == ["node4", "node1", "node2"]


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
    checks = {p.check for p in facts.problems}
    assert {"networks", "pools", "host-uuid", "cpu", "versions", "hostnames"} <= checks
    assert all("failed to connect to the hypervisor" in p.message for p in facts.problems)
    assert facts.networks is None and facts.cpu is None


def test_unreadable_qemu_conf_is_a_warning_with_a_fix() -> None:
    targets, nodes = cluster(2)
    nodes["node1"].qemu_conf = None
    (problem,) = collect(nodes["node1"], targets).facts.problems
    assert (problem.check, problem.severity) == ("lock-manager", "warning")
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
    assert (problem.check, problem.item) == ("hostnames", "name resolution")
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
