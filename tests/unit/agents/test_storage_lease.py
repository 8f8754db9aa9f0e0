"""Storage leases: how the agent finds out whether this node's libvirt holds them, and
what start and validate-all do with the answer (require_storage_lease).

The configuration files are real files in the test's own directories (CONF_DIR,
RUN_DIR); the lock daemon's socket and the libvirt daemon's process are the fake
host's (``FakeHost.listening``, ``FakeHost.processes``), as the agent sees them
through ``ctx.host``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from havirt.agents.guest import storage_lease
from havirt.agents.guest.params import lease_requirement
from havirt.agents.libvirt.boundary import RESOURCE_BUSY, HypervisorError
from havirt.ocf.exitcodes import OcfExit
from vd_fakes import FakeHost, FakeProcs, node_libvirt

LOCKD = 'lock_manager = "lockd"\n'
BUSY = (
    "create: resource busy: Lockspace resource "
    "'b59b0d53e6e1bd4aa41958103162aedc0d954416db998806c6888cca1a9158b3' is locked"
)


class Node:
    """This node's /etc/libvirt and /run as the check sees them, and its daemons."""

    def __init__(self, etc: Path, run: Path, host: FakeHost) -> None:
        self.etc = etc
        self.run = run
        self.host = host

    def write(self, name: str, text: str) -> Path:
        path = self.etc / name
        path.write_text(text)
        return path

    def lockd(self, lockd_conf: str | None = 'file_lockspace_dir = "/srv/shared/lockd"\n') -> None:
        self.write("qemu.conf", "# the distribution's file\n" + LOCKD)
        if lockd_conf is not None:
            self.write("qemu-lockd.conf", lockd_conf)
        self.daemon_up("libvirt/virtlockd-sock")

    def daemon_up(self, rel: str) -> Path:
        path = self.run / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()  # the socket file
        self.host.listening.add(str(path))
        return path

    def daemon_dies(self) -> None:
        """The daemon ends without removing its socket file (as after SIGKILL)."""
        self.host.listening.clear()

    def check(self, block_disks=(), has_leases=False) -> storage_lease.LeaseCheck:
        return storage_lease.inspect(
            block_disks,
            has_leases,
            timeout=1.0,
            host=self.host,
            conf_dir=str(self.etc),
            run_dir=str(self.run),
        )


@pytest.fixture
def node(h) -> Node:
    """This node, sharing the fake host and libvirt directories with the agent harness ``h``."""
    return Node(h.libvirt_etc, h.run_dir, h.host)


# -- reading libvirt's configuration files -----------------------------------------------


def test_read_conf_takes_scalars_and_skips_comments_and_lists(tmp_path: Path) -> None:
    conf = tmp_path / "qemu.conf"
    conf.write_text(
        '# lock_manager = "sanlock"\n'
        '#lock_manager = "lockd"\n'
        "cgroup_device_acl = [\n"
        '    "/dev/null", "/dev/full",\n'
        "    lock_manager_is_not_a_key = 1,\n"
        "]\n"
        'lock_manager = "lockd"   # libvirt takes the first of duplicates\n'
        "lock_manager = 'sanlock'\n"
        "auto_disk_leases = 0 # off\n"
        'file_lockspace_dir = "/srv/with # hash"\n'
        'broken = "no end quote\n'
    )
    found = storage_lease.read_conf(
        str(conf), ("lock_manager", "auto_disk_leases", "file_lockspace_dir", "broken")
    )
    assert found == {
        "lock_manager": "lockd",
        "auto_disk_leases": 0,
        "file_lockspace_dir": "/srv/with # hash",
    }
    assert storage_lease.read_conf(str(tmp_path / "missing.conf"), ("lock_manager",)) == {}


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        (None, True),
        ("", True),
        ("qemu:///system", True),
        ("qemu+unix:///system", True),
        ("qemu+unix:///system?socket=/run/libvirt/libvirt-sock", True),
        ("qemu://localhost/system", True),
        ("qemu:///session", False),
        ("qemu+ssh://node2/system", False),
        ("qemu+tcp://192.168.1.2/system", False),
        ("xen:///system", False),
        ("test:///default", False),
    ],
)
def test_which_hypervisor_uris_read_this_nodes_configuration(uri, local) -> None:
    assert storage_lease.is_local_system_uri(uri) is local


@pytest.mark.parametrize(
    ("value", "meaning"),
    [
        ("", "auto"),
        (None, "auto"),
        ("auto", "auto"),
        ("AUTO", "auto"),
        ("true", "true"),
        ("yes", "true"),
        ("1", "true"),
        ("false", "false"),
        ("off", "false"),
        ("maybe", None),
    ],
)
def test_require_storage_lease_values(value, meaning) -> None:
    assert lease_requirement(value) == meaning


# -- what the check finds ----------------------------------------------------------------------


def test_no_qemu_conf_means_no_lock_manager(node: Node) -> None:
    found = node.check()
    assert found.manager is None and not found.protected
    assert "no lock manager" in found.problem and "qemu.conf" in found.problem


@pytest.mark.parametrize("text", ['#lock_manager = "lockd"\n', 'lock_manager = "nop"\n', ""])
def test_commented_or_nop_lock_manager_is_none(node: Node, text: str) -> None:
    node.write("qemu.conf", text)
    assert node.check().manager is None


def test_lockd_with_its_daemon_answering_protects_the_disks(node: Node) -> None:
    node.lockd()
    found = node.check()
    assert found.protected and found.manager == "lockd"
    assert "virtlockd answers" in found.summary and "/srv/shared/lockd" in found.summary


def test_lockd_defaults_to_automatic_leases_on_the_disk_files(node: Node) -> None:
    node.lockd(lockd_conf=None)  # no qemu-lockd.conf at all: libvirt's defaults
    found = node.check()
    assert found.protected
    assert "locks on the disk files themselves" in found.summary


def test_lockd_without_its_daemon(node: Node) -> None:
    node.write("qemu.conf", LOCKD)
    found = node.check()
    assert found.manager == "lockd" and not found.protected
    assert found.problem.startswith("virtlockd is not running (no socket ")


def test_lockd_whose_daemon_died_leaving_its_socket(node: Node) -> None:
    node.lockd()
    node.daemon_dies()
    assert (node.run / "libvirt" / "virtlockd-sock").exists()
    found = node.check()
    assert not found.protected
    assert "virtlockd does not answer" in found.problem and "refused" in found.problem


def test_lockd_without_automatic_leases_needs_lease_elements(node: Node) -> None:
    node.lockd(lockd_conf="auto_disk_leases = 0\n")
    found = node.check()
    assert not found.protected
    assert "auto_disk_leases is off" in found.problem and "<lease>" in found.problem
    assert node.check(has_leases=True).protected


def test_block_device_disks_need_an_indirect_lockspace(node: Node) -> None:
    node.lockd(lockd_conf="auto_disk_leases = 1\n")
    found = node.check(block_disks=["/dev/mapper/vg-vm1"])
    assert not found.protected
    assert "/dev/mapper/vg-vm1 is a block device" in found.problem
    assert "file_lockspace_dir" in found.problem
    node.write("qemu-lockd.conf", 'file_lockspace_dir = "/srv/shared/lockd"\n')
    assert node.check(block_disks=["/dev/mapper/vg-vm1"]).protected
    node.write("qemu-lockd.conf", 'lvm_lockspace_dir = "/srv/shared/lvm"\n')
    assert node.check(block_disks=["/dev/mapper/vg-vm1"]).protected


def test_sanlock_has_no_automatic_leases_by_default(node: Node) -> None:
    node.write("qemu.conf", 'lock_manager = "sanlock"\n')
    node.daemon_up("sanlock/sanlock.sock")
    assert "auto_disk_leases is off" in node.check().problem
    node.write("qemu-sanlock.conf", "auto_disk_leases = 1\n")
    assert node.check().protected


def test_unknown_lock_manager(node: Node) -> None:
    node.write("qemu.conf", 'lock_manager = "dlm"\n')
    found = node.check()
    assert found.manager == "dlm" and "unknown lock manager 'dlm'" in found.problem


def test_unreadable_qemu_conf_is_a_problem_not_a_crash(node: Node) -> None:
    (node.etc / "qemu.conf").mkdir()  # reading it fails with an OSError
    found = node.check()
    assert not found.protected and "cannot read" in found.problem


DAEMON_STARTED = 1_700_000_000.0  # when the fake libvirt daemon started (epoch seconds)


@pytest.fixture
def libvirt_daemon(node: Node) -> int:
    """The running libvirt daemon, with its pid file."""
    pid = 4321
    node.host.processes[pid] = ("libvirtd", DAEMON_STARTED)
    (node.run / "libvirtd.pid").write_text(f"{pid}\n")
    return pid


def test_a_daemon_older_than_its_configuration_is_reported(node: Node, libvirt_daemon) -> None:
    node.lockd()
    conf = node.etc / "qemu.conf"
    before = DAEMON_STARTED - 60
    os.utime(conf, (before, before))
    os.utime(node.etc / "qemu-lockd.conf", (before, before))
    assert node.check().warnings == ()
    later = DAEMON_STARTED + 60
    os.utime(conf, (later, later))
    (warning,) = node.check().warnings
    assert f"{conf} changed after libvirtd (pid {libvirt_daemon}) started" in warning
    assert "restart libvirtd" in warning
    (node.run / "libvirtd.pid").write_text("999999999\n")  # stale pid file: nothing to say
    assert node.check().warnings == ()


# -- the agent: start and validate-all -------------------------------------------------------


@pytest.fixture
def lease_node(h, node: Node) -> Node:
    """The agent harness ``h`` on a node whose configuration the test controls."""
    return node


def test_auto_on_a_node_without_lock_manager_starts_with_a_warning(h, lease_node) -> None:
    out = h.run("start")
    assert out.rc == OcfExit.SUCCESS, out
    assert "runs without storage leases on this node" in out.stderr
    assert h.hv.calls_of("create")
    out = h.run("validate-all")
    assert out.rc == OcfExit.SUCCESS, out
    assert "no lock manager" in out.stderr


def test_true_refuses_a_node_without_lock_manager_so_pacemaker_moves_away(h, lease_node) -> None:
    out = h.run("start", require_storage_lease="true")
    assert out.rc == OcfExit.ERR_INSTALLED, out
    assert "require_storage_lease=true" in out.reason and "no lock manager" in out.reason
    assert not h.hv.calls_of("create") and not h.hv.calls_of("define")
    out = h.run("validate-all", require_storage_lease="yes")
    assert out.rc == OcfExit.ERR_INSTALLED, out
    assert "no lock manager" in out.reason


def test_auto_refuses_when_the_configured_lock_daemon_is_down(h, lease_node: Node) -> None:
    lease_node.lockd()
    lease_node.daemon_dies()
    out = h.run("start")
    assert out.rc == OcfExit.ERR_INSTALLED, out
    assert "this node uses a lock manager" in out.reason
    assert "virtlockd does not answer" in out.reason
    assert not h.hv.calls_of("create")


def test_lock_manager_working_start_and_validate_all_succeed(h, lease_node: Node) -> None:
    lease_node.lockd()
    for value in ("auto", "true"):
        out = h.run("validate-all", require_storage_lease=value)
        assert out.rc == OcfExit.SUCCESS, out
        assert "storage leases by lockd" in out.stderr
    out = h.run("start", require_storage_lease="true")
    assert out.rc == OcfExit.SUCCESS, out
    assert "without storage leases" not in out.stderr


def test_false_does_not_look(h, lease_node: Node) -> None:
    lease_node.write("qemu.conf", LOCKD)  # configured, daemon down: false ignores it
    out = h.run("start", require_storage_lease="false")
    assert out.rc == OcfExit.SUCCESS, out
    assert "lease" not in out.stderr


def test_a_running_guest_is_started_without_looking(h, lease_node: Node) -> None:
    h.hv.add()
    out = h.run("start", require_storage_lease="true")
    assert out.rc == OcfExit.SUCCESS, out


def test_malformed_value_is_a_configuration_error(h, lease_node: Node) -> None:
    out = h.run("start", require_storage_lease="maybe")
    assert out.rc == OcfExit.ERR_CONFIGURED, out
    assert "require_storage_lease" in out.reason and "auto, true or false" in out.reason


def test_true_with_a_remote_hypervisor_cannot_be_checked(h, lease_node: Node) -> None:
    out = h.run("start", require_storage_lease="true", hypervisor="qemu+ssh://kvm9/system")
    assert out.rc == OcfExit.ERR_CONFIGURED, out
    assert "local qemu:///system" in out.reason
    out = h.run("start", hypervisor="qemu+ssh://kvm9/system")  # auto: not checked
    assert out.rc == OcfExit.SUCCESS, out


def test_lease_held_by_another_host_names_the_cause(h, lease_node: Node) -> None:
    lease_node.lockd()
    h.hv.create_error = HypervisorError(BUSY, RESOURCE_BUSY)
    out = h.run("start")
    assert out.rc == OcfExit.ERR_GENERIC, out
    assert "another host holds the storage lease" in out.reason
    assert "Lockspace resource" in out.reason


def test_migrate_from_to_a_node_without_lock_manager(h, lease_node) -> None:
    """libvirt does not refuse such a migration: the agent on the target does, when required."""
    h.remotes["node1"] = node_libvirt(FakeProcs())
    migrated = {"CRM_meta_migrate_source": "node1", "CRM_meta_migrate_target": "node2"}
    h.hv.add()
    out = h.run("migrate_from", extra=migrated, require_storage_lease="true")
    assert out.rc == OcfExit.ERR_INSTALLED, out
    assert "no lock manager" in out.reason
    assert h.state().get("name") == "vm1"  # known here, so stop finds and stops it
    out = h.run("migrate_from", extra=migrated)
    assert out.rc == OcfExit.SUCCESS, out
    assert "runs without storage leases on this node" in out.stderr
