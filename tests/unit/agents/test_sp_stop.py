"""ocf:havirt:StoragePool stop: never under running guests, never 7, in time on a hung mount."""

from __future__ import annotations

import pytest
from havirt.agents.libvirt.boundary import HypervisorError
from pool_fakes import NFS, guest_xml

SUCCESS, GENERIC = 0, 1
TARGET = NFS["target_path"]
DISK = f"{TARGET}/vm1.qcow2"


def test_stops_and_unmounts(sp) -> None:
    sp.add_pool(active=True)
    outcome = sp.nfs("stop")
    assert outcome.rc == SUCCESS, outcome
    assert sp.hv.calls_of("destroy pool") and not sp.mounted()
    # One short look whether the mount answers (a hung one would hang libvirt's unmount).
    assert sp.fs.checks == [("stat", TARGET, 5.0)]
    assert not sp.runner.calls


@pytest.mark.parametrize("defined", [False, True])
def test_stopped_or_unknown_pool_is_a_successful_stop(sp, defined) -> None:
    if defined:
        sp.add_pool(active=False)
    for _ in range(2):
        assert sp.nfs("stop").rc == SUCCESS
    assert not sp.hv.calls_of("destroy pool")


def test_refuses_while_a_guest_uses_the_pool(sp) -> None:
    sp.add_pool(active=True)
    sp.add_guest("vm1", guest_xml("vm1", "/local/os.qcow2", DISK))
    sp.add_guest("vm2", guest_xml("vm2", "/elsewhere/disk.qcow2"))
    outcome = sp.nfs("stop")
    assert outcome.rc == GENERIC
    assert "still used by guests running on this node: vm1" in outcome.reason
    assert DISK in outcome.reason and "vm2" not in outcome.reason
    assert "force_stop=destroy-guests" in outcome.reason
    assert not sp.hv.calls_of("destroy pool") and sp.mounted()
    assert not sp.hv.calls_of("destroy")


def test_a_volume_of_the_pool_counts_as_use(sp) -> None:
    pool = sp.add_pool(active=True)
    pool.volumes = ["/dev/mapper/odd-path-of-a-volume"]
    sp.add_guest("vm1", guest_xml("vm1", "/dev/mapper/odd-path-of-a-volume"))
    sp.add_guest("vm3", guest_xml("vm3", volume=("images", "vm3.qcow2")))
    outcome = sp.nfs("stop")
    assert outcome.rc == GENERIC
    assert "vm1 (/dev/mapper/odd-path-of-a-volume)" in outcome.reason
    assert "vm3 (images/vm3.qcow2)" in outcome.reason


def test_destroy_guests_policy(sp) -> None:
    sp.add_pool(active=True)
    sp.add_guest("vm1", guest_xml("vm1", DISK))
    outcome = sp.nfs("stop", force_stop="destroy-guests")
    assert outcome.rc == SUCCESS, outcome
    assert "destroying vm1" in outcome.stderr
    assert sp.hv.calls_of("destroy") == [("destroy", "vm1")]
    assert not sp.hv.guests and not sp.mounted()


def test_destroy_guests_gives_up_before_the_deadline(sp) -> None:
    sp.add_pool(active=True)
    guest = sp.add_guest("vm1", guest_xml("vm1", DISK))
    guest.destroy_error = HypervisorError("destroy: Failed to terminate process 42", 38)
    outcome = sp.nfs("stop", force_stop="destroy-guests", timeout=10000)
    assert outcome.rc == GENERIC and "vm1 still run after destroy" in outcome.reason
    assert sp.clock.now - 1000.0 < 10.0
    assert sp.mounted()


def test_a_guest_that_ends_while_being_looked_at_is_no_user(sp) -> None:
    sp.add_pool(active=True)
    # Listed as running, gone by the time its definition is asked for.
    sp.add_guest("vm1", guest_xml("vm1", DISK)).gone = True
    assert sp.nfs("stop").rc == SUCCESS


def test_dir_pool_stops_under_guests_with_a_warning(sp) -> None:
    # Stopping a dir pool takes nothing away from the guests: libvirt only forgets it.
    sp.add_pool(pool_type="dir", target="/srv/images", active=True)
    sp.add_guest("vm1", guest_xml("vm1", "/srv/images/vm1.qcow2"))
    outcome = sp.run("stop", pool="images", type="dir", target_path="/srv/images")
    assert outcome.rc == SUCCESS
    assert "guests on this node use files of pool images: vm1" in outcome.stderr


def test_a_hung_mount_is_detached_so_stop_ends_in_time(sp) -> None:
    sp.add_pool(active=True)
    sp.fs.trouble[TARGET] = "stuck"
    outcome = sp.nfs("stop", timeout=20000)
    assert outcome.rc == SUCCESS, outcome
    assert "detaching the mount" in outcome.stderr
    (umount,) = sp.runner.calls
    assert umount == ("umount", "--lazy", "--no-canonicalize", "--internal-only", TARGET)
    assert sp.hv.calls_of("destroy pool") and not sp.mounted()
    assert sp.clock.now - 1000.0 <= 5.0 + 1.0  # the look at the mount is short


def test_detaching_that_fails_fails_the_stop(sp) -> None:
    sp.add_pool(active=True)
    sp.fs.trouble[TARGET] = "hung"
    sp.umount_works = False
    outcome = sp.nfs("stop")
    assert outcome.rc == GENERIC
    assert "did not answer" in outcome.reason and "detaching it failed" in outcome.reason
    assert not sp.hv.calls_of("destroy pool")


def test_a_mount_libvirt_leaves_behind_is_unmounted(sp) -> None:
    sp.add_pool(pool_type="fs", path="/var/tmp/disk.img", active=True).destroy_leaves_mount = True
    params = {
        "pool": "images",
        "type": "fs",
        "source_path": "/var/tmp/disk.img",
        "target_path": TARGET,
    }
    outcome = sp.run("stop", **params)
    assert outcome.rc == SUCCESS, outcome
    assert "still mounted" in outcome.stderr and not sp.mounted()
    assert sp.runner.calls == [("umount", "--no-canonicalize", TARGET)]


def test_a_mount_that_will_not_go_fails_the_stop(sp) -> None:
    sp.add_pool(active=True).destroy_leaves_mount = True
    sp.umount_works = False
    outcome = sp.nfs("stop")
    assert outcome.rc == GENERIC
    assert f"{TARGET} is still mounted" in outcome.reason and "target is busy" in outcome.reason


def test_libvirts_refusal_is_reported_with_a_hint(sp) -> None:
    sp.add_pool(active=True).destroy_error = HypervisorError(
        "stop pool images: internal error: Child process (/bin/umount /var/lib/libvirt/images) "
        "unexpected exit status 32: umount: /var/lib/libvirt/images: target is busy."
    )
    outcome = sp.nfs("stop")
    assert outcome.rc == GENERIC
    assert "target is busy" in outcome.reason and f"fuser -vm {TARGET}" in outcome.reason


def test_libvirt_unreachable_fails_the_stop(sp) -> None:
    sp.add_pool(active=True)
    sp.hv.unavailable = "Cannot recv data"
    outcome = sp.nfs("stop")
    assert outcome.rc == GENERIC and "libvirt is unreachable" in outcome.reason


def test_stop_with_broken_parameters_stops_the_pool_as_libvirt_defines_it(sp, tmp_path) -> None:
    sp.add_pool(active=True)
    outcome = sp.run("stop", pool="images", pool_xml=str(tmp_path / "gone.xml"))
    assert outcome.rc == SUCCESS, outcome
    assert sp.hv.calls_of("destroy pool") and not sp.mounted()
    # ... and the guest check still applies
    sp.hv.pools["images"].start()
    sp.add_guest("vm1", guest_xml("vm1", DISK))
    outcome = sp.run("stop", pool="images", type="bogus")
    assert outcome.rc == GENERIC and "vm1" in outcome.reason


def test_stop_without_a_pool_name_has_nothing_to_stop(sp) -> None:
    assert sp.run("stop", pool=None).rc == SUCCESS
    assert not sp.hv.calls


def test_reload_warns_that_a_new_definition_waits_for_a_restart(sp) -> None:
    sp.add_pool(host="oldnfs", active=True)
    outcome = sp.nfs("reload")
    assert outcome.rc == SUCCESS
    assert "applies at the next start" in outcome.stderr
    assert not sp.hv.calls_of("define_pool") and not sp.hv.calls_of("destroy pool")
    assert sp.nfs("reload-agent").rc == SUCCESS
