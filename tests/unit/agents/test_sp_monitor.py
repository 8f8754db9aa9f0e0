"""ocf:havirt:StoragePool monitor and probe: depths, hung mounts, libvirt down."""

from __future__ import annotations

import pytest
from pool_fakes import NFS, pool_xml

SUCCESS, GENERIC, CONFIGURED, NOT_RUNNING = 0, 1, 6, 7
TARGET = NFS["target_path"]


def test_undefined_pool_is_not_running(sp) -> None:
    probe = sp.nfs("monitor", interval=0)
    assert probe.rc == NOT_RUNNING and probe.reason is None  # a probe finding nothing
    monitor = sp.nfs("monitor")
    assert monitor.rc == NOT_RUNNING
    assert "not defined on this node" in monitor.reason


def test_inactive_pool_is_not_running(sp) -> None:
    sp.add_pool(active=False)
    assert sp.nfs("monitor", interval=0).rc == NOT_RUNNING
    monitor = sp.nfs("monitor")
    assert monitor.rc == NOT_RUNNING and "not active" in monitor.reason


def test_active_and_mounted_at_depth_0_reads_only_mountinfo(sp) -> None:
    sp.add_pool(active=True)
    assert sp.nfs("monitor").rc == SUCCESS
    assert sp.nfs("monitor", interval=0).rc == SUCCESS
    assert sp.fs.checks == []  # nothing touched the mount


def test_active_but_not_mounted_fails(sp) -> None:
    sp.add_pool(active=True)
    sp.unmount(TARGET)
    for interval in (0, 10000):  # a probe too: active in libvirt is not "not running"
        outcome = sp.nfs("monitor", interval=interval)
        assert outcome.rc == GENERIC
        assert f"nothing is mounted at {TARGET}" in outcome.reason


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ({"extra": {"OCF_CHECK_LEVEL": "10"}}, ["stat"]),
        ({"extra": {"OCF_CHECK_LEVEL": "20"}}, ["write"]),
        ({"monitor_depth": "10"}, ["stat"]),
        ({"monitor_depth": "20", "extra": {"OCF_CHECK_LEVEL": "10"}}, ["write"]),
        ({"monitor_depth": "20", "interval": 0}, []),  # probes check depth 0 only
    ],
)
def test_depths(sp, how, expected) -> None:
    sp.add_pool(active=True)
    assert sp.nfs("monitor", **how).rc == SUCCESS
    assert sp.fs.modes() == expected


def test_depth_20_writes_a_per_node_status_file(sp) -> None:
    sp.add_pool(active=True)
    assert sp.nfs("monitor", monitor_depth="20").rc == SUCCESS
    (mode, target, _seconds), *_ = sp.fs.checks
    assert (mode, target) == ("write", TARGET)
    assert sp.nfs("monitor", monitor_depth="20", status_file="hb-%n.txt").rc == SUCCESS


@pytest.mark.parametrize("depth", ["10", "20"])
@pytest.mark.parametrize("trouble", ["hung", "stuck"])
def test_a_hung_mount_fails_the_monitor_before_the_timeout(sp, depth, trouble) -> None:
    sp.add_pool(active=True)
    sp.fs.trouble[TARGET] = trouble
    start = sp.clock.now
    outcome = sp.nfs("monitor", monitor_depth=depth, timeout=20000)
    assert outcome.rc == GENERIC
    assert "did not answer within" in outcome.reason and TARGET in outcome.reason
    assert "hung mount" in outcome.reason
    if trouble == "stuck":
        assert "could not be killed and was left behind" in outcome.reason
    # The check, the kill and the answer all fit well before the 20 s timeout (the
    # dispatcher's watchdog answers at 19 s).
    assert sp.clock.now - start < 18.5


def test_check_timeout_bounds_each_check(sp) -> None:
    sp.add_pool(active=True)
    sp.fs.trouble[TARGET] = "hung"
    outcome = sp.nfs("monitor", monitor_depth="10", check_timeout="3", timeout=40000)
    assert "within 3.0s" in outcome.reason
    assert sp.fs.checks[0][2] == 3.0


def test_a_failing_check_reports_what_the_child_said(sp) -> None:
    sp.add_pool(active=True)
    sp.fs.trouble[TARGET] = "Read-only file system: /var/lib/libvirt/images/.havirt"
    outcome = sp.nfs("monitor", monitor_depth="20")
    assert outcome.rc == GENERIC and "Read-only file system" in outcome.reason


def test_dir_pool_checks_that_the_target_exists(sp) -> None:
    sp.add_pool(pool_type="dir", target="/srv/images", active=True)
    params = {"pool": "images", "type": "dir", "target_path": "/srv/images"}
    assert sp.run("monitor", **params).rc == SUCCESS
    assert sp.fs.modes() == ["exists"]
    sp.fs.dirs.discard("/srv/images")
    outcome = sp.run("monitor", **params)
    assert outcome.rc == GENERIC and "/srv/images does not exist" in outcome.reason


def test_definition_from_libvirt_when_the_parameters_give_none(sp) -> None:
    sp.add_pool(active=True)
    assert sp.run("monitor", pool="images").rc == SUCCESS
    assert sp.hv.calls_of("pool xml")
    sp.unmount(TARGET)
    assert sp.run("monitor", pool="images").rc == GENERIC


def test_a_pool_type_the_agent_does_not_manage(sp) -> None:
    sp.add_pool(xml="<pool type='rbd'><name>images</name></pool>", active=True)
    outcome = sp.run("monitor", pool="images")
    assert outcome.rc == CONFIGURED and "'rbd' is not managed" in outcome.reason


# -- libvirtd down or hung: the mount is the witness -------------------------------------


def test_libvirt_down_and_mounted_counts_as_running(sp) -> None:
    sp.add_pool(active=True)
    sp.hv.unavailable = "Cannot recv data"
    for interval in (0, 10000):
        outcome = sp.nfs("monitor", interval=interval)
        assert outcome.rc == SUCCESS, outcome
        assert "libvirt is unreachable" in outcome.stderr


def test_libvirt_down_still_runs_the_deep_checks(sp) -> None:
    sp.add_pool(active=True)
    sp.hv.unavailable = "Cannot recv data"
    sp.fs.trouble[TARGET] = "hung"
    outcome = sp.nfs("monitor", monitor_depth="10")
    assert outcome.rc == GENERIC and "did not answer" in outcome.reason


def test_libvirt_down_and_nothing_mounted_is_not_running(sp) -> None:
    sp.hv.unavailable = "Cannot recv data"
    assert sp.nfs("monitor", interval=0).rc == NOT_RUNNING
    outcome = sp.nfs("monitor")
    assert outcome.rc == NOT_RUNNING and "nothing is mounted" in outcome.reason


def test_libvirt_down_dir_pool_is_judged_by_its_directory(sp) -> None:
    sp.hv.unavailable = "Cannot recv data"
    params = {"pool": "images", "type": "dir", "target_path": "/srv/images"}
    assert sp.run("monitor", **params).rc == NOT_RUNNING
    sp.fs.dirs.add("/srv/images")
    assert sp.run("monitor", **params).rc == SUCCESS


def test_libvirt_down_and_only_libvirt_knows_the_definition(sp) -> None:
    sp.hv.unavailable = "Cannot recv data"
    outcome = sp.run("monitor", pool="images", interval=0)
    assert outcome.rc == GENERIC and "cannot tell" in outcome.reason


def test_libvirt_may_use_only_half_of_the_monitor_timeout(sp) -> None:
    sp.add_pool(active=True)
    sp.nfs("monitor", timeout=30000)
    assert sp.reserves == [15.0]


# -- probes with a broken configuration ---------------------------------------------------


def test_probe_with_broken_parameters_tells_the_truth(sp, tmp_path) -> None:
    missing = str(tmp_path / "gone.xml")
    assert sp.run("monitor", pool="images", pool_xml=missing, interval=0).rc == NOT_RUNNING
    sp.add_pool(active=True)
    outcome = sp.run("monitor", pool="images", pool_xml=missing, interval=0)
    assert outcome.rc == SUCCESS and "active on this node" in outcome.stderr
    sp.hv.unavailable = "Cannot recv data"
    outcome = sp.run("monitor", pool="images", pool_xml=missing, interval=0)
    assert outcome.rc == GENERIC and "does not exist on this node" in outcome.reason
    assert "libvirt cannot tell" in outcome.reason


def test_recurring_monitor_with_broken_parameters_fails(sp, tmp_path) -> None:
    sp.add_pool(active=True)
    outcome = sp.run("monitor", pool="images", pool_xml=str(tmp_path / "gone.xml"))
    assert outcome.rc == 5


def test_status_is_monitor(sp) -> None:
    sp.add_pool(xml=pool_xml(), active=True)
    assert sp.nfs("status").rc == SUCCESS
