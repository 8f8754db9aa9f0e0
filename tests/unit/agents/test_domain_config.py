from __future__ import annotations

from pathlib import Path

import pytest
from havirt.agents.guest.domain_config import load, parse
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit

FULL = """<?xml version="1.0"?>
<domain type='kvm'>
  <name> web1 </name>
  <uuid>6F1B8C2E-52A4-4D3E-9A0B-0123456789AB</uuid>
  <memory unit='GiB'>2</memory>
  <vcpu placement='static'>4</vcpu>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/web1.qcow2'/>
    </disk>
    <disk type='block' device='disk'><source dev='/dev/vg0/web1-data'/></disk>
    <disk type='volume' device='disk'><source pool='ssd' volume='web1-log'/></disk>
    <disk type='volume' device='disk'><source pool='ssd' volume='web1-tmp'/></disk>
    <disk type='volume' device='disk'><source pool='hdd' volume='web1-bak'/></disk>
    <disk type='file' device='cdrom'><target dev='sda'/></disk>
    <interface type='network'><source network='default'/></interface>
    <interface type='network'><source network='storage'/></interface>
    <interface type='network'><source network='default'/></interface>
    <interface type='bridge'><source bridge='br0'/></interface>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
  </devices>
</domain>
"""


def test_parse_everything_the_agent_needs():
    config = parse("/etc/havirt/web1.xml", FULL)
    assert config.path == "/etc/havirt/web1.xml"
    assert config.xml == FULL
    assert config.name == "web1"
    assert config.uuid == "6f1b8c2e-52a4-4d3e-9a0b-0123456789ab"
    assert config.domain_type == "kvm"
    assert config.vcpus == 4
    assert config.memory_kib == 2 * 1024 * 1024
    assert config.disks == ("/var/lib/libvirt/images/web1.qcow2", "/dev/vg0/web1-data")
    assert config.pools == ("ssd", "hdd")
    assert config.networks == ("default", "storage")
    assert config.has_guest_agent is True
    assert config.block_disks == ("/dev/vg0/web1-data",)
    assert config.has_leases is False


def test_what_storage_leases_need_to_know():
    config = parse(
        "/x.xml",
        "<domain type='kvm'><name>db1</name><devices>"
        "<disk type='block'><source dev='/dev/sdb'/></disk>"
        "<disk type='block'><source dev='/dev/sdc'/><readonly/></disk>"
        "<disk type='block'><source dev='/dev/sdd'/><shareable/></disk>"
        "<disk type='block'><target dev='vdz'/></disk>"
        "<lease><lockspace>db</lockspace><key>db1</key><target path='/srv/leases/db'/></lease>"
        "</devices></domain>",
    )
    # read-only and shared disks get no exclusive lease, so they need no lockspace either
    assert config.block_disks == ("/dev/sdb",)
    assert config.has_leases is True


def test_parse_a_minimal_definition():
    config = parse("/x.xml", "<domain type='qemu'><name>tiny</name></domain>")
    assert (config.name, config.uuid, config.domain_type) == ("tiny", None, "qemu")
    assert config.vcpus is None and config.memory_kib is None
    assert config.disks == config.pools == config.networks == ()
    assert config.has_guest_agent is False


@pytest.mark.parametrize(
    ("memory", "kib"),
    [
        ("<memory>524288</memory>", 524288),
        ("<memory unit='KiB'>524288</memory>", 524288),
        ("<memory unit='k'>1024</memory>", 1024),
        ("<memory unit='b'>1048576</memory>", 1024),
        ("<memory unit='bytes'>2097152</memory>", 2048),
        ("<memory unit='M'>512</memory>", 512 * 1024),
        ("<memory unit='MiB'>512</memory>", 512 * 1024),
        ("<memory unit='MB'>1000</memory>", 1000 * 1000 * 1000 // 1024),
        ("<memory unit='G'>1</memory>", 1024 * 1024),
        ("<memory unit='GB'>1</memory>", 1000**3 // 1024),
        ("<memory unit='TiB'>1</memory>", 1024**3),
        ("<memory unit='T'>1</memory>", 1024**3),
        ("<memory unit='TB'>1</memory>", 1000**4 // 1024),
        ("<memory unit='GiB'> 3 </memory>", 3 * 1024 * 1024),
        ("<memory unit='GiB'>lots</memory>", None),
        ("<memory unit='GiB'></memory>", None),
        ("", None),
    ],
)
def test_memory_units(memory, kib):
    config = parse("/x.xml", f"<domain type='kvm'><name>m</name>{memory}</domain>")
    assert config.memory_kib == kib


@pytest.mark.parametrize(
    ("vcpu", "count"),
    [("<vcpu>2</vcpu>", 2), ("<vcpu placement='auto' current='1'> 8 </vcpu>", 8), ("", None)],
)
def test_vcpu(vcpu, count):
    assert parse("/x.xml", f"<domain><name>v</name>{vcpu}</domain>").vcpus == count


def test_guest_agent_channel_must_have_its_name():
    xml = (
        "<domain><name>g</name><devices><channel type='unix'>"
        "<target type='virtio' name='org.example.other'/></channel></devices></domain>"
    )
    assert parse("/x.xml", xml).has_guest_agent is False


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("<domain><name>broken</name>", "not valid XML"),
        ("", "not valid XML"),
        ("<network><name>default</name></network>", "root element <network>"),
        ("<domain type='kvm'><uuid>x</uuid></domain>", "has no <name>"),
        ("<domain type='kvm'><name>  </name></domain>", "has no <name>"),
    ],
)
def test_malformed_definitions_are_err_configured(text, words):
    with pytest.raises(OcfError) as info:
        parse("/etc/havirt/bad.xml", text)
    assert info.value.code == OcfExit.ERR_CONFIGURED
    assert words in info.value.reason
    assert "/etc/havirt/bad.xml" in info.value.reason


def test_load_reads_the_file(tmp_path: Path):
    path = tmp_path / "web1.xml"
    path.write_text(FULL, encoding="utf-8")
    config = load(str(path))
    assert config.name == "web1" and config.path == str(path)


def test_load_relative_path_is_err_configured():
    with pytest.raises(OcfError) as info:
        load("vm1.xml")
    assert info.value.code == OcfExit.ERR_CONFIGURED
    assert "parameter 'config'" in info.value.reason
    assert "absolute" in info.value.reason


def test_load_missing_file_is_err_installed(tmp_path: Path):
    missing = tmp_path / "nowhere" / "vm1.xml"
    with pytest.raises(OcfError) as info:
        load(str(missing))
    assert info.value.code == OcfExit.ERR_INSTALLED
    assert str(missing) in info.value.reason
    assert "does not exist on this node" in info.value.reason


def test_load_directory_is_err_configured(tmp_path: Path):
    with pytest.raises(OcfError) as info:
        load(str(tmp_path))
    assert info.value.code == OcfExit.ERR_CONFIGURED
    assert "directory" in info.value.reason


def test_load_broken_file_is_err_configured(tmp_path: Path):
    path = tmp_path / "vm1.xml"
    path.write_text("<domain><name>vm1</name>", encoding="utf-8")
    with pytest.raises(OcfError) as info:
        load(str(path))
    assert info.value.code == OcfExit.ERR_CONFIGURED


def test_load_non_utf8_file_is_err_configured(tmp_path: Path):
    """Not a crash: stop must still reach stop_unconfigured, which needs an OcfError."""
    path = tmp_path / "vm1.xml"
    path.write_bytes(b"<domain><name>caf\xe9</name></domain>")
    with pytest.raises(OcfError) as info:
        load(str(path))
    assert info.value.code == OcfExit.ERR_CONFIGURED
    assert "UTF-8" in info.value.reason
