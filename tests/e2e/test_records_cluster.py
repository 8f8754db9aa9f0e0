"""Record keeping on the real lab cluster: `havirt domain list|locate` and `havirt node
list` run inside a node, against its Pacemaker and every node's libvirtd (qemu+tcp).

The truth they are checked against is the QEMU processes on each node (what the
auditor samples), not another reading of libvirt. Planted domains are removed and
nodes taken out of standby at the end, also when a test fails; the session's
cluster is left healthy for the other scenarios.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from havirt.tools.lab.cluster import ClusterLab
from havirt.tools.lab.proc import Result
from planting import planted_domain

HAVIRT = str(Path(sys.executable).with_name("havirt"))
EXIT_FLAGGED, EXIT_INCOMPLETE = 1, 3


@pytest.fixture
def healthy(cluster: ClusterLab) -> Iterator[ClusterLab]:
    """The session's cluster, healthy before the test (and restored after it)."""
    cluster.restore()
    yield cluster
    cluster.restore()


def havirt(cluster: ClusterLab, node: str, *args: str, timeout: float = 60) -> Result:
    return cluster.nodes[node].exec([HAVIRT, *args], timeout=timeout)


def havirt_json(cluster: ClusterLab, node: str, *args: str, ok_codes=(0,)) -> dict[str, Any]:
    result = havirt(cluster, node, *args, "--json")
    assert result.returncode in ok_codes, result.describe()
    return json.loads(result.stdout)


def qemu_nodes(cluster: ClusterLab, guest: str) -> list[str]:
    """Where QEMU processes of ``guest`` really run."""
    return sorted(cluster.guests[guest].qemu_pids())


def guests_by_name(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in listing["guests"]}


def test_domain_list_matches_the_qemu_processes_of_a_healthy_cluster(
    healthy: ClusterLab,
) -> None:
    cluster = healthy
    admin = cluster.first_node().name
    listing = havirt_json(cluster, admin, "domain", "list", "--check")
    found = guests_by_name(listing)
    assert sorted(found) == sorted(cluster.guest_names)
    for name in cluster.guest_names:
        guest = found[name]
        (where,) = qemu_nodes(cluster, name)
        assert guest["pacemaker"]["role"] == "Started"
        assert guest["pacemaker"]["nodes"] == [where]
        assert guest["libvirt"]["running_on"] == [where]
        assert guest["agent"] == "ocf:havirt:VirtualDomain"
        assert guest["flags"] == []
    assert listing["complete"] and listing["flagged"] == 0
    uris = {n["node"]: n["uri"] for n in listing["nodes"]}
    assert uris[admin] == "qemu:///system"  # the local node, through the guests' hypervisor
    assert all(uris[n] == f"qemu+tcp://{n}/system" for n in uris if n != admin)
    # Reached the admin's way instead: the same view.
    again = havirt_json(
        cluster, admin, "domain", "list", "--connect-template", "qemu+tcp://{node}/system"
    )
    assert {n: g["libvirt"]["running_on"] for n, g in guests_by_name(again).items()} == {
        n: g["libvirt"]["running_on"] for n, g in found.items()
    }
    text = havirt(cluster, admin, "domain", "list")
    assert text.returncode == 0 and "none flagged" in text.stdout


def test_a_second_copy_and_a_domain_outside_pacemaker_are_flagged(healthy: ClusterLab) -> None:
    cluster = healthy
    guest = cluster.guest_names[0]
    (home,) = qemu_nodes(cluster, guest)
    other, third = [n for n in cluster.nodes if n != home][:2]
    with (
        planted_domain(cluster, other, guest),
        planted_domain(cluster, third, cluster.guest_names[1], name="stray"),
    ):
        assert qemu_nodes(cluster, guest) == sorted([home, other])
        result = havirt(cluster, third, "domain", "list", "--check", "--json")
        assert result.returncode == EXIT_FLAGGED, result.describe()
        found = guests_by_name(json.loads(result.stdout))
        copies = found[guest]
        assert sorted(copies["libvirt"]["running_on"]) == sorted([home, other])
        assert copies["pacemaker"]["nodes"] == [home]
        (flag,) = copies["flags"]
        assert flag["code"] == "two-nodes" and flag["severity"] == "error"
        assert f"Pacemaker knows only the copy on {home}" in flag["message"]
        stray = found["stray"]
        assert stray["resource"] is None and stray["libvirt"]["running_on"] == [third]
        assert [f["code"] for f in stray["flags"]] == ["outside-pacemaker"]
        # The same, for people: the flags said loudly, with the fix.
        text = havirt(cluster, home, "domain", "list").stdout
        assert f"{guest}: TWO NODES: libvirt runs it on" in text
        assert "stray: OUTSIDE PACEMAKER: runs on" in text
        assert f"(on {other}: virsh destroy {guest})" in text
        located = havirt_json(cluster, home, "domain", "locate", guest)
        nodes = located["libvirt"]["nodes"]
        assert sorted(nodes) == sorted([home, other])
        assert nodes[other]["persistent"] is False  # transient: created behind Pacemaker
        assert havirt_json(cluster, home, "domain", "locate", "stray")["resource"] is None
    assert qemu_nodes(cluster, guest) == [home]
    assert "stray" not in guests_by_name(havirt_json(cluster, home, "domain", "list"))


def test_locate_shows_a_move_constraint_and_an_unknown_guest_is_an_error(
    healthy: ClusterLab,
) -> None:
    cluster = healthy
    guest = cluster.guest_names[2]
    admin = cluster.first_node()
    # A ban left behind, as `pcs resource ban` leaves it (the guest stays where it is
    # unless it runs on the banned node: ban a node it does not run on).
    (home,) = qemu_nodes(cluster, guest)
    banned = next(n for n in cluster.nodes if n != home)
    admin.exec(["crm_resource", "--ban", "-r", guest, "-N", banned], check=True)
    try:
        located = havirt_json(cluster, admin.name, "domain", "locate", guest)
        (ban,) = [c for c in located["location_constraints"] if c["origin"] == "ban"]
        assert (ban["node"], ban["score"]) == (banned, "-INFINITY")
        text = havirt(cluster, admin.name, "domain", "locate", guest).stdout
        assert f"Pacemaker: Started on {home}" in text
        assert f"left by a ban: 'pcs resource clear {guest}' removes it" in text
    finally:
        admin.exec(["crm_resource", "--clear", "-r", guest], check=False)
    unknown = havirt(cluster, admin.name, "domain", "locate", "no-such-guest")
    assert unknown.returncode == 2
    assert "havirt: error: no guest named no-such-guest" in unknown.stderr


def test_node_list_shows_a_standby_node_drained(healthy: ClusterLab) -> None:
    cluster = healthy
    names = list(cluster.nodes)
    node, admin = names[0], names[1]
    cluster.nodes[admin].pcs("node", "standby", node)
    deadline = time.monotonic() + 90
    while cluster.status().running_on(node) and time.monotonic() < deadline:
        time.sleep(0.5)
    cluster.wait_started(cluster.guest_names)
    listed = {n["name"]: n for n in havirt_json(cluster, admin, "node", "list")["nodes"]}
    assert listed[node]["state"] == "standby"
    assert listed[node]["guests"] == [] and listed[node]["libvirt"]["running"] == []
    assert listed[node]["utilization"]["cpu"] == {"capacity": 4, "used": 0}
    assert sum(n["utilization"]["cpu"]["used"] for n in listed.values()) == len(
        cluster.guest_names
    )  # one vCPU each
    for name, entry in listed.items():
        assert entry["libvirt"]["reachable"] is True
        assert sorted(entry["libvirt"]["running"]) == sorted(entry["guests"])
        assert sorted(entry["guests"]) == sorted(
            g for g in cluster.guest_names if qemu_nodes(cluster, g) == [name]
        )
    assert sum(entry["is_dc"] for entry in listed.values()) == 1
    text = havirt(cluster, admin, "node", "list").stdout
    # The DC column is empty unless the standby node happens to be the DC.
    assert re.search(rf"^{node}\s+standby\s+(DC\s+)?0\s", text, re.MULTILINE), text


def test_a_node_whose_libvirtd_hangs_makes_the_view_incomplete_not_the_command_hang(
    healthy: ClusterLab,
) -> None:
    cluster = healthy
    names = list(cluster.nodes)
    hung, admin = names[2], names[0]
    cluster.nodes[hung].pause_libvirtd()  # SIGSTOP: connections are accepted, never answered
    try:
        start = time.monotonic()
        result = havirt(cluster, admin, "domain", "list", "--check", "--timeout", "2", "--json")
        took = time.monotonic() - start
    finally:
        cluster.nodes[hung].resume_libvirtd()
    assert took < 20, f"took {took:.1f} s with a 2 s timeout per node"
    assert result.returncode == EXIT_INCOMPLETE, result.describe()
    listing = json.loads(result.stdout)
    assert not listing["complete"]
    silent = next(n for n in listing["nodes"] if n["node"] == hung)
    assert silent["reachable"] is False and "2.0s" in silent["error"]
    for guest in listing["guests"]:
        if guest["pacemaker"]["nodes"] == [hung]:
            assert guest["libvirt"]["unverified_on"] == [hung]
            assert [f["code"] for f in guest["flags"]] == ["unverified"]
