"""ocf:havirt:StoragePool: every malformed parameter gets a clear reason and the right code."""

from __future__ import annotations

import pytest
from havirt.agents.pool.start import SBIN_PATH
from pool_fakes import NFS, pool_xml

CONFIGURED, INSTALLED = 6, 5


@pytest.mark.parametrize(
    ("reskeys", "words"),
    [
        ({"pool": None}, ["required parameter 'pool'"]),
        ({"pool": "a/b"}, ["parameter 'pool'", "not a libvirt pool name"]),
        ({"type": "nfs"}, ["parameter 'type'", "unknown value 'nfs'", "netfs"]),
        ({"source_host": None}, ["type=netfs needs parameter 'source_host'", "server"]),
        ({"source_path": None}, ["type=netfs needs parameter 'source_path'"]),
        ({"target_path": None}, ["type=netfs needs parameter 'target_path'"]),
        ({"target_path": "images"}, ["parameter 'target_path'", "not an absolute path"]),
        ({"source_path": "export"}, ["parameter 'source_path'", "absolute export path"]),
        ({"source_name": "vg0"}, ["'source_name' does not apply to type=netfs", "remove it"]),
        ({"source_format": "ext4"}, ["'source_format': 'ext4' is not a format of type=netfs"]),
        ({"source_format": "zfs"}, ["parameter 'source_format'", "unknown value 'zfs'"]),
        ({"mount_options": "vers=4,,hard"}, ["parameter 'mount_options'", "empty option"]),
        ({"mount_options": "vers=4 hard"}, ["parameter 'mount_options'", "white space"]),
        ({"hypervisor": "qemu+ssh://node2/system"}, ["parameter 'hypervisor'", "remote host"]),
        ({"hypervisor": "qemu:/system"}, ["parameter 'hypervisor'", "not a libvirt URI"]),
        ({"force_stop": "yes"}, ["parameter 'force_stop'", "refuse, destroy-guests"]),
        ({"monitor_depth": "5"}, ["parameter 'monitor_depth'", "0, 10 or 20"]),
        ({"monitor_depth": "deep"}, ["parameter 'monitor_depth'", "not a whole number"]),
        ({"check_timeout": "-1"}, ["parameter 'check_timeout'", "below the minimum 0"]),
        ({"status_file": "a/b"}, ["parameter 'status_file'", "not a file name"]),
        ({"status_file": ".."}, ["parameter 'status_file'"]),
        ({"pool_xml": "/etc/pool.xml"}, ["'type' does not go with 'pool_xml'"]),
    ],
)
def test_malformed_parameters_are_configuration_errors(sp, reskeys, words) -> None:
    for action in ("validate-all", "start", "monitor"):
        outcome = sp.nfs(action, **reskeys)
        assert outcome.rc == CONFIGURED, (action, outcome)
        for word in words:
            assert word in (outcome.reason or ""), (word, outcome)
    assert not sp.hv.calls_of("define_pool") and not sp.hv.calls_of("start")


@pytest.mark.parametrize(
    ("reskeys", "words"),
    [
        ({"target_path": "/srv/x"}, ["'target_path' needs 'type'"]),
        ({"type": "dir"}, ["type=dir needs parameter 'target_path'"]),
        ({"type": "dir", "target_path": "/srv/x", "source_host": "h"}, ["does not apply"]),
        ({"type": "fs", "target_path": "/srv/x"}, ["type=fs needs parameter 'source_path'"]),
        ({"type": "fs", "source_path": "sdb", "target_path": "/x"}, ["block device path"]),
        ({"type": "logical"}, ["type=logical needs parameter 'source_name'"]),
    ],
)
def test_type_specific_fields(sp, reskeys, words) -> None:
    outcome = sp.run("validate-all", pool="images", **reskeys)
    assert outcome.rc == CONFIGURED, outcome
    for word in words:
        assert word in (outcome.reason or ""), outcome


def test_a_valid_definition_passes_validate_all(sp) -> None:
    # sp.host has every program installed unless a test says one is missing.
    assert sp.nfs("validate-all").rc == 0
    assert sp.run("validate-all", pool="p", type="dir", target_path="/srv/p").rc == 0
    assert sp.run("validate-all", pool="vg0", type="logical", source_name="vg0").rc == 0
    outcome = sp.run("validate-all", pool="images")  # libvirt's own definition
    assert outcome.rc == 0 and "must be defined in libvirt" in outcome.stderr
    assert not sp.hv.calls  # validate-all does not need libvirt


def test_missing_mount_helper_is_not_installed_here(sp) -> None:
    sp.host.missing.update({"mount.nfs", "mount.cifs"})
    outcome = sp.nfs("validate-all")
    assert outcome.rc == INSTALLED
    # looked up in the sbin folders too: Pacemaker's PATH may lack them
    assert sp.host.lookups[-1] == ("mount.nfs", SBIN_PATH)
    assert "mount.nfs" in outcome.reason and "nfs-common" in outcome.reason
    outcome = sp.nfs("validate-all", source_format="cifs")
    assert "cifs-utils" in outcome.reason


def test_pool_xml_file(sp, tmp_path) -> None:
    path = tmp_path / "images.xml"
    outcome = sp.run("validate-all", pool="images", pool_xml=str(path))
    assert outcome.rc == INSTALLED and "does not exist on this node" in outcome.reason
    path.write_text("<pool type='netfs'><name>images")
    outcome = sp.run("validate-all", pool="images", pool_xml=str(path))
    assert outcome.rc == CONFIGURED and "not well-formed" in outcome.reason
    path.write_text(pool_xml(name="other"))
    outcome = sp.run("validate-all", pool="images", pool_xml=str(path))
    assert outcome.rc == CONFIGURED
    assert "defines pool 'other'" in outcome.reason and "'pool' is 'images'" in outcome.reason
    path.write_text("<pool type='rbd'><name>images</name></pool>")
    outcome = sp.run("validate-all", pool="images", pool_xml=str(path))
    assert outcome.rc == CONFIGURED and "'rbd' is not managed" in outcome.reason
    path.write_text(pool_xml(pool_type="dir", target="/srv/images"))
    assert sp.run("validate-all", pool="images", pool_xml=str(path)).rc == 0
    outcome = sp.run("validate-all", pool="images", pool_xml="relative.xml")
    assert outcome.rc == CONFIGURED and "not an absolute path" in outcome.reason


def test_meta_data_and_usage_need_nothing(sp) -> None:
    outcome = sp.run("meta-data", pool=None)
    assert outcome.rc == 0 and '<resource-agent name="StoragePool"' in outcome.stdout
    assert sp.run("usage").rc == 0


def test_unknown_action_is_unimplemented(sp) -> None:
    outcome = sp.nfs("migrate_to")
    assert outcome.rc == 3 and "not implemented" in outcome.reason


def test_parameters_match_the_definition_fields() -> None:
    from havirt.agents.pool.definition import DEFINITION_FIELDS, FIELD_MEANING
    from havirt.agents.pool.params import PARAMETERS

    names = {p.name for p in PARAMETERS}
    assert set(DEFINITION_FIELDS) <= names
    assert set(FIELD_MEANING) == set(DEFINITION_FIELDS)
    assert NFS.keys() <= names
