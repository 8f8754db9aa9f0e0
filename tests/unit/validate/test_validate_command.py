"""`havirt validate`: options, exit codes, the human report (golden) and --json."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from havirt.tools.cli.main import main
from havirt.tools.cli.world import ClusterWorld
from havirt.tools.validate import engine, ssh
from havirt.tools.validate.render import render
from validate_fakes import FakeConnector, cluster, net_xml

HOSTS = ["--host", "node1=10.0.0.11", "--host", "node2=10.0.0.12", "--host", "node3=10.0.0.13"]


_passed: list[ClusterWorld] = []  # the world invoke() hands the CLI, set by fake_nodes


@pytest.fixture
def fake_nodes():
    """The command's SSH connector replaced by fakes (in the world the CLI is passed);
    returns (nodes, connector, calls)."""
    _, nodes = cluster(3)
    connector = FakeConnector(nodes)
    calls = []

    def make_connector(*args):
        calls.append(args)
        return connector

    _passed[:] = [ClusterWorld(connector=make_connector)]
    yield nodes, connector, calls
    _passed.clear()


def invoke(*args: str):
    world = _passed[0] if _passed else None
    return CliRunner().invoke(main, ["validate", *args], obj=world, catch_exceptions=False)


def test_alike_nodes_exit_0(fake_nodes) -> None:
    result = invoke(*HOSTS)
    assert result.exit_code == 0, result.output
    assert "every check passed (1 warning)" in result.output


def test_a_mismatch_exits_1_and_names_node_item_and_fix(fake_nodes) -> None:
    nodes, _, _ = fake_nodes
    nodes["node2"].networks["lan"] = (net_xml("lan", "br9"), True, True)
    result = invoke(*HOSTS)
    assert result.exit_code == 1
    assert "ERROR    node2  network 'lan'" in result.output
    assert "fix: on node2: virsh net-edit lan" in result.output
    assert "validation failed: 1 error, 1 warning" in result.output


def test_strict_and_json(fake_nodes) -> None:
    result = invoke(*HOSTS, "--strict", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False and data["strict"] is True
    assert data["summary"] == {"errors": 0, "warnings": 1}


def test_ssh_options_reach_the_connector(fake_nodes, tmp_path) -> None:
    _, _, calls = fake_nodes
    key = tmp_path / "id"
    key.write_text("k")
    kh, config = tmp_path / "kh", tmp_path / "ssh_config"
    invoke(*HOSTS, "-i", str(key), "--known-hosts", str(kh), "--ssh-config", str(config))
    assert calls == [((str(kh),), (str(key),), str(config), 10.0)]


def test_an_unknown_host_key_is_reported_as_refused(fake_nodes) -> None:
    _, connector, _ = fake_nodes
    connector.refuse["node2"] = ssh.ConnectError(
        "host-key-unknown", "host key of 10.0.0.12 is not in known_hosts: refused", "add it"
    )
    result = invoke(*HOSTS, "--json")
    assert result.exit_code == 1
    (finding,) = [f for f in json.loads(result.output)["findings"] if f["check"] == "connect"]
    assert finding["node"] == "node2" and finding["actual"] == "host-key-unknown"


def test_new_host_mode(fake_nodes) -> None:
    nodes, _, _ = fake_nodes
    del nodes["node3"].networks["lan"]
    result = invoke(*HOSTS[:4], "--new-host", "node3=10.0.0.13", "--json")
    data = json.loads(result.output)
    assert (data["mode"], data["new_host"]) == ("new-host", "node3")
    assert [n["role"] for n in data["nodes"]] == ["member", "member", "new-host"]
    assert [f["node"] for f in data["findings"] if f["check"] == "networks"] == ["node3"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no nodes to validate"),
        (("--host", "a b"), "invalid host"),
        (("--host", "n1", "--host", "n1"), "given twice"),
        (("--inventory", "MISSING"), "nonexistent/cluster.toml"),
    ],
)
def test_usage_errors_exit_2(fake_nodes, tmp_path, args, message) -> None:
    missing = str(tmp_path / "nonexistent" / "cluster.toml")  # a file this machine lacks
    args = tuple(missing if a == "MISSING" else a for a in args)
    result = CliRunner().invoke(main, ["validate", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_skip_is_a_click_usage_error() -> None:
    result = CliRunner().invoke(main, ["validate", "--host", "n1", "--skip", "nope"])
    assert result.exit_code == 2 and "nope" in result.output


def test_human_report_golden(golden) -> None:
    targets, nodes = cluster(3)
    nodes["node2"].networks["lan"] = (net_xml("lan", "br9"), True, True)
    nodes["node2"].hosts["node1"] = "10.0.0.99"
    nodes["node1"].unreachable_peers["node2"] = "root@node2: Permission denied (publickey)."
    connector = FakeConnector(nodes)
    connector.refuse["node3"] = ssh.ConnectError(
        "host-key-changed",
        "host key of 10.0.0.13 CHANGED: refused",
        "if node3 was reinstalled, ssh-keygen -R 10.0.0.13",
    )
    report = engine.validate(
        targets,
        connector,
        engine.Options(skip=("clock",)),
        connect_errors=(ssh.ConnectError,),
    )
    report.seconds = 1.23
    golden("validate-report.txt", render(report) + "\n")


def test_help_lists_every_check_and_the_exit_codes() -> None:
    result = CliRunner().invoke(main, ["validate", "--help"])
    for check in ("connect", "networks", "pools", "ssh-trust", "cpu", "versions"):
        assert f"  {check} " in result.output
    assert "Exit status: 0" in result.output


def stored(tmp_path, name: str = "web1") -> str:
    """A definition store in tmp_path holding guest ``name``; returns its directory."""
    import datetime as dt

    from havirt.tools.domains import Change, DefinitionStore

    root = tmp_path / "store"
    root.mkdir()
    xml = (
        f"<domain type='kvm'><name>{name}</name>"
        "<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid></domain>"
    )
    change = Change("alice", dt.datetime(2026, 12, 3, tzinfo=dt.UTC), "test")
    DefinitionStore(str(root)).create(name, xml, change)
    return str(root)


def test_store_compares_the_nodes_definitions(fake_nodes, tmp_path) -> None:
    nodes, _, _ = fake_nodes
    nodes["node2"].domains["web1"] = "<domain type='qemu'><name>web1</name></domain>"
    result = invoke(*HOSTS, "--store", stored(tmp_path), "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    [finding] = [f for f in data["findings"] if f["check"] == "definitions"]
    assert (finding["node"], finding["severity"]) == ("node2", "error")
    assert finding["fix"] == "havirt domain sync web1 (defines revision 1 on node2)"


def test_without_a_store_the_definitions_check_is_skipped_saying_how_to_give_one(
    fake_nodes,
) -> None:
    data = json.loads(invoke(*HOSTS, "--json").output)
    [check] = [c for c in data["checks"] if c["id"] == "definitions"]
    assert (check["status"], check["note"]) == (
        "skipped",
        "no definition store given (--store or --inventory)",
    )


def test_a_store_that_does_not_exist_is_bad_input(fake_nodes, tmp_path) -> None:
    result = invoke(*HOSTS, "--store", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "nowhere does not exist or is not a directory" in result.output
