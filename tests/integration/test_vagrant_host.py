"""The Vagrant lab's namespace outer host (havirt lab vagrant-host), for real: its own
libvirtd with the storage pool vagrant-libvirt uses, NAT networks with dnsmasq that
stay inside it, and nothing of it left on this machine after down."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from havirt.tools.lab import vagrant_host
from havirt.tools.lab.nsutil import netns_list, pids_in_netns

pytestmark = pytest.mark.integration
NAME = "vagranttest"  # not the lab's own outer host, which may be up beside the test

NETWORK_XML = """<network><name>mgmt</name><forward mode='nat'/>
  <bridge name='virbr-hvt' stp='on' delay='0'/>
  <ip address='192.168.121.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.121.10' end='192.168.121.20'/></dhcp></ip></network>"""
DOMAIN_XML = """<domain type='qemu'><name>left-behind</name><memory unit='MiB'>32</memory>
  <os><type arch='x86_64'>hvm</type></os></domain>"""


def virsh(uri: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["virsh", "-q", "-c", uri, *args], capture_output=True, text=True, timeout=60, input=stdin
    )


@pytest.fixture
def base_dir(lab_requirements: None) -> Iterator[Path]:
    if not shutil.which("dnsmasq"):
        pytest.skip("dnsmasq not installed (apt-get install dnsmasq-base)")
    # Short: libvirtd's socket lives below it, and a unix socket's path has 107 bytes.
    base = Path(tempfile.mkdtemp(prefix="hvt", dir="/tmp"))
    try:
        yield base
    finally:
        vagrant_host.down(base, name=NAME)  # also when the test failed
        vagrant_host.lock_file(NAME).unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def test_outer_host_up_holds_vagrants_pool_and_networks_then_leaves_nothing(
    base_dir: Path, tmp_path: Path
) -> None:
    host = vagrant_host.up(base_dir, NAME)
    assert host.up and host.domains == ()
    assert vagrant_host.up(base_dir, NAME) == host  # idempotent: the same host, left as it was
    pool = virsh(host.uri, "pool-info", "default")
    assert pool.returncode == 0, pool.stderr
    assert "running" in pool.stdout

    # vagrant-libvirt's management network: NAT and DHCP, inside the outer host only.
    xml = tmp_path / "net.xml"
    xml.write_text(NETWORK_XML)
    started = virsh(host.uri, "net-create", str(xml))
    assert started.returncode == 0, started.stderr
    inside = subprocess.run(
        ["ip", "netns", "exec", host.netns, "ip", "-br", "addr", "show", "virbr-hvt"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "192.168.121.1/24" in inside.stdout, inside.stderr
    here = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, timeout=30)
    assert "virbr-hvt" not in here.stdout  # not on this machine's own network
    netns_file = Path("/run/netns") / host.netns
    assert any(
        "dnsmasq" in Path(f"/proc/{pid}/comm").read_text() for pid in pids_in_netns(netns_file)
    )

    # fence_havirt's way in: the machines' fence key, restricted, against a host key
    # known in advance, on an address of the outer host's networks (here: virbr-hvt's).
    key = tmp_path / "fence_key"
    made = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], timeout=30
    )
    assert made.returncode == 0
    assert vagrant_host.authorize(f"{key}.pub", base_dir, NAME) is True
    assert vagrant_host.authorize(f"{key}.pub", base_dir, NAME) is False  # once
    known = tmp_path / "known_hosts"
    known.write_text("192.168.121.1 " + Path(host.host_key).read_text())
    login = subprocess.run(
        ["ip", "netns", "exec", host.netns, "ssh", "-i", str(key), "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
         "root@192.168.121.1", "virsh", "-q", "-c", "qemu:///system", "pool-list", "--name"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    assert login.stdout.split() == ["default"]

    # A machine still defined there keeps the host up through `down --if-empty`.
    domain = tmp_path / "domain.xml"
    domain.write_text(DOMAIN_XML)
    assert virsh(host.uri, "define", str(domain)).returncode == 0
    assert vagrant_host.status(base_dir, NAME).domains == ("left-behind",)
    assert vagrant_host.down(base_dir, only_if_empty=True, name=NAME) is False
    assert vagrant_host.status(base_dir, NAME).up

    assert vagrant_host.down(base_dir, name=NAME) is True
    assert not vagrant_host.status(base_dir, NAME).up
    assert host.netns not in netns_list()
    assert not (base_dir / NAME).exists()
    assert vagrant_host.down(base_dir, name=NAME) is False  # nothing left to take down
