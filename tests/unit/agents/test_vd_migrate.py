from __future__ import annotations

import pytest
from havirt.agents import libvirt_boundary
from havirt.agents.libvirt_boundary import MIGRATE_FLAG_NAMES, HypervisorError
from havirt.ocf.exitcodes import OcfExit
from vd_fakes import UUID, FakeHypervisor, FakeProcs

libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed")

MIGRATE_FLAGS = {k: getattr(libvirt, v) for k, v in MIGRATE_FLAG_NAMES.items()}
SUCCESS, GENERIC = OcfExit.SUCCESS, OcfExit.ERR_GENERIC
LIVE = MIGRATE_FLAGS["--live"]
TARGET = {"OCF_RESKEY_CRM_meta_migrate_target": "node2"}
SOURCE = {"OCF_RESKEY_CRM_meta_migrate_source": "node1"}


def migrate_to(h, **reskeys):
    return h.run("migrate_to", timeout=120000, extra=TARGET, **reskeys)


def test_migrate_to_without_a_target_fails_with_reason(h):
    h.hv.add()
    out = h.run("migrate_to")
    assert out.rc == GENERIC, out
    assert "target node" in out.reason
    assert not h.hv.calls_of("migrate")


@pytest.mark.parametrize("where", ["nowhere", "shutoff", "paused-ioerror"])
def test_migrate_to_of_a_guest_not_running_here_fails(h, where):
    if where == "shutoff":
        h.hv.add(state=("shutoff", "shutdown"), persistent=True)
    elif where == "paused-ioerror":
        h.hv.add(state=("paused", "ioerror"))
    out = migrate_to(h)
    assert out.rc == GENERIC, out
    assert "not active locally" in out.reason
    assert not h.hv.calls_of("migrate")


def test_migrate_to_with_libvirt_unreachable_fails(h):
    h.hv.unavailable = "connect: Cannot recv data"
    h.procs.add(4242, "vm1", UUID)
    out = migrate_to(h)
    assert out.rc == GENERIC, out
    assert "not active locally" in out.reason or "migrate_to" in out.reason


def test_migrate_to_defaults(h):
    h.hv.add()
    out = migrate_to(h)
    assert out.rc == SUCCESS, out
    assert h.hv.calls_of("migrate") == [("migrate", "vm1", "qemu://node2/system", None, LIVE, 0)]
    assert not h.hv.calls_of("set_migration_speed")
    assert not h.hv.calls_of("set_migration_downtime")


def test_migrate_to_flags_and_uris_from_the_parameters(h):
    h.hv.add()
    out = migrate_to(
        h,
        migrate_options="--p2p --tunnelled --unsafe --migrateuri=tcp://%n-opt:1",
        migration_transport="ssh",
        migration_user="virt",
        migration_network_suffix="-mig",
        migrateport="49152",
    )
    assert out.rc == SUCCESS, out
    flags = LIVE | MIGRATE_FLAGS["--p2p"] | MIGRATE_FLAGS["--tunnelled"] | MIGRATE_FLAGS["--unsafe"]
    assert h.hv.calls_of("migrate") == [
        ("migrate", "vm1", "qemu+ssh://virt@node2-mig/system", "tcp://node2-opt:1", flags, 0)
    ]


def test_migrate_to_remoteuri_and_migrateuri_win(h):
    h.hv.add()
    out = migrate_to(
        h,
        remoteuri="qemu+tls://%n.mgmt/system",
        migrateuri="tcp://%n.storage:49200",
        migrate_options="--migrateuri=tcp://ignored:1",
        migration_transport="ssh",
        migration_network_suffix="-mig",
    )
    assert out.rc == SUCCESS, out
    (call,) = h.hv.calls_of("migrate")
    assert call[2:4] == ("qemu+tls://node2.mgmt/system", "tcp://node2.storage:49200")


def test_migrate_to_sets_speed_and_downtime_before_migrating(h):
    h.hv.add()
    out = migrate_to(h, migration_speed="100", migration_downtime="500")
    assert out.rc == SUCCESS, out
    order = [c[0] for c in h.hv.calls if c[0].startswith(("set_migration", "migrate"))]
    assert order == ["set_migration_speed", "set_migration_downtime", "migrate"]
    assert ("set_migration_speed", "vm1", 100) in h.hv.calls
    assert ("set_migration_downtime", "vm1", 500) in h.hv.calls
    assert h.hv.calls_of("migrate")[0][-1] == 100  # bandwidth passed to the migration too


def test_migrate_to_failure_reports_libvirt(h):
    dom = h.hv.add()
    dom.migrate_error = HypervisorError(
        "migrate: operation failed: Failed to connect to remote libvirt URI", 9
    )
    out = migrate_to(h)
    assert out.rc == GENERIC, out
    assert "migration to node2 failed" in out.reason
    assert "Failed to connect to remote libvirt URI" in out.reason


def test_migrate_to_with_save_config_saves_before_migrating(h):
    h.hv.add()
    out = migrate_to(h, save_config_on_stop="true")
    assert out.rc == SUCCESS, out
    order = [c[0] for c in h.hv.calls if c[0] in ("xml", "migrate")]
    assert order == ["xml", "migrate"]


def test_migrate_to_refused_speed_is_a_clear_failure(h):
    dom = h.hv.add()
    dom.speed_error = HypervisorError("migrateSetMaxSpeed: argument unsupported", 8)
    out = migrate_to(h, migration_speed="100")
    assert out.rc == GENERIC, out
    assert "argument unsupported" in out.reason and "internal error" not in out.reason
    assert not h.hv.calls_of("migrate")


# -- migrate_from


@pytest.fixture
def source(monkeypatch) -> FakeHypervisor:
    """The libvirt of the migration source, reached by _verify_gone_from_source."""
    hv = FakeHypervisor(FakeProcs())
    opened: list[str] = []

    def connect(uri, deadline, budget=None):
        opened.append(uri)
        hv.uri = uri
        return hv

    monkeypatch.setattr(libvirt_boundary, "Hypervisor", connect)
    hv.opened = opened
    return hv


def test_migrate_from_checks_the_source_has_no_copy_left(h, source):
    h.hv.add()
    out = h.run("migrate_from", extra=SOURCE, migration_transport="ssh")
    assert out.rc == SUCCESS, out
    assert source.opened == ["qemu+ssh://node1/system"]
    assert h.state().get("uuid") == UUID


def test_migrate_from_with_a_copy_still_running_on_the_source_fails(h, source):
    h.hv.add()
    source.add()
    out = h.run("migrate_from", extra=SOURCE)
    assert out.rc == GENERIC, out
    assert "two copies" in out.reason and "node1" in out.reason


def test_migrate_from_when_the_guest_never_arrives(h, source):
    out = h.run("migrate_from", extra=SOURCE)
    assert out.rc == GENERIC, out
    assert "did not arrive" in out.reason
