"""`havirt node rescan`: the library over fake sessions (answers captured from a real
iscsi-direct pool), and the command's exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from havirt.tools.cli.main import main
from havirt.tools.cli.world import ClusterWorld
from havirt.tools.errors import BadRequest
from havirt.tools.validate import rescan as R
from havirt.tools.validate.targets import Target
from lun_fakes import (
    CAPTURED,
    LUN_ANSWER,
    REAL_SERIAL,
    LunConnector,
    LunNode,
    Unreachable,
    with_lun,
)

TARGETS = [Target("node1", "10.0.0.11", "root"), Target("node2", "10.0.0.12", "root")]
HOSTS = ["--host", "node1=10.0.0.11", "--host", "node2=10.0.0.12"]
NO_POOLS = f"{CAPTURED} out pools\n\n{CAPTURED} end pools 0\n"


def nodes(**changes: LunNode) -> dict[str, LunNode]:
    return {"node1": LunNode(), "node2": LunNode(), **changes}


def run(connector: LunConnector, pool: str | None = None) -> R.RescanReport:
    return R.rescan(TARGETS, connector, pool, connect_errors=(Unreachable,), timeout=5)


def test_every_node_refreshes_its_pools_and_reports_its_luns() -> None:
    grown = LunNode(luns=with_lun(LUN_ANSWER, 2, 4096, "NEW2"))
    connector = LunConnector(nodes(node2=grown))
    report = run(connector)
    assert report.ok
    assert [(r.node, r.pool, r.state) for r in report.rows] == [
        ("node1", "luns", R.REFRESHED),
        ("node2", "luns", R.REFRESHED),
    ]
    assert [(lun.number, lun.serial) for lun in report.rows[1].luns] == [
        (1, REAL_SERIAL),
        (2, "NEW2"),
    ]
    assert len(grown.commands) == 2  # the pools, then refresh and LUNs
    assert "pool-refresh luns" in grown.commands[1]
    assert all(s.closed for s in connector.sessions)


def test_an_unreachable_node_and_a_failed_refresh_are_not_ok() -> None:
    report = run(LunConnector(nodes(node2=LunNode(luns=None)), down=("node1",)))
    assert not report.ok
    assert [(r.node, r.state) for r in report.rows] == [
        ("node1", R.UNREACHABLE),
        ("node2", R.FAILED),
    ]
    assert report.rows[0].detail == "node1: connection refused"
    assert "Failed to connect" in report.rows[1].detail


def test_a_node_without_iscsi_pools_has_nothing_to_refresh() -> None:
    report = run(LunConnector(nodes(node2=LunNode(pools=NO_POOLS))))
    assert report.ok
    assert [(r.node, r.state) for r in report.rows][1] == ("node2", R.NO_POOLS)


def test_an_unknown_pool_is_bad_input_and_nothing_is_refreshed() -> None:
    fakes = nodes()
    with pytest.raises(BadRequest, match="no node has an active iSCSI pool named other"):
        run(LunConnector(fakes), "other")
    assert all("pool-refresh" not in c for n in fakes.values() for c in n.commands)


def test_a_pool_missing_on_one_node_fails_there() -> None:
    report = run(LunConnector(nodes(node2=LunNode(pools=NO_POOLS))), "luns")
    assert [(r.node, r.state) for r in report.rows] == [
        ("node1", R.REFRESHED),
        ("node2", R.FAILED),
    ]


def test_choose_names_unknown_nodes() -> None:
    assert R.choose(TARGETS, ["node2"], False) == [TARGETS[1]]
    assert R.choose(TARGETS, [], True) == TARGETS
    with pytest.raises(BadRequest, match="unknown node node9"):
        R.choose(TARGETS, ["node9"], False)


# ---------------------------------------------------------------- the command


def invoke(fakes: dict[str, LunNode], *args: str):
    connector = LunConnector(fakes)
    world = ClusterWorld(connector=lambda *_: connector)
    runner = CliRunner()
    return runner.invoke(main, ["node", "rescan", *args, *HOSTS], obj=world)


def test_command_exit_0_and_text() -> None:
    result = invoke(nodes(), "--all")
    assert result.exit_code == 0, result.output
    assert "node1  pool luns: refreshed, 1 data LUN(s)" in result.stdout
    assert f"  LUN 1: 67108352 bytes, serial {REAL_SERIAL}" in result.stdout


def test_command_json_and_exit_1_when_a_refresh_fails() -> None:
    result = invoke(nodes(node2=LunNode(luns=None)), "node1", "node2", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [r["state"] for r in report["rows"]] == ["refreshed", "failed"]
    assert report["rows"][0]["luns"][0]["number"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("node9",), "unknown node node9"),
        (("node1", "--all"), "NODE and --all were both given"),
        ((), "no node to rescan"),
        (("--all", "--pool", "other"), "no node has an active iSCSI pool named other"),
    ],
)
def test_command_bad_input_exits_2_with_one_message(args: tuple[str, ...], message: str) -> None:
    fakes = nodes()
    result = invoke(fakes, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"havirt: error: {message}")
    assert all("pool-refresh" not in c for n in fakes.values() for c in n.commands)
