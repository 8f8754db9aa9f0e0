"""Drift between the definition store and the nodes, on three lab nodes (sshd +
libvirtd each): `havirt validate --store` names the node whose persistent definition
differs, `havirt domain sync` repairs it through the node's real libvirt (which
rewrites the XML as it likes), and a later `virsh` change on the node is seen again.
The guest is only defined, never started. Runs in the lab's controller namespace."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from havirt.tools.domains import Change, DefinitionStore
from havirt.tools.lab import Lab

pytestmark = pytest.mark.integration

HAVIRT = str(Path(sys.executable).with_name("havirt"))
UUID = "5a1c2f3e-9d0b-4c6a-8e7f-1b2c3d4e5f60"
GUEST = f"""<domain type='qemu'>
  <name>drift1</name>
  <uuid>{UUID}</uuid>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
"""


@pytest.fixture(scope="module")
def dlab(request: pytest.FixtureRequest, lab_requirements: None) -> Iterator[Lab]:
    lab = Lab(f"dr{os.getpid()}", nodes=("node1", "node2", "node3"))
    request.addfinalizer(lab.down)
    lab.up()
    store = lab.shared_dir / "definitions"
    store.mkdir()
    change = Change("tester", dt.datetime(2026, 12, 3, tzinfo=dt.UTC), "drift test")
    DefinitionStore(str(store)).create("drift1", GUEST, change)
    yield lab


def havirt(lab: Lab, *args: str) -> tuple[int, Any]:
    """Run a havirt command against the lab's nodes, in the controller; (exit, JSON)."""
    argv = [HAVIRT, *args, "-u", "root", "-i", str(lab.ssh.identity), "--ssh-config", "/dev/null"]
    argv += ["--known-hosts", str(lab.ssh.known_hosts)]
    argv += ["--store", str(lab.shared_dir / "definitions"), "--json"]
    for node in lab.nodes.values():
        argv += ["--host", f"{node.name}={node.address}"]
    result = lab.controller.exec(argv, timeout=180)
    assert result.returncode in (0, 1), result.describe() + result.stderr[-2000:]
    return result.returncode, json.loads(result.stdout)


def define(lab: Lab, node: str, xml: str) -> None:
    path = lab.shared_dir / f"define-{node}.xml"
    path.write_text(xml)
    lab.nodes[node].virsh("define", lab.node_path(path))


def drift(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["node"], f["message"]) for f in report["findings"] if f["check"] == "definitions"]


def test_validate_finds_drift_sync_repairs_it_and_a_later_edit_is_seen(dlab: Lab) -> None:
    node2 = dlab.nodes["node2"]
    try:
        # libvirt rewrites what it defines (units, machine type, devices): a definition
        # made from the store's own text is not the store's text, until sync stamps it.
        define(dlab, "node1", GUEST)
        define(dlab, "node2", GUEST.replace(">64<", ">128<"))
        rc, report = havirt(dlab, "validate")
        assert rc == 1
        assert drift(report) == [
            (n, f"the persistent definition of drift1 on {n} differs from the store's revision 1")
            for n in ("node1", "node2")
        ]

        rc, synced = havirt(dlab, "domain", "sync")
        assert rc == 0, synced
        states = {(r["node"], r["guest"]): r["state"] for r in synced["rows"]}
        assert states == {("node1", "drift1"): "synced", ("node2", "drift1"): "synced"}
        backup = next(r["backup"] for r in synced["rows"] if r["node"] == "node2")
        assert ">131072<" in node2.exec(["cat", backup], check=True).stdout  # the old XML, kept
        assert "urn:havirt:definition" in node2.virsh("dumpxml", "--inactive", "drift1").stdout

        rc, report = havirt(dlab, "validate")
        assert drift(report) == [], report["findings"]
        _, again = havirt(dlab, "domain", "sync")
        assert {r["state"] for r in again["rows"]} == {"in step"}

        node2.virsh("desc", "drift1", "--config", "changed by hand")  # like a virsh edit
        rc, report = havirt(dlab, "validate")
        assert drift(report) == [
            (
                "node2",
                "the persistent definition of drift1 on node2 was changed on the node after "
                "havirt defined it from revision 1",
            )
        ]
        rc, again = havirt(dlab, "domain", "sync", "drift1", "--dry-run")
        assert [r["state"] for r in again["rows"] if r["node"] == "node2"] == ["would sync"]
    finally:
        for node in dlab.nodes.values():
            node.virsh("undefine", "drift1", check=False)


def test_a_node_defining_a_guest_the_store_does_not_know_is_a_warning(dlab: Lab) -> None:
    try:
        define(dlab, "node3", GUEST.replace("drift1", "stray1").replace(UUID[:8], "6b2d3e4f"))
        _, report = havirt(dlab, "validate")
        found = [f for f in report["findings"] if f["check"] == "definitions"]
        assert [(f["node"], f["item"], f["severity"]) for f in found] == [
            ("node3", "guest 'stray1'", "warning")
        ]
        _, synced = havirt(dlab, "domain", "sync")
        assert [(r["node"], r["state"]) for r in synced["rows"]] == [
            ("node3", "unknown to the store")
        ]
        assert "stray1" in dlab.nodes["node3"].virsh("list", "--all", "--name").stdout
    finally:
        dlab.nodes["node3"].virsh("undefine", "stray1", check=False)
