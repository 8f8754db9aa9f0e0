"""Pool definitions: from parameters, to and from libvirt's XML, and what differs."""

from __future__ import annotations

import pytest
from havirt.agents.pool.definition import (
    DefinitionError,
    PoolSpec,
    differences,
    from_params,
    from_xml,
    to_xml,
    with_uuid,
)
from pool_fakes import NFS, POOL_UUID, pool_xml

# As libvirt 9.0's `virsh pool-dumpxml` prints a netfs pool with mount options.
LIBVIRT_NETFS = """<pool type='netfs' xmlns:fs='http://libvirt.org/schemas/storagepool/fs/1.0'>
  <name>images</name>
  <uuid>3c1e4f0a-7b2d-4e9a-8c5f-0123456789ab</uuid>
  <capacity unit='bytes'>0</capacity>
  <source>
    <host name='nfs1'/>
    <dir path='/export/images'/>
    <format type='nfs'/>
  </source>
  <target>
    <path>/var/lib/libvirt/images/</path>
    <permissions><mode>0755</mode></permissions>
  </target>
  <fs:mount_opts>
    <fs:option name='vers=4.2'/>
    <fs:option name='hard'/>
  </fs:mount_opts>
</pool>"""


def test_netfs_from_params() -> None:
    spec = from_params({**NFS, "mount_options": "vers=4.2, hard", "source_format": ""})
    assert spec == PoolSpec(
        name="images",
        type="netfs",
        target="/var/lib/libvirt/images",
        source_host="nfs1",
        source_path="/export/images",
        source_format=None,
        mount_options=("vers=4.2", "hard"),
    )
    assert spec.mounted and spec.source == "nfs1:/export/images"


def test_no_type_and_no_fields_leaves_the_definition_to_libvirt() -> None:
    assert from_params({"pool": "images", "type": "", "mount_options": ""}) is None


def test_libvirts_xml_is_read_and_normalised() -> None:
    spec = from_xml(LIBVIRT_NETFS)
    assert spec.target == "/var/lib/libvirt/images"  # trailing slash gone
    assert spec.mount_options == ("vers=4.2", "hard")
    assert spec.source_format == "nfs"
    wanted = from_params({**NFS, "mount_options": "vers=4.2,hard"})
    assert differences(wanted, spec) == []


@pytest.mark.parametrize(
    "values",
    [
        NFS,
        {**NFS, "source_format": "cifs", "source_path": "share", "mount_options": "ro"},
        {"pool": "d", "type": "dir", "target_path": "/srv/d"},
        {"pool": "f", "type": "fs", "source_path": "/dev/loop3", "target_path": "/srv/f"},
        {
            "pool": "f",
            "type": "fs",
            "source_path": "/dev/sdb1",
            "source_format": "xfs",
            "target_path": "/srv/f",
            "mount_options": "noatime",
        },
        {"pool": "vg0", "type": "logical", "source_name": "vg0"},
    ],
)
def test_round_trip_through_xml(values) -> None:
    spec = from_params(values)
    back = from_xml(to_xml(spec, uuid=POOL_UUID))
    assert differences(spec, back) == []
    assert back.name == spec.name and back.type == spec.type and back.target == spec.target


def test_differences_name_the_parameter_and_both_values() -> None:
    wanted = from_params({**NFS, "source_format": "nfs"})
    defined = from_xml(pool_xml(host="old", fmt="auto", target="/mnt/x"))
    assert differences(wanted, defined) == [
        "target_path: defined /mnt/x, wanted /var/lib/libvirt/images",
        "source_host: defined old, wanted nfs1",
        "source_format: defined auto, wanted nfs",
    ]
    # An unset format is not compared; dropped mount options are.
    assert differences(from_params(NFS), from_xml(pool_xml(fmt="auto"))) == []
    assert differences(from_params(NFS), from_xml(LIBVIRT_NETFS)) == [
        "mount_options: defined vers=4.2,hard, wanted (none)"
    ]
    assert differences(from_params(NFS), from_xml(pool_xml(pool_type="dir"))) == [
        "type: defined dir, wanted netfs",
        "source_host: defined (none), wanted nfs1",
        "source_path: defined (none), wanted /export/images",
    ]


@pytest.mark.parametrize(
    ("xml", "words"),
    [
        ("<pool", "not well-formed"),
        ("<domain/>", "root element is <domain>"),
        ("<pool type='rbd'><name>x</name></pool>", "'rbd' is not managed"),
        ("<pool type='dir'><target><path>/x</path></target></pool>", "no <name>"),
        ("<pool type='dir'><name>x</name></pool>", "no <target><path>"),
    ],
)
def test_unusable_xml(xml, words) -> None:
    with pytest.raises(DefinitionError, match=words):
        from_xml(xml)


def test_logical_target_defaults_to_the_volume_group_device_directory() -> None:
    spec = from_xml("<pool type='logical'><name>vg0</name><source><name>vg0</name></source></pool>")
    assert spec.target == "/dev/vg0" and spec.source == "volume group vg0"


def test_with_uuid_sets_or_replaces_the_uuid() -> None:
    assert from_xml(with_uuid(pool_xml(uuid=None), POOL_UUID)).name == "images"
    assert f"<uuid>{POOL_UUID}</uuid>" in with_uuid(pool_xml(uuid=None), POOL_UUID)
    other = "00000000-0000-0000-0000-000000000001"
    replaced = with_uuid(pool_xml(), other)
    assert replaced.count("<uuid>") == 1 and other in replaced
    assert "fs:mount_opts" in with_uuid(LIBVIRT_NETFS, other)
