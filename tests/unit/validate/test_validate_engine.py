"""The engine: parallel connections, unreachable nodes, usage errors, the report."""

from __future__ import annotations

import json
import threading

import pytest
from havirt.tools.errors import BadRequest, HavirtError
from havirt.tools.findings import ERROR
from havirt.tools.validate import engine
from havirt.tools.validate.targets import Target
from validate_fakes import ConnectFailed, FakeConnector, cluster


def validate(targets, connector, **kw):
    return engine.validate(targets, connector, connect_errors=(ConnectFailed,), **kw)


def test_nodes_are_connected_in_parallel() -> None:
    targets, nodes = cluster(4)
    connector = FakeConnector(nodes)
    # Each connect waits until all four are connecting at once (else: BrokenBarrierError).
    connector.barrier = threading.Barrier(4)
    report = validate(targets, connector)
    assert all(n.reachable for n in report.nodes)
    assert all(s.closed for s in connector.sessions)


def test_an_unreachable_node_is_a_finding_and_the_others_are_still_compared() -> None:
    targets, nodes = cluster(3)
    del nodes["node1"].networks["lan"]
    connector = FakeConnector(nodes)
    connector.refuse["node3"] = ConnectFailed(
        "host-key-unknown", "host key of 10.0.0.13 is not in known_hosts: refused", "add the key"
    )
    report = validate(targets, connector)
    (refused,) = [f for f in report.findings if f.code == "connect"]
    assert (refused.node, refused.severity, refused.actual) == ("node3", ERROR, "host-key-unknown")
    assert refused.item == "ssh root@10.0.0.13"
    assert "refused" in refused.message and refused.fix == "add the key"
    assert [n.reachable for n in report.nodes] == [True, True, False]
    networks = [f for f in report.findings if f.code == "networks"]
    assert [(f.node, f.item) for f in networks] == [("node1", "network 'lan'")]
    assert not report.ok()


def test_no_reachable_node_skips_the_comparisons() -> None:
    targets, nodes = cluster(2)
    connector = FakeConnector(nodes)
    for name in nodes:
        connector.refuse[name] = ConnectFailed("refused", "connection refused", "start sshd")
    report = validate(targets, connector)
    statuses = {c.id: c.status for c in report.checks}
    assert statuses.pop("connect") == ERROR
    assert set(statuses.values()) == {"skipped"}


def test_usage_errors() -> None:
    targets, nodes = cluster(2)
    with pytest.raises(HavirtError) as raised:
        validate([], FakeConnector(nodes))
    assert isinstance(raised.value, BadRequest)
    assert "--" not in (raised.value.hint or "")  # the library names no command-line flag
    with pytest.raises(HavirtError, match="unknown check"):
        validate(targets, FakeConnector(nodes), options=engine.Options(skip=("connect",)))
    with pytest.raises(HavirtError, match="given twice"):
        validate(targets, FakeConnector(nodes), new_host=Target("node1", "10.0.0.99"))


def test_skipping_ssh_trust_skips_the_probes() -> None:
    targets, nodes = cluster(3)
    validate(targets, FakeConnector(nodes), options=engine.Options(skip=("ssh-trust",)))
    assert not any("qemu+ssh" in c for n in nodes.values() for c in n.commands)


def test_the_report_as_json() -> None:
    targets, nodes = cluster(2)
    nodes["node2"].qemu = "8.0.0"
    report = validate(targets, FakeConnector(nodes, user="virtmgr"))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["mode"] == "cluster" and data["new_host"] is None
    assert data["summary"] == {"errors": 1, "warnings": 1}
    assert [c["id"] for c in data["checks"]][:3] == ["connect", "networks", "pools"]
    versions = next(c for c in data["checks"] if c["id"] == "versions")
    assert (versions["status"], versions["errors"]) == ("error", 1)
    node2 = data["nodes"][1]
    assert node2 | {"seconds": None} == {
        "name": "node2",
        "address": "10.0.0.12",
        "user": "root",
        "port": 22,
        "reachable": True,
        "role": "member",
        "hostname": "node2",
        "libvirt": "9.0.0",
        "qemu": "8.0.0",
        "seconds": None,
    }
    finding = next(f for f in data["findings"] if f["check"] == "versions")
    assert set(finding) == {
        "check",
        "severity",
        "node",
        "item",
        "message",
        "fix",
        "expected",
        "actual",
    }
    assert (finding["expected"], finding["actual"]) == ("7.2.0", "8.0.0")


def test_strict_makes_warnings_fail() -> None:
    targets, nodes = cluster(2)  # no lock manager anywhere: one warning
    report = validate(targets, FakeConnector(nodes))
    assert report.ok() and not report.ok(strict=True)
    assert report.to_dict(strict=True)["ok"] is False
