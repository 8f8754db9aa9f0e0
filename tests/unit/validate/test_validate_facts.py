"""Parsers of libvirt's XML and the other machine-readable answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from havirt.tools.validate import facts as F
from validate_fakes import caps_xml, net_xml, pool_xml


def test_network_bridge_forward_and_flags() -> None:
    net = F.parse_network(net_xml("lan", "br-lan", "bridge"), active=True, autostart=False)
    assert net == F.Network("lan", "br-lan", "bridge", True, False)
    nat = F.parse_network("<network><name>default</name><forward/></network>", False, True)
    assert (nat.forward, nat.bridge) == ("nat", None)
    isolated = F.parse_network("<network><name>iso</name><bridge name='v1'/></network>", 1, 1)
    assert isolated.forward == "isolated"


def test_netfs_pool_source_target_and_mount_options() -> None:
    pool = F.parse_pool(pool_xml("shared", "/srv/p", "nfs1", ("vers=4", "soft")), True, True)
    assert pool.type == "netfs"
    assert pool.target == "/srv/p"
    assert dict(pool.source) == {
        "host": "nfs1",
        "dir": "/export",
        "format": "nfs",
        "mount_opts": "vers=4,soft",
    }


def test_other_pool_sources() -> None:
    logical = F.parse_pool(
        "<pool type='logical'><name>vg</name><source><device path='/dev/sdb'/>"
        "<device path='/dev/sdc'/><name>vg0</name></source>"
        "<target><path>/dev/vg0</path></target></pool>",
        True,
        True,
    )
    assert dict(logical.source) == {"device": "/dev/sdb,/dev/sdc", "name": "vg0"}
    directory = F.parse_pool("<pool type='dir'><name>d</name></pool>", False, False)
    assert (directory.source, directory.target) == ((), None)


def test_malformed_xml_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="malformed"):
        F.parse_network("<network>", True, True)


def test_entities_are_not_expanded() -> None:
    evil = (
        '<!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]><network><name>&x;</name></network>'
    )
    assert "root:" not in F.parse_network(evil, True, True).name


def test_capabilities_uuid_and_cpu() -> None:
    uuid, cpu = F.parse_capabilities(caps_xml("abc", "Haswell", ("avx2", "vmx")))
    assert uuid == "abc"
    assert cpu is not None
    assert (cpu.arch, cpu.vendor, cpu.model) == ("x86_64", "Intel", "Haswell")
    assert cpu.features == {"avx2", "vmx"}
    assert cpu.xml.startswith("<cpu>") and "Haswell" in cpu.xml


DATA = Path(__file__).parent / "data"


def test_domcapabilities_usable_models_and_supported_modes() -> None:
    domain, cpus = F.parse_domcapabilities((DATA / "domcapabilities-qemu-tcg.xml").read_text())
    assert (domain, cpus.arch) == ("qemu", "x86_64")
    assert {"qemu64", "kvm64", "core2duo", "Nehalem", "Westmere", "Opteron_G2"} <= cpus.usable
    assert not {"Skylake-Client", "EPYC", "phenom"} & cpus.usable  # known, not under TCG
    assert {"Skylake-Client", "EPYC", "phenom"} <= cpus.known
    assert cpus.modes == {"maximum", "host-model", "custom"}  # TCG: no host-passthrough
    assert cpus.host_model == "EPYC"  # what QEMU's TCG emulates here


def test_domcapabilities_aliases_count_and_unsupported_host_model_gives_none() -> None:
    text = """<domainCapabilities><domain>kvm</domain><arch>x86_64</arch><cpu>
      <mode name='host-passthrough' supported='yes'/>
      <mode name='host-model' supported='no'/>
      <mode name='custom' supported='yes'>
        <model usable='yes' vendor='Intel' canonical='Skylake-Client-v1'>Skylake-Client</model>
      </mode></cpu></domainCapabilities>"""
    domain, cpus = F.parse_domcapabilities(text)
    assert domain == "kvm"
    assert cpus.usable == cpus.known == {"Skylake-Client", "Skylake-Client-v1"}
    assert (cpus.modes, cpus.host_model) == ({"host-passthrough", "custom"}, None)


def test_domcapabilities_entities_are_not_expanded() -> None:
    text = (
        "<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
        "<domainCapabilities><domain>qemu</domain><cpu><mode name='custom' supported='yes'>"
        "<model usable='yes'>&x;</model></mode></cpu></domainCapabilities>"
    )
    _, cpus = F.parse_domcapabilities(text)
    assert not any("root" in m for m in cpus.known)


def test_versions() -> None:
    text = (
        "Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\n"
        "Using API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.22\n"
    )
    assert F.parse_virsh_version(text) == {"libvirt": "9.0.0", "qemu": "7.2.22"}
    assert F.parse_virsh_version("") == {"libvirt": None, "qemu": None}
    xml = (
        '<pacemaker-result api-version="2.25"><version program="Pacemaker" version="2.1.5" '
        'build="a3f4"/><status code="0" message="OK"/></pacemaker-result>'
    )
    assert F.parse_pacemaker_version(xml) == "2.1.5"
    assert F.parse_pacemaker_version("Pacemaker 2.0.1\nWritten by Andrew\n") == "2.0.1"
    assert F.parse_corosync_version("Corosync Cluster Engine, version '3.1.7'\n") == "3.1.7"
    assert F.parse_corosync_version("nonsense") is None


def test_getent_ahosts_keeps_order_once_each() -> None:
    text = (
        "fd00::12        STREAM node2\nfd00::12        DGRAM\n"
        "192.168.77.12   STREAM\n192.168.77.12   DGRAM\n"
    )
    assert F.parse_getent_ahosts(text) == ("fd00::12", "192.168.77.12")


def separator(mapped: bool = False) -> str:
    address = ("::ffff:" if mapped else "") + F.GETENT_SEPARATOR
    return f"{address} STREAM {F.GETENT_SEPARATOR}\n{address} DGRAM  \n{address} RAW    \n"


def test_one_getent_for_all_names_is_split_at_the_separators() -> None:
    assert F.getent_keys(["node1", "node2"]) == ["0.0.0.1", "node1", "0.0.0.1", "node2", "0.0.0.1"]
    # node2 cannot be resolved: getent prints nothing for it; node3 has two addresses.
    text = (
        separator()
        + "10.0.0.11 STREAM node1.example\n10.0.0.11 DGRAM\n"
        + separator()
        + separator()
        + "fd00::13 STREAM node3\n10.0.0.13 STREAM\n"
        + separator()
    )
    assert F.parse_getent_keys(text, ["node1", "node2", "node3"]) == {
        "node1": ("10.0.0.11",),
        "node2": (),
        "node3": ("fd00::13", "10.0.0.13"),
    }
    # An IPv6-only host gives the separator back v4-mapped.
    mapped = separator(True) + "fd00::11 STREAM node1\n" + separator(True)
    assert F.parse_getent_keys(mapped, ["node1"]) == {"node1": ("fd00::11",)}


def test_a_getent_answer_without_every_separator_is_an_error() -> None:
    with pytest.raises(ValueError, match="1 separator answers for 2 names"):
        F.parse_getent_keys(separator() + "10.0.0.11 STREAM node1\n", ["node1", "node2"])


def test_meminfo_and_domstats() -> None:
    assert F.parse_meminfo("MemTotal: 100 kB\nMemAvailable: 60 kB\n") == (100, 60)
    with pytest.raises(ValueError):
        F.parse_meminfo("MemTotal: 100 kB\n")
    stats = "Domain: 'vm1'\n  balloon.current=131072\n  balloon.maximum=262144\n\nDomain: 'vm 2'\n"
    stats += "  balloon.current=65536\n"
    assert F.parse_domstats_balloon(stats) == (("vm1", 131072), ("vm 2", 65536))


def test_libvirt_conf_settings() -> None:
    text = """
# lock_manager = "sanlock"
lock_manager = "lockd"   # trailing comment
user = "root"
cgroup_device_acl = [
    "/dev/null", "/dev/full",
    "/dev/kvm"
]
max_files = 32768
path = "with # hash"
"""
    settings = F.parse_libvirt_conf(text)
    assert settings["lock_manager"] == "lockd"
    assert settings["max_files"] == "32768"
    assert settings["path"] == "with # hash"
    assert (
        settings["cgroup_device_acl"].startswith("[")
        and "/dev/kvm" in settings["cgroup_device_acl"]
    )
    assert "sanlock" not in settings.values()


def test_lock_config_reads_the_driver_settings_that_must_agree() -> None:
    assert F.lock_config("", None) == F.LockConfig("none", ())
    lockd = F.lock_config(
        'lock_manager = "lockd"\n', 'file_lockspace_dir = "/srv/locks"\nauto_disk_leases = 1\n'
    )
    assert lockd.manager == "lockd"
    assert dict(lockd.settings) == {"auto_disk_leases": "1", "file_lockspace_dir": "/srv/locks"}
    sanlock = F.lock_config('lock_manager = "sanlock"', 'host_id = 3\ndisk_lease_dir = "/d"')
    assert sanlock.host_id == "3" and dict(sanlock.settings) == {"disk_lease_dir": "/d"}
