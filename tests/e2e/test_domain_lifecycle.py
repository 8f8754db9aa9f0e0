"""A guest's whole life through the definition store, on a real 3-node lab cluster:
`havirt domain add` from a file (and the definitions it refuses), `start`, `migrate`
(also one that fails), `stop`, `edit` / `history` / `revert`, `remove` and re-adding
it from its history, and drift planted on a node found by `havirt validate` and
repaired by `havirt domain sync`, all run as an admin would, inside a node.

Its own cluster (one lab guest, vm1, and the store in the lab's shared storage), so
the guests it adds never meet the other e2e tests. Judged by the hypervisors'
reality (an auditor: web1 never runs twice) and by the CIB (no ``havirt-move-*``
constraint left, also after a failed migrate).
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from havirt.ocf.runner import CommandResult
from havirt.tools.lab.auditor import Auditor
from havirt.tools.lab.cluster import ClusterLab
from havirt.tools.lab.guest import LabGuest, create_guest
from lxml import etree

HAVIRT = str(Path(sys.executable).with_name("havirt"))
ADMIN = "node3"
GUEST = "web1"
SKYLAKE = "<cpu mode='custom' match='exact'><model fallback='forbid'>Skylake-Client</model></cpu>"


@dataclass
class World:
    cluster: ClusterLab
    auditor: Auditor
    inventory: str  # its path as the nodes see it
    store: Path  # as this process sees it
    web1: LabGuest

    def havirt(self, *args: str, timeout: float = 240.0) -> CommandResult:
        return self.cluster.nodes[ADMIN].exec([HAVIRT, *args], timeout=timeout)

    def ok(self, *args: str, rc: int = 0) -> CommandResult:
        result = self.havirt(*args)
        assert result.returncode == rc, result.describe() + result.stderr[-3000:]
        return result

    def json(self, *args: str, rc: int = 0) -> Any:
        return json.loads(self.ok(*args, "--json", rc=rc).stdout)

    def node_file(self, name: str, text: str) -> str:
        """``text`` as a file in the shared storage; its path as the nodes see it."""
        path = self.cluster.shared_dir / "files" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return self.cluster.node_path(path)

    def add(self, name: str, xml: str, *extra: str) -> CommandResult:
        return self.havirt(
            "domain", "add", name, "--xml", self.node_file(f"{name}.xml", xml),
            "--inventory", self.inventory, *extra,
        )  # fmt: skip

    def allow_unsafe_migration(self) -> None:
        """The lab's shared directory is no file system libvirt knows to be shared: its
        guests migrate with ``--unsafe`` (as cluster-templates/lab.toml's do), set here
        as an admin would with ``pcs resource update``."""
        self.cluster.nodes[ADMIN].exec(
            ["crm_resource", "--resource", GUEST, "--set-parameter", "migrate_options",
             "--parameter-value", "--unsafe"],
            check=True,
        )  # fmt: skip

    def resource_ids(self) -> list[str]:
        xml = self.cluster.nodes[ADMIN].exec(["cibadmin", "--query", "--scope", "resources"])
        return [el.get("id", "") for el in etree.fromstring(xml.stdout.encode()).iter()]

    def havirt_constraints(self) -> list[str]:
        xml = self.cluster.nodes[ADMIN].exec(["cibadmin", "--query", "--scope", "constraints"])
        ids = (el.get("id", "") for el in etree.fromstring(xml.stdout.encode()))
        return [i for i in ids if i.startswith("havirt-")]

    def where(self) -> list[str]:
        return self.auditor.where(GUEST)

    def stored(self, name: str) -> bool:
        return (self.store / name).exists()


def renamed(xml: str, name: str) -> str:
    """The same definition under another name and a new UUID."""
    xml = xml.replace(f"<name>{GUEST}</name>", f"<name>{name}</name>")
    return re.sub(r"<uuid>[^<]*</uuid>", f"<uuid>{uuid.uuid4()}</uuid>", xml)


@pytest.fixture(scope="module")
def world(make_module_cluster: Callable[..., ClusterLab]) -> Iterator[World]:
    cluster = make_module_cluster("dom", guests=1)
    cluster.up()
    store = cluster.shared_dir / "definitions"
    store.mkdir()
    inventory = cluster.shared_dir / "inventory.toml"
    inventory.write_text(
        cluster.inventory + f'\n[definitions]\npath = "{cluster.node_path(store)}"\n'
    )
    web1 = create_guest(cluster, GUEST, assets=cluster.guest_assets)
    with Auditor(cluster, [GUEST], max_outage=None) as auditor:
        yield World(cluster, auditor, cluster.node_path(inventory), store, web1)
        auditor.check()


@pytest.fixture
def running(world: World) -> World:
    """web1 in the cluster and running (added and started if an earlier test did not)."""
    if GUEST not in world.resource_ids():
        world.ok("domain", "add", GUEST, "--from-store", "--inventory", world.inventory)
        world.allow_unsafe_migration()
    world.ok("domain", "start", GUEST, "--wait", "180")
    return world


def test_bad_definitions_are_refused_naming_node_and_reason_and_change_nothing(
    world: World,
) -> None:
    xml = world.web1.xml_path.read_text()
    # A bridge on node1 and node2 only.
    for node in ("node1", "node2"):
        world.cluster.nodes[node].exec(["ip", "link", "add", "brweb", "type", "bridge"], check=True)
    bridged = renamed(xml, "bad1").replace(
        "<devices>",
        "<devices><interface type='bridge'><source bridge='brweb'/>"
        "<model type='virtio'/></interface>",
    )
    outside = renamed(xml, "bad2").replace(
        world.cluster.node_path(world.web1.disk), "/var/lib/libvirt/images/bad2.qcow2"
    )
    huge = re.sub(r"<memory[^>]*>[^<]*</memory>", "<memory unit='GiB'>4096</memory>", xml)
    huge = re.sub(r"<currentMemory[^>]*>[^<]*</currentMemory>", "", renamed(huge, "bad3"))
    cases = {
        "bad1": (bridged, ("node3", "brweb")),
        "bad2": (outside, ("/var/lib/libvirt/images/bad2.qcow2",)),
        "bad3": (huge, ("memory",)),
        "bad4": ("<network><name>bad4</name></network>", ("domain",)),
        "bad5": (renamed(xml, "other"), ("other",)),  # the file's name is not the command's
        # a CPU model QEMU's TCG cannot give on these nodes (domcapabilities: usable='no')
        "bad6": (renamed(xml, "bad6").replace("</vcpu>", "</vcpu>" + SKYLAKE), ("Skylake",)),
    }
    before = world.resource_ids()
    for name, (text, words) in cases.items():
        result = world.add(name, text)
        assert result.returncode == 2, result.describe()
        errors = [line for line in result.stderr.splitlines() if line.startswith("havirt: error:")]
        assert len(errors) == 1, result.stderr  # one line, then its fix
        for word in words:
            assert word in result.stderr, (name, word, result.stderr)
        assert "Traceback" not in result.stderr
        assert not world.stored(name), f"{name} was stored"
    assert world.resource_ids() == before
    for args, word in (
        (("domain", "history", "nosuch", "--inventory", world.inventory), "nosuch"),
        (("domain", "start", "nosuch"), "nosuch"),
        (("domain", "migrate", "vm1", "node9"), "node9"),  # an unknown node
        (("domain", "revert", "nosuch", "1", "--inventory", world.inventory), "nosuch"),
    ):
        result = world.havirt(*args)
        errors = [line for line in result.stderr.splitlines() if line.startswith("havirt: error:")]
        assert result.returncode == 2 and len(errors) == 1, result.describe()
        assert word in errors[0] and "Traceback" not in result.stderr, result.stderr
    assert world.resource_ids() == before


def test_a_guest_added_from_a_file_starts_migrates_and_stops_with_progress(world: World) -> None:
    xml = world.web1.xml_path.read_text()
    added = world.add(GUEST, xml, "--json")
    assert added.returncode == 0, added.describe() + added.stderr
    assert json.loads(added.stdout)["revision"] == 1
    assert GUEST in world.resource_ids() and world.where() == []  # added stopped
    world.allow_unsafe_migration()

    again = world.add(GUEST, xml)
    assert again.returncode == 2 and "already" in again.stderr, again.describe()

    started = world.ok("domain", "start", GUEST, "--wait", "180")
    assert "starting" in started.stderr and "running on" in started.stdout, started.describe()
    (node,) = world.where()
    assert f"running on {node}" in started.stdout

    # A running guest cannot be added again, neither by name nor by UUID.
    assert world.add(GUEST, xml).returncode == 2
    twin = xml.replace(f"<name>{GUEST}</name>", "<name>web1twin</name>")
    refused = world.add("web1twin", twin)
    assert refused.returncode == 2 and not world.stored("web1twin"), refused.describe()

    target = next(n for n in world.cluster.nodes if n != node)
    moved = world.ok("domain", "migrate", GUEST, target)
    assert GUEST in moved.stderr and target in moved.stdout, moved.describe()
    assert world.where() == [target]
    assert world.auditor.current()[GUEST][0].incoming, "not live-migrated"
    assert world.havirt_constraints() == []

    stopped = world.ok("domain", "stop", GUEST, "--wait", "180")
    assert "stopped" in stopped.stdout, stopped.describe()
    assert world.where() == []


def test_edit_keeps_revisions_refuses_a_concurrent_edit_and_reverts(world: World) -> None:
    if not world.stored(GUEST):
        pytest.skip("web1 was not added (see the test before)")
    store = ("--inventory", world.inventory)
    first = (world.store / GUEST / "domain.xml").read_text()
    base = world.json("domain", "history", GUEST, *store)["revisions"][-1]["number"]
    edited = first.replace("<on_crash>destroy</on_crash>", "<on_crash>restart</on_crash>")
    assert edited != first
    path = world.node_file("web1-edit.xml", edited)
    why = ("--why", "restart on crash")
    world.ok("domain", "edit", GUEST, "--xml", path, "--base", str(base), *why)
    # Another admin's edit, made from the revision before: refused, nothing stored.
    stale = world.node_file("web1-stale.xml", first.replace("</devices>", "<!-- x --></devices>"))
    late = world.havirt("domain", "edit", GUEST, "--xml", stale, "--base", str(base), *store)
    assert late.returncode == 3 and str(base) in late.stderr, late.describe()
    history = world.json("domain", "history", GUEST, *store)["revisions"]
    assert [r["number"] for r in history][-1] == base + 1
    assert history[-1]["why"] == "restart on crash"

    world.ok("domain", "revert", GUEST, str(base), *store)
    history = world.json("domain", "history", GUEST, *store)["revisions"]
    assert history[-1]["number"] == base + 2
    assert (world.store / GUEST / "domain.xml").read_text() == first
    missing = world.havirt("domain", "revert", GUEST, "99", *store)
    assert missing.returncode == 2 and "99" in missing.stderr, missing.describe()


def test_an_edit_applied_live_and_one_applied_by_a_restart_through_pacemaker(
    running: World,
) -> None:
    world = running
    store = ("--inventory", world.inventory)
    (node,) = world.where()
    current = (world.store / GUEST / "domain.xml").read_text()
    described = current.replace("</name>", "</name><description>web server</description>", 1)
    live = world.ok(
        "domain", "edit", GUEST, "--xml", world.node_file("web1-desc.xml", described),
        "--apply", "--why", "say what it is", *store,
    )  # fmt: skip
    assert "live" in live.stdout, live.describe()
    running_xml = world.cluster.nodes[node].virsh("dumpxml", GUEST).stdout
    assert "<description>web server</description>" in running_xml
    (pid,) = world.cluster.nodes[node].qemu_pids(GUEST)  # not restarted

    restart = described.replace("<on_reboot>restart</on_reboot>", "<on_reboot>destroy</on_reboot>")
    assert restart != described
    path = world.node_file("web1-reboot.xml", restart)
    refused = world.havirt("domain", "edit", GUEST, "--xml", path, "--apply", *store)
    assert refused.returncode == 2 and "not applied" in refused.stderr, refused.describe()
    assert world.cluster.nodes[node].qemu_pids(GUEST) == [pid]  # nothing was done to it

    # The refused apply left the revision stored: back to the one that runs, then again.
    number = world.json("domain", "history", GUEST, *store)["revisions"][-2]["number"]
    world.ok("domain", "revert", GUEST, str(number), *store)
    done = world.ok(
        "domain", "edit", GUEST, "--xml", path, "--apply", "--restart", "--wait", "180", *store,
    )  # fmt: skip
    assert "restarted through the cluster" in done.stdout, done.describe()
    assert "stopping" in done.stderr and "starting" in done.stderr  # progress
    assert len(world.where()) == 1
    now = world.where()[0]
    assert world.cluster.nodes[now].qemu_pids(GUEST) != [pid]  # restarted
    assert (
        "<on_reboot>destroy</on_reboot>" in world.cluster.nodes[now].virsh("dumpxml", GUEST).stdout
    )


def test_a_failed_migrate_leaves_no_constraint_and_one_running_copy(running: World) -> None:
    world = running
    (node,) = world.where()
    target = next(n for n in world.cluster.nodes if n != node)
    world.cluster.nodes[target].stop_libvirtd()
    try:
        result = world.havirt("domain", "migrate", GUEST, target, "--timeout", "120")
        assert result.returncode in (1, 2), result.describe()
        assert "Traceback" not in result.stderr
        assert world.havirt_constraints() == [], "a failed migrate left its constraint"
    finally:
        world.cluster.nodes[target].start_libvirtd()
    world.cluster.wait_started([GUEST], timeout=180)
    assert len(world.where()) == 1


def test_remove_keeps_the_history_and_the_guest_comes_back_from_it(running: World) -> None:
    world = running
    store = ("--inventory", world.inventory)
    revisions = world.json("domain", "history", GUEST, *store)["revisions"]
    world.ok("domain", "remove", GUEST, "--wait", "180")
    assert GUEST not in world.resource_ids() and world.where() == []
    assert world.json("domain", "history", GUEST, *store)["revisions"] == revisions

    back = world.ok("domain", "add", GUEST, "--from-store", *store, "--start", "--wait", "180")
    assert "running on" in back.stdout and "starting" in back.stderr, back.describe()
    assert len(world.where()) == 1
    world.allow_unsafe_migration()
    again = world.json("domain", "history", GUEST, *store)["revisions"]
    assert again == revisions  # re-added from the store: no new revision


def test_drift_planted_on_a_node_is_found_by_validate_and_repaired_by_sync(
    running: World,
) -> None:
    world = running
    node = world.cluster.nodes["node2"]
    current = (world.store / GUEST / "domain.xml").read_text()
    changed = current.replace("</name>", "</name><description>planted</description>", 1)
    planted = world.node_file("web1-planted.xml", changed)
    node.virsh("define", planted)

    def drift() -> list[dict[str, Any]]:
        result = world.havirt("validate", "--inventory", world.inventory, "--json")
        report = json.loads(result.stdout)
        return [f for f in report["findings"] if f.get("check") == "definitions"]

    found = drift()
    assert any(f["node"] == "node2" and GUEST in f["message"] for f in found), found
    synced = world.json("domain", "sync", GUEST, "--inventory", world.inventory)
    assert synced, synced
    assert not [f for f in drift() if f["severity"] == "error"], drift()
