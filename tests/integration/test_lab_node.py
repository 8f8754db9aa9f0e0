"""The lab's nodes: separate hosts as far as libvirt can tell."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from havirt.tools.lab import Lab, LabGuest
from lxml import etree

pytestmark = pytest.mark.integration


def test_each_node_has_its_own_hostname_and_host_uuid(lab: Lab) -> None:
    uuids = {}
    for name, node in lab.nodes.items():
        assert node.exec(["hostname"], check=True).stdout.strip() == name
        assert node.virsh("hostname").stdout.strip() == name
        caps = etree.fromstring(node.virsh("capabilities").stdout.encode())
        uuids[name] = caps.findtext("host/uuid")
        assert uuids[name] == node.host_uuid
    assert len(set(uuids.values())) == len(lab.nodes)


def test_nodes_reach_each_other_over_tcp(lab: Lab) -> None:
    node1, node2 = lab.nodes["node1"], lab.nodes["node2"]
    assert node1.virsh("hostname", uri=node2.uri_tcp).stdout.strip() == "node2"
    assert node2.virsh("hostname", uri="qemu+tcp://node1/system").stdout.strip() == "node1"


def test_node_state_is_private_and_the_shared_dir_is_shared(lab: Lab) -> None:
    node1, node2 = lab.nodes["node1"], lab.nodes["node2"]
    node1.exec(["touch", "/run/only-on-node1"], check=True)
    assert not node2.exec(["test", "-e", "/run/only-on-node1"]).ok
    assert not Path("/run/only-on-node1").exists()
    assert (node1.dir / "run" / "only-on-node1").exists()
    marker = lab.shared_dir / "seen-everywhere"
    marker.write_text("x")
    try:
        for node in (node1, node2):
            path = lab.node_path(marker)
            assert node.exec(["cat", path], check=True).stdout == "x"
    finally:
        marker.unlink()
    # /dev/kvm is hidden so that libvirt does not re-probe QEMU on every define.
    assert not node1.exec(["test", "-w", "/dev/kvm"]).ok


def test_host_side_client_uses_the_node_socket(lab: Lab) -> None:
    libvirt = pytest.importorskip("libvirt")
    conn = libvirt.open(lab.nodes["node2"].uri_host)
    try:
        assert conn.getHostname() == "node2"
    finally:
        conn.close()


def test_paused_libvirtd_hangs_clients_until_resumed(lab: Lab) -> None:
    node = lab.nodes["node1"]
    node.pause_libvirtd()
    try:
        hung = node.virsh("version", check=False, timeout=2)
        assert hung.timed_out
    finally:
        node.resume_libvirtd()
    node.wait_libvirtd(timeout=10)


def test_stopped_libvirtd_refuses_then_starts_again(lab: Lab) -> None:
    node = lab.nodes["node2"]
    node.stop_libvirtd()
    assert node.libvirtd_pids() == []
    refused = node.virsh("version", check=False, timeout=10)
    assert not refused.ok and not refused.timed_out
    start = time.monotonic()
    node.start_libvirtd()
    assert time.monotonic() - start < 15
    assert node.virsh("hostname").stdout.strip() == "node2"


def test_power_off_kills_the_node_but_keeps_its_definitions(
    lab: Lab, make_guest: Callable[..., LabGuest]
) -> None:
    node = lab.nodes["node2"]
    guest = make_guest()
    guest.define(node)
    guest.start(node)
    assert node.qemu_pids(guest.name)
    node.power_off()
    assert node.pids() == [node.holder_pid]
    assert guest.qemu_pids() == {}
    assert {p.name for p in (node.dir / "run").iterdir()} == {"libvirt", "lock"}  # wiped
    node.power_on()
    assert guest.state(node) == "shut off"
