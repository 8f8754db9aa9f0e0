"""SSH in the lab: an sshd per node, nodes trusting each other, the host in through the
controller namespace only."""

from __future__ import annotations

import ipaddress

import pytest
from havirt.tools.lab import Lab, nsutil
from havirt.tools.lab.ssh import LAB_USER, sshd_pid

pytestmark = pytest.mark.integration


def test_each_node_has_its_own_host_key_and_the_lab_knows_them_all(lab: Lab) -> None:
    keys = {name: lab.ssh.host_key(node).read_text().split()[1] for name, node in lab.nodes.items()}
    assert len(set(keys.values())) == len(lab.nodes)
    known = lab.ssh.known_hosts.read_text()
    for name, node in lab.nodes.items():
        assert f"{name},{node.address} ssh-ed25519 {keys[name]}" in known
        # The node sees its own key as /etc/ssh (node-private) and everyone's in known_hosts.
        inside = node.exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"], check=True).stdout
        assert inside.split()[1] == keys[name]
        assert node.exec(["cat", "/root/.ssh/known_hosts"], check=True).stdout == known


def test_sshd_listens_on_the_node_address_only(lab: Lab) -> None:
    node = lab.nodes["node1"]
    listening = node.exec(["ss", "-Htln"], check=True).stdout
    ports = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(":22")]
    assert ports == [f"{node.address}:22"]


def test_the_controller_reaches_every_node_as_root_and_as_the_lab_user(lab: Lab) -> None:
    for name, node in lab.nodes.items():
        root = lab.controller.ssh_exec(node, ["hostname"], check=True)
        assert root.stdout.strip() == name
        user = lab.controller.ssh_exec(node, ["id", "-nG"], user=LAB_USER, check=True)
        assert "libvirt" in user.stdout.split()
        # A non-root user in the libvirt group manages libvirt.
        virsh = lab.controller.ssh_exec(
            node, ["virsh", "-c", "qemu:///system", "hostname"], user=LAB_USER, check=True
        )
        assert virsh.stdout.strip() == name


def test_an_unknown_host_key_is_refused_by_the_controller(lab: Lab, tmp_path) -> None:
    node = lab.nodes["node1"]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    options = lab.controller.ssh_options()
    options[options.index(f"UserKnownHostsFile={lab.ssh.known_hosts}")] = (
        f"UserKnownHostsFile={empty}"
    )
    argv = lab.controller.command(["ssh", *options, f"root@{node.address}", "true"])
    refused = nsutil.run(argv, timeout=30)
    assert refused.returncode == 255
    assert "Host key verification failed" in refused.stderr


def test_nodes_reach_each_other_without_a_prompt(lab: Lab) -> None:
    node1, node2 = lab.nodes["node1"], lab.nodes["node2"]
    batch = ["ssh", "-o", "BatchMode=yes", "node2", "hostname"]
    assert node1.exec(batch, check=True).stdout.strip() == "node2"
    as_user = ["su", "-s", "/bin/sh", LAB_USER, "-c", "ssh -o BatchMode=yes node1 hostname"]
    assert node2.exec(as_user, check=True).stdout.strip() == "node1"
    uri = "qemu+ssh://node2/system?no_tty=1"
    assert node1.virsh("hostname", uri=uri).stdout.strip() == "node2"


def test_the_host_has_no_address_or_route_into_the_lab(lab: Lab) -> None:
    subnet = lab.subnet
    addresses = nsutil.run(["ip", "-o", "addr"], timeout=15, check=True).stdout
    for line in addresses.splitlines():
        fields = line.split()
        if fields[2] == "inet":
            assert ipaddress.ip_interface(fields[3]).ip not in subnet, line
    routes = nsutil.run(["ip", "-o", "route"], timeout=15, check=True).stdout
    assert str(subnet) not in routes
    # ...while the controller namespace has exactly its leg on the lab's switch.
    inside = lab.controller.exec(["ip", "-o", "-4", "addr"], check=True).stdout
    assert f"{lab.controller.address}/{subnet.prefixlen}" in inside


def test_sshd_comes_back_after_a_power_cycle(lab: Lab) -> None:
    node = lab.nodes["node2"]
    before = sshd_pid(node)
    assert before is not None
    node.power_off()
    assert sshd_pid(node) is None
    assert not lab.controller.ssh_exec(node, ["true"], timeout=30).ok
    node.power_on()
    assert sshd_pid(node) not in (None, before)
    assert lab.controller.ssh_exec(node, ["hostname"], check=True).stdout.strip() == "node2"
