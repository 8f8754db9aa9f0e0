"""ocf:havirt:StoragePool start: define if needed (never losing a definition), mount, verify."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from havirt.agents.libvirt.boundary import HypervisorError
from pool_fakes import NFS, POOL_UUID, pool_xml

SUCCESS, GENERIC, INSTALLED = 0, 1, 5
TARGET = NFS["target_path"]


def test_defines_starts_and_verifies_an_unknown_pool(sp) -> None:
    sp.fs.dirs.add(TARGET)
    outcome = sp.nfs("start", mount_options="vers=4.2,hard")
    assert outcome.rc == SUCCESS, outcome
    ((_, xml),) = sp.hv.calls_of("define_pool")
    root = ET.fromstring(xml)
    assert root.get("type") == "netfs" and root.findtext("name") == "images"
    assert root.find("source/host").get("name") == "nfs1"
    assert root.find("source/dir").get("path") == "/export/images"
    assert root.find("source/format").get("type") == "nfs"  # NFS unless told otherwise
    assert root.findtext("target/path") == TARGET
    fs = "{http://libvirt.org/schemas/storagepool/fs/1.0}"
    assert [o.get("name") for o in root.iter(f"{fs}option")] == ["vers=4.2", "hard"]
    assert sp.hv.calls_of("start") and sp.mounted()
    assert sp.fs.modes() == ["exists", "stat"]  # target there; answers once mounted
    assert not sp.hv.calls_of("build")


def test_builds_a_missing_target_directory(sp) -> None:
    assert sp.nfs("start").rc == SUCCESS
    assert sp.hv.calls_of("build")
    assert [c[0] for c in sp.hv.calls if c[0] in ("build", "start")] == ["build", "start"]


def test_already_active_is_success_without_starting_again(sp) -> None:
    sp.add_pool(active=True)
    outcome = sp.nfs("start")
    assert outcome.rc == SUCCESS and "already active" in outcome.stderr
    assert not sp.hv.calls_of("start") and not sp.hv.calls_of("define_pool")


def test_an_existing_matching_definition_is_used_as_it_is(sp) -> None:
    sp.add_pool(fmt="auto")  # defined by an admin; format not given to the resource
    assert sp.nfs("start").rc == SUCCESS
    assert not sp.hv.calls_of("define_pool")
    assert sp.hv.calls_of("start")


def test_undefined_pool_without_a_definition_is_not_installed_here(sp) -> None:
    outcome = sp.run("start", pool="images")
    assert outcome.rc == INSTALLED
    assert "not defined on this node" in outcome.reason and "pool_xml" in outcome.reason


def test_libvirts_own_definition_is_started(sp) -> None:
    sp.add_pool(pool_type="dir", target="/srv/images")
    assert sp.run("start", pool="images").rc == SUCCESS
    assert sp.hv.pools["images"].active and not sp.hv.calls_of("define_pool")


def test_a_different_inactive_definition_is_replaced_and_kept(sp) -> None:
    old = sp.add_pool(host="oldnfs", target="/mnt/old")
    old_xml = old.defined_xml
    outcome = sp.nfs("start")
    assert outcome.rc == SUCCESS, outcome
    assert "redefining pool images" in outcome.stderr
    assert "source_host: defined oldnfs, wanted nfs1" in outcome.stderr
    assert "target_path: defined /mnt/old, wanted /var/lib/libvirt/images" in outcome.stderr
    ((_, xml),) = sp.hv.calls_of("define_pool")
    assert ET.fromstring(xml).findtext("uuid") == POOL_UUID  # same pool, redefined
    (backup,) = os.listdir(sp.backups)
    assert backup.startswith("pool-images.") and backup.endswith(".xml")
    assert (sp.backups / backup).read_text() == old_xml
    assert str(sp.backups / backup) in outcome.stderr


def test_a_different_active_definition_is_left_alone(sp) -> None:
    sp.add_pool(host="oldnfs", active=True)
    outcome = sp.nfs("start")
    assert outcome.rc == GENERIC
    assert "active with a definition that differs" in outcome.reason
    assert "virsh pool-destroy images" in outcome.reason
    assert not sp.hv.calls_of("define_pool")


def test_pool_xml_defines_the_pool_from_the_file(sp, tmp_path) -> None:
    path = tmp_path / "images.xml"
    path.write_text(pool_xml(uuid=None))
    assert sp.run("start", pool="images", pool_xml=str(path)).rc == SUCCESS
    ((_, xml),) = sp.hv.calls_of("define_pool")
    assert xml == path.read_text()


def test_mount_failure_is_reported_with_libvirts_reason(sp) -> None:
    sp.fs.dirs.add(TARGET)
    sp.add_pool().start_error = HypervisorError(
        "start pool images: internal error: Child process (/bin/mount -t nfs nfs1:/export/images "
        "/var/lib/libvirt/images) unexpected exit status 32: mount.nfs: No such device"
    )
    outcome = sp.nfs("start")
    assert outcome.rc == GENERIC
    assert outcome.reason.startswith("cannot start pool images: ")
    assert "mount.nfs: No such device" in outcome.reason


def test_storage_that_does_not_answer_after_the_mount_fails_the_start(sp) -> None:
    sp.add_pool()
    sp.fs.trouble[TARGET] = "hung"
    outcome = sp.nfs("start")
    assert outcome.rc == GENERIC
    assert "cannot start pool images" in outcome.reason and "did not answer" in outcome.reason
    assert not sp.hv.calls_of("start")  # the target did not answer before the mount either


def test_a_hung_target_after_the_mount(sp) -> None:
    pool = sp.add_pool()
    real_start = pool.start

    def start_then_hang() -> None:
        real_start()
        sp.fs.trouble[TARGET] = "stuck"

    pool.start = start_then_hang
    outcome = sp.nfs("start", timeout=30000)
    assert outcome.rc == GENERIC
    assert outcome.reason.startswith("pool images is active, but stat and statfs")


def test_autostart_is_warned_about(sp) -> None:
    sp.add_pool().autostart_on = True
    outcome = sp.nfs("start")
    assert outcome.rc == SUCCESS and "virsh pool-autostart --disable images" in outcome.stderr


def test_libvirt_unreachable_fails_the_start(sp) -> None:
    sp.hv.unavailable = "Failed to connect socket"
    outcome = sp.nfs("start")
    assert outcome.rc == GENERIC and "Failed to connect socket" in outcome.reason


def test_logical_pool_needs_no_target_directory(sp) -> None:
    sp.fs.dirs.add("/dev/vg0")
    outcome = sp.run("start", pool="vg0", type="logical", source_name="vg0")
    assert outcome.rc == SUCCESS, outcome
    ((_, xml),) = sp.hv.calls_of("define_pool")
    root = ET.fromstring(xml)
    assert root.findtext("source/name") == "vg0" and root.findtext("target/path") == "/dev/vg0"
    assert sp.fs.modes() == ["exists", "stat"]  # only the verification after the start
    assert not sp.hv.calls_of("build")


def test_start_keeps_time_to_verify(sp) -> None:
    sp.nfs("start", timeout=60000)
    assert sp.reserves[0] >= 6.0
