"""`havirt node list`, `havirt domain list|locate`: rendering, --json and the exit codes,
with the sources faked at the CLI's one seam: the sources of the world it is passed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from havirt.tools import records
from havirt.tools.cli import records as records_cli
from havirt.tools.cli.main import main
from havirt.tools.cli.world import ClusterWorld
from records_fakes import Rsc, cib_xml, crm_mon_xml, dom, guest_primitive, sources

THREE = [guest_primitive(g) for g in ("vm1", "vm2", "vm3")]
HEALTHY = [Rsc("vm1", ["node1"]), Rsc("vm2", ["node2"]), Rsc("vm3", ["node3"])]
LIBVIRT = {"node1": [dom("vm1")], "node2": [dom("vm2")], "node3": [dom("vm3")]}


_passed: list[ClusterWorld] = []  # the world run() hands the CLI, set by cluster()


@pytest.fixture
def cluster():
    """``cluster(libvirt=..., resources=..., **crm_mon options)`` sets what the CLI reads;
    the options the command was given are kept in ``seen``."""
    seen: dict[str, object] = {}

    def set_up(libvirt=LIBVIRT, resources=HEALTHY, constraints="", **crm):
        found = sources(
            crm_mon_xml(resources, **crm), cib_xml(THREE, constraints=constraints), libvirt
        )

        def fake(template, timeout, all_nodes):
            seen.update(template=template, timeout=timeout, all_nodes=all_nodes)
            return found

        _passed[:] = [ClusterWorld(sources=fake)]
        return seen

    yield set_up
    _passed.clear()


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env, obj=_passed[0] if _passed else None)


def test_domain_list_healthy_exits_0_even_with_check(cluster) -> None:
    cluster()
    result = run("domain", "list", "--check")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "GUEST",
        "RESOURCE",
        "PACEMAKER",
        "LIBVIRT",
        "RUNNING",
        "DEFINED",
        "ON",
        "FLAGS",
    ]
    assert lines[2].split() == ["vm2", "vm2", "Started", "node2", "node2", "-"]
    assert "3 guests, none flagged; libvirt answered on node1, node2, node3" in result.output


def test_domain_list_flags_a_double_start_and_check_exits_1(cluster) -> None:
    cluster(libvirt={**LIBVIRT, "node3": [dom("vm3"), dom("vm2"), dom("stray")]})
    result = run("domain", "list")
    assert result.exit_code == 0  # without --check, listing is success
    assert "vm2: TWO NODES: libvirt runs it on node2 and node3" in result.output
    assert "stray: OUTSIDE PACEMAKER: runs on node3" in result.output
    assert "  fix: " in result.output
    assert "2 flagged" in result.output
    assert run("domain", "list", "--check").exit_code == records_cli.EXIT_FLAGGED


def test_domain_list_with_a_silent_node_says_incomplete_and_check_exits_3(cluster) -> None:
    cluster(libvirt={**LIBVIRT, "node2": "libvirt did not answer 'connect' within 5.0s"})
    result = run("domain", "list", "--check")
    assert result.exit_code == records_cli.EXIT_INCOMPLETE
    assert "VIEW INCOMPLETE: the libvirt of node2 did not answer" in result.output
    assert "node2: NO ANSWER from qemu+tcp://node2/system" in result.output
    assert "node2?" in result.output  # where Pacemaker has vm2, unverified


def test_domain_list_json(cluster) -> None:
    cluster(libvirt={**LIBVIRT, "node3": None}, offline=["node3"], resources=HEALTHY[:2])
    result = run("domain", "list", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["complete"] is True and data["flagged"] == 0
    assert [g["name"] for g in data["guests"]] == ["vm1", "vm2", "vm3"]
    vm1 = data["guests"][0]
    assert vm1["pacemaker"] == {
        "role": "Started",
        "nodes": ["node1"],
        "managed": True,
        "failed": False,
        "blocked": False,
    }
    assert vm1["libvirt"]["running_on"] == ["node1"]
    node3 = data["nodes"][2]
    assert (node3["node"], node3["asked"], node3["reachable"]) == ("node3", False, None)


def test_domain_list_of_one_node_and_of_an_unknown_node(cluster) -> None:
    cluster()
    result = run("domain", "list", "--node", "node1")
    assert "vm1" in result.output and "vm2" not in result.output.split("\n\n")[0]
    result = run("domain", "list", "--node", "node9")
    assert result.exit_code == records_cli.EXIT_TROUBLE
    assert "havirt: error: no cluster node named node9" in result.output


def test_options_reach_the_sources_with_the_env_template(cluster) -> None:
    seen = cluster()
    run(
        "domain",
        "list",
        "--timeout",
        "2",
        "--all-nodes",
        env={"HAVIRT_CONNECT_TEMPLATE": "qemu+ssh://{node}/system"},
    )
    assert seen == {"template": "qemu+ssh://{node}/system", "timeout": 2.0, "all_nodes": True}
    run("node", "list")
    assert seen == {"template": None, "timeout": records.DEFAULT_TIMEOUT, "all_nodes": False}
    assert records_cli.TIMEOUT == records.DEFAULT_TIMEOUT


def test_node_list_table_and_json(cluster) -> None:
    cluster(standby=["node2"], libvirt={**LIBVIRT, "node3": "refused"})
    result = run("node", "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "NODE",
        "STATE",
        "DC",
        "GUESTS",
        "CPU",
        "used/cap",
        "HV_MEMORY",
        "used/cap",
        "LIBVIRT",
    ]
    assert lines[1].split() == [
        "node1",
        "online",
        "DC",
        "1",
        "(vm1)",
        "1/4",
        "128/2048",
        "reachable,",
        "1",
        "running",
    ]
    assert lines[2].split()[:2] == ["node2", "standby"]
    assert "UNREACHABLE" in lines[3]
    assert "node3: NO ANSWER from qemu+tcp://node3/system: refused" in result.output
    data = json.loads(run("node", "list", "--json").output)
    node1 = data["nodes"][0]
    assert node1["utilization"]["hv_memory"] == {"capacity": 2048, "used": 128}
    assert node1["guests"] == ["vm1"] and node1["libvirt"]["running"] == ["vm1"]


def test_locate_shows_each_node_and_constraints(cluster) -> None:
    constraints = (
        '<rsc_location id="cli-ban-vm2-on-node1" rsc="vm2" node="node1" score="-INFINITY"/>'
    )
    cluster(constraints=constraints)
    result = run("domain", "locate", "vm2")
    assert result.exit_code == 0, result.output
    assert "Pacemaker: Started on node2" in result.output
    assert "node2  running (booted), transient" in result.output
    assert "node1  not known" in result.output
    assert (
        "cli-ban-vm2-on-node1  node1  -INFINITY  left by a ban: 'pcs resource clear vm2' removes it"
        in result.output
    )
    data = json.loads(run("domain", "locate", "vm2", "--json").output)
    assert data["location_constraints"][0]["origin"] == "ban"


def test_locate_an_unknown_guest_exits_2_with_a_hint(cluster) -> None:
    cluster()
    result = run("domain", "locate", "vm9")
    assert result.exit_code == records_cli.EXIT_TROUBLE
    assert "havirt: error: no guest named vm9" in result.output
    assert "fix: 'havirt domain list' shows every guest" in result.output


def test_a_pacemaker_failure_exits_2() -> None:
    from havirt.tools.pacemaker import PacemakerError

    def fail(*_args):
        raise PacemakerError("reading the cluster status failed: ...", hint="run this on a node")

    result = CliRunner().invoke(main, ["node", "list"], obj=ClusterWorld(sources=fail))
    assert result.exit_code == records_cli.EXIT_TROUBLE
    assert "fix: run this on a node" in result.output


def test_help_documents_exit_codes_and_the_node_group_has_list() -> None:
    result = run("domain", "list", "--help")
    assert "--check" in result.output and "--connect-template" in result.output
    assert "HAVIRT_CONNECT_TEMPLATE" in result.output
    assert "list" in run("node", "--help").output


def test_the_docs_describe_every_flag_option_and_exit_code() -> None:
    from pathlib import Path

    from havirt.tools.records import flags as flag_codes

    text = (Path(__file__).resolve().parents[3] / "docs" / "records.md").read_text()
    flags = [v for k, v in vars(flag_codes).items() if k.isupper() and isinstance(v, str)]
    for code in set(flags) - {flag_codes.ERROR, flag_codes.NOTE}:
        assert f"`{code}`" in text, code
    for command in (records_cli.domain_list, records_cli.domain_locate, records_cli.node_list):
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help":
                    assert f"`{opt}" in text, opt
    for code in (records_cli.EXIT_FLAGGED, records_cli.EXIT_TROUBLE, records_cli.EXIT_INCOMPLETE):
        assert f"| {code} |" in text
