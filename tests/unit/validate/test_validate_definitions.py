"""validate's definitions check: nodes' persistent guest definitions against the
definition store, through the whole library (collector, check, engine) on fake nodes."""

from __future__ import annotations

import hashlib

from havirt.tools.domains.drift import Stored
from havirt.tools.findings import ERROR, WARNING
from havirt.tools.validate import engine
from havirt.tools.validate.report import Report
from validate_fakes import ConnectFailed, FakeConnector, cluster

WEB1 = (
    "<domain type='kvm'><name>web1</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid></domain>"
)


def store(text: str = WEB1, revision: int = 2) -> dict[str, Stored]:
    return {"web1": Stored("web1", revision, text, hashlib.sha256(text.encode()).hexdigest())}


def run(nodes, targets, definitions, **options) -> Report:
    return engine.validate(
        targets,
        FakeConnector(nodes),
        engine.Options(definitions=definitions, **options),
        connect_errors=(ConnectFailed,),
    )


def outcome(report: Report):
    return next(c for c in report.checks if c.id == "definitions")


def test_nodes_holding_the_stores_definition_or_none_pass() -> None:
    targets, nodes = cluster(3)
    nodes["node1"].domains["web1"] = WEB1.replace("><", ">\n  <")
    report = run(nodes, targets, store())
    assert outcome(report).status == "ok"
    assert [f for f in report.findings if f.code == "definitions"] == []


def test_a_differing_definition_is_an_error_naming_node_guest_and_fix() -> None:
    targets, nodes = cluster(3)
    nodes["node2"].domains["web1"] = WEB1.replace("kvm", "qemu")
    found = outcome(run(nodes, targets, store())).findings
    assert len(found) == 1
    f = found[0]
    assert (f.node, f.guest, f.severity, f.item) == ("node2", "web1", ERROR, "guest 'web1'")
    assert (
        f.message
        == "the persistent definition of web1 on node2 differs from the store's revision 2"
    )
    assert f.fix == "havirt domain sync web1 (defines revision 2 on node2)"


def test_a_guest_the_store_does_not_know_is_a_warning_with_both_fixes() -> None:
    targets, nodes = cluster(2)
    nodes["node1"].domains["stray"] = WEB1.replace("web1", "stray")
    found = outcome(run(nodes, targets, store())).findings
    assert [(f.node, f.guest, f.severity) for f in found] == [("node1", "stray", WARNING)]
    assert "havirt domain import stray" in (found[0].fix or "")
    assert "virsh undefine stray" in (found[0].fix or "")


def test_an_unreadable_definition_is_reported_not_judged() -> None:
    targets, nodes = cluster(2)
    nodes["node1"].domains["web1"] = "<domain"
    found = outcome(run(nodes, targets, store())).findings
    assert [(f.node, f.severity) for f in found] == [("node1", ERROR)]
    assert "is unreadable" in found[0].message


def test_without_a_store_the_check_is_skipped_saying_why() -> None:
    targets, nodes = cluster(2)
    nodes["node1"].domains["web1"] = "anything"
    report = run(nodes, targets, None, no_store="no definition store at /srv/x on this machine")
    assert (outcome(report).status, outcome(report).note) == (
        "skipped",
        "no definition store at /srv/x on this machine",
    )


def test_it_can_be_skipped_like_any_other_check() -> None:
    targets, nodes = cluster(2)
    nodes["node1"].domains["web1"] = WEB1.replace("kvm", "qemu")
    report = run(nodes, targets, store(), skip=("definitions",))
    assert outcome(report).status == "skipped"
