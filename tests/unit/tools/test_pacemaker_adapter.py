"""The Pacemaker adapter with fakes at the runner seam: exact argv, parsed output,
named exit codes. (tests/contract/test_generate_pacemaker.py runs the real tools.)"""

from __future__ import annotations

import pytest
from example_paths import DATA
from havirt.tools.pacemaker import (
    CibVersion,
    CrmExit,
    Pacemaker,
    PacemakerError,
    PacemakerTimeout,
    parse_simulation,
    parse_status,
)

CRM_MON = ["crm_mon", "--output-as", "xml", "--one-shot", "--inactive"]


def test_status_parses_crm_mon_xml(runner_queue) -> None:
    runner_queue.expect(CRM_MON, stdout=(DATA / "crm_mon-failed.xml").read_text())
    status = Pacemaker(runner_queue).status()
    assert [n.name for n in status.nodes] == ["node1", "node2"]
    assert status.node("node1").online and not status.node("node1").standby
    assert status.dc == "node2" and status.quorum is True
    assert not status.stonith_enabled and not status.maintenance_mode
    assert status.where("pool-a-clone") == ("node1", "node2")
    assert status.where("vm1") == ("node1",)
    vm1 = status.instances("vm1")[0]
    assert (vm1.agent, vm1.role, vm1.failed, vm1.parent) == (
        "ocf:heartbeat:Dummy",
        "Started",
        True,
        None,
    )
    assert [r.id for r in status.running_on("node2")] == ["pool-a", "vm2"]
    (failure,) = status.failed_actions
    assert (failure.resource, failure.task, failure.node, failure.interval_ms) == (
        "vm1",
        "monitor",
        "node1",
        10000,
    )
    assert (failure.exitcode, failure.exitstatus) == (7, "not running")


def test_online_nodes_and_one_resource_by_id() -> None:
    status = parse_status((DATA / "crm_mon-failed.xml").read_text())
    assert status.online == tuple(n.name for n in status.nodes if n.online)
    assert status.resource("vm1") == status.instances("vm1")[0]
    assert status.resource("no-such-resource") is None


def test_simulation_parses_planned_actions() -> None:
    sim = parse_simulation((DATA / "crm_simulate-standby.xml").read_text())
    migrate = next(a for a in sim.actions if a.action == "migrate")
    assert (migrate.resource, migrate.source, migrate.dest) == ("vm1", "node1", "node2")
    assert sim.before.node("node1").standby
    assert sim.after is not None and sim.after.where("vm1") == ("node2",)


def test_simulate_argv(runner_queue) -> None:
    runner_queue.expect(
        [
            "crm_simulate", "--output-as", "xml", "--xml-file", "c.xml", "--simulate",
            "--node-up", "n1", "--node-fail", "n2", "--op-inject", "vm1_monitor_10000@n1=7",
            "--quorum", "true",
        ],
        stdout=(DATA / "crm_simulate-standby.xml").read_text(),
    )  # fmt: skip
    Pacemaker(runner_queue).simulate(
        "c.xml", node_up=["n1"], node_fail=["n2"], op_inject=["vm1_monitor_10000@n1=7"], quorum=True
    )


def test_cib_file_reaches_every_tool(runner_queue, tmp_path) -> None:
    cib = tmp_path / "cib.xml"
    cib.write_text("<cib/>")  # read and checked by the adapter before cibadmin
    env = {"CIB_file": str(cib)}
    runner_queue.expect(
        ["cibadmin", "--query"], stdout="<cib epoch='7' admin_epoch='1' num_updates='3'/>", env=env
    )
    runner_queue.expect(
        ["pcs", "-f", str(cib), "resource", "config", "--output-format=json"],
        stdout='{"primitives": []}',
        env=env,
    )
    runner_queue.expect(["pcs", "cluster", "cib-push", "new.xml", "diff-against=old.xml"], env=env)
    pm = Pacemaker(runner_queue, cib_file=str(cib))
    version = pm.cib_version()
    assert (version.configuration, str(version)) == ((1, 7), "1.7.3")
    assert pm.resource_config() == {"primitives": []}
    pm.push_cib("new.xml", "old.xml")


def test_verify_sorts_errors_and_warnings(runner_queue) -> None:
    runner_queue.expect(
        ["crm_verify", "-VV", "--xml-file", "c.xml"],
        returncode=78,
        stderr="(cluster_status) \twarning: Node n1 is unclean but cannot be fenced\n"
        "crm_verify: Warnings found during check: config may not be valid\n",
    )
    runner_queue.expect(
        ["crm_verify", "-VV", "--live-check"],
        returncode=78,
        stderr="(unpack_resources) \terror: Resource start-up disabled since no STONITH "
        "resources have been defined\ncrm_verify: Errors found during check: config not valid\n"
        "-V may provide more details\n",
    )
    pm = Pacemaker(runner_queue)
    only_warnings = pm.verify("c.xml")
    assert only_warnings.ok  # crm_verify exits 78 for warnings alone too
    assert only_warnings.warnings == ("Node n1 is unclean but cannot be fenced",)
    live = pm.verify()
    assert not live.ok
    assert live.errors == (
        "Resource start-up disabled since no STONITH resources have been defined",
    )


def test_wait_timeout_is_named(runner_queue) -> None:
    runner_queue.expect(["crm_resource", "--wait", "--timeout=30s"], returncode=124)
    with pytest.raises(PacemakerTimeout) as caught:
        Pacemaker(runner_queue).wait(30)
    assert caught.value.code is CrmExit.TIMEOUT


def test_missing_tool_says_which_package(runner_queue) -> None:
    runner_queue.expect(CRM_MON, returncode=127, stderr="crm_mon: No such file or directory")
    with pytest.raises(PacemakerError) as caught:
        Pacemaker(runner_queue).status()
    assert str(caught.value) == (
        "crm_mon is not installed\n  fix: apt-get install pacemaker-cli-utils"
    )


def test_failures_carry_the_named_exit_code(runner_queue) -> None:
    runner_queue.expect(
        ["cibadmin", "--query"],
        returncode=102,
        stderr="Could not connect to the CIB: Transport endpoint is not connected",
    )
    with pytest.raises(PacemakerError) as caught:
        Pacemaker(runner_queue).cib_xml()
    assert caught.value.code is CrmExit.DISCONNECT
    assert "reading the CIB failed: 'cibadmin --query' exited 102: Could not connect" in str(
        caught.value
    )


def test_timeout_of_a_call(runner_queue) -> None:
    runner_queue.expect(CRM_MON, returncode=124, timed_out=True)
    with pytest.raises(PacemakerError, match=r"timed out \(after 5 s\)"):
        Pacemaker(runner_queue, timeout=5).status()


def test_node_attributes_properties_and_constraints(runner_queue) -> None:
    attribute = ["crm_attribute", "--node", "node1", "--name", "standby"]
    runner_queue.expect([*attribute, "--update", "on"])
    runner_queue.expect([*attribute, "--delete"])
    runner_queue.expect([*attribute, "--query", "--quiet"], stdout="on\n")
    runner_queue.expect([*attribute, "--query", "--quiet"], returncode=105)
    property_ = ["crm_attribute", "--type", "crm_config", "--name", "maintenance-mode"]
    runner_queue.expect([*property_, "--update", "true"])
    runner_queue.expect(
        ["cibadmin", "--modify", "--allow-create", "--scope", "constraints", "--xml-text", "<c/>"]
    )
    runner_queue.expect(
        ["cibadmin", "--delete-all", "--force", "--xpath", "//constraints/*[@id='a' or @id='b']"]
    )
    pm = Pacemaker(runner_queue)
    pm.set_node_attribute("node1", "standby", "on")
    pm.set_node_attribute("node1", "standby", None)
    assert pm.node_attribute("node1", "standby") == "on"
    assert pm.node_attribute("node1", "standby") is None
    pm.maintenance_mode(True)
    pm.add_constraints("<c/>")
    pm.delete_constraints(["b", "a", "a"])
    pm.delete_constraints([])  # nothing to do, no call
    with pytest.raises(PacemakerError, match="cannot be quoted"):
        pm.delete_constraints(["it's"])


def test_status_of_a_crm_mon_without_dc() -> None:
    xml = (DATA / "crm_mon-failed.xml").read_text()
    start = xml.index("<current_dc")
    xml = xml[:start] + '<current_dc present="false"/>' + xml[xml.index("/>", start) + 2 :]
    status = parse_status(xml)
    assert status.dc is None and status.quorum is None


def test_cib_version_compares_configuration_only() -> None:
    a = CibVersion.of('<cib admin_epoch="0" epoch="5" num_updates="9"/>')
    b = CibVersion.of(b'<cib admin_epoch="0" epoch="5" num_updates="12"/>')
    assert a.configuration == b.configuration and a != b


def test_prefix_runner_runs_behind_the_prefix() -> None:
    """``run`` starts ``prefix`` + the command line and reports the command line (run for
    real by tests/integration/test_apply_single_node_pacemaker.py)."""
    from havirt.tools.pacemaker import PrefixRunner

    runner = PrefixRunner(["nsenter", "-t", "42", "-m", "--"])
    argv, env = runner.command_line(["cibadmin", "--query"], {"CIB_file": "/x.xml"})
    assert argv == ("env", "CIB_file=/x.xml", "cibadmin", "--query")
    assert runner.prefix == ("nsenter", "-t", "42", "-m", "--")
    assert env == runner.env  # the variable goes on the command line, not in the environment


def test_errors_from_xml_output_and_a_hint_when_not_on_a_cluster(runner_queue) -> None:
    xml = """<pacemaker-result api-version="2.25" request="crm_mon --output-as xml -1">
  <status code="102" message="Not connected">
    <errors>
      <error>crm_mon: Connection to cluster failed: Connection refused</error>
    </errors>
  </status>
</pacemaker-result>
"""
    runner_queue.expect(CRM_MON, returncode=102, stdout=xml)
    with pytest.raises(PacemakerError) as caught:
        Pacemaker(runner_queue).status()
    assert caught.value.message == (
        "reading the cluster status failed: Not connected (102); "
        "crm_mon: Connection to cluster failed: Connection refused"
    )
    assert "set CIB_file=FILE" in (caught.value.hint or "")


def test_a_simulation_without_cluster_status_is_refused() -> None:
    with pytest.raises(PacemakerError, match="no cluster_status"):
        parse_simulation("<pacemaker-result><actions/></pacemaker-result>")


def test_set_resource_meta_is_one_crm_resource_call(runner_queue) -> None:
    meta = ["crm_resource", "--resource", "vm1", "--meta"]
    runner_queue.expect([*meta, "--set-parameter", "target-role", "--parameter-value", "Stopped"])
    Pacemaker(runner_queue).set_resource_meta("vm1", "target-role", "Stopped")
