from __future__ import annotations

import os

import pytest
from havirt.agents.libvirt.boundary import HypervisorError
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.runner import CommandResult
from vd_fakes import UUID, domain_xml

SUCCESS, GENERIC = OcfExit.SUCCESS, OcfExit.ERR_GENERIC
UNREACHABLE = "connect: Failed to connect socket to '/run/libvirt/libvirt-sock': No such file"


def actions(h) -> list[str]:
    return [c[0] for c in h.hv.calls if c[0] not in ("connect", "lookup", "state", "close")]


def test_start_creates_a_transient_guest_from_the_config(h):
    out = h.run("start")
    assert out.rc == SUCCESS, out
    assert h.hv.calls_of("create") == [("create", h.config.read_text())]
    assert [d.name for d in h.hv.guests] == ["vm1"]
    assert h.state().get("name") == "vm1" and h.state().get("uuid") == UUID


def test_start_of_a_running_guest_does_not_create_it_again(h):
    h.hv.add()
    out = h.run("start")
    assert out.rc == SUCCESS, out
    assert actions(h) == []


def test_persistent_definition_is_undefined_after_its_xml_is_backed_up(h):
    dom = h.hv.add(state=("shutoff", "shutdown"), persistent=True)
    dom.inactive_xml = "<domain type='kvm'><name>vm1</name><!-- admin's edits --></domain>"
    seen_at_undefine: list[list[str]] = []
    dom.before["undefine"] = lambda _dom: seen_at_undefine.append(sorted(os.listdir(h.backups)))
    out = h.run("start")
    assert out.rc == SUCCESS, out
    assert actions(h) == ["is_persistent", "xml", "undefine", "create"]
    (backup,) = seen_at_undefine[0]  # the backup existed before undefine ran
    assert backup.startswith("vm1.") and backup.endswith(".xml")
    assert (h.backups / backup).read_text() == dom.inactive_xml
    assert "undefining" in out.stderr and backup in out.stderr
    assert h.hv.calls_of("create")


def test_create_failure_reports_the_libvirt_message(h):
    h.hv.create_error = HypervisorError(
        "create: internal error: qemu unexpectedly closed the monitor: "
        "Could not open '/var/lib/libvirt/images/vm1.qcow2': Permission denied",
        1,
    )
    out = h.run("start")
    assert out.rc == GENERIC, out
    assert "vm1" in out.reason
    assert "Could not open '/var/lib/libvirt/images/vm1.qcow2': Permission denied" in out.reason


def test_start_with_libvirt_unreachable_fails_with_reason(h):
    h.hv.unavailable = UNREACHABLE
    out = h.run("start")
    assert out.rc == GENERIC, out
    assert "cannot start vm1" in out.reason and "unreachable" in out.reason


def test_start_refuses_while_a_qemu_process_of_the_guest_exists(h):
    h.procs.add(4242, "vm1", UUID)
    out = h.run("start")
    assert out.rc == GENERIC, out
    assert "4242" in out.reason and "stop it first" in out.reason
    assert not h.hv.calls_of("create")


def test_start_of_a_failed_guest_is_refused(h):
    h.hv.add(state=("paused", "ioerror"))
    out = h.run("start")
    assert out.rc == GENERIC, out
    assert not h.hv.calls_of("create")


def test_guest_that_dies_while_starting_fails_the_start(h):
    def dies(dom):
        dom.set_state("shutoff", "failed")
        dom.persistent = True
        h.procs.remove_guest(dom.name, dom.uuid)

    h.hv.on_create = dies
    out = h.run("start")
    assert out.rc == GENERIC, out
    assert "did not start" in out.reason and "failed to start" in out.reason


def test_start_waits_for_monitor_scripts(h, tmp_path):
    script = tmp_path / "check"
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    answers = iter([1, 1, 0])
    h.runner.results[str(script)] = lambda argv: CommandResult(argv, next(answers), "", "")
    out = h.run("start", monitor_scripts=str(script))
    assert out.rc == SUCCESS, out
    assert h.runner.calls == [(str(script),)] * 3


def test_start_times_out_when_monitor_scripts_never_pass(h, tmp_path):
    script = tmp_path / "check"
    script.write_text("#!/bin/sh\nexit 1\n")
    os.chmod(script, 0o755)
    h.runner.results[str(script)] = 1
    out = h.run("start", monitor_scripts=str(script), timeout=10000)
    assert out.rc == GENERIC, out
    assert "by the end of start's timeout" in out.reason


def test_start_waits_while_the_guest_is_starting_up(h):
    def starting_up(dom):
        dom.set_state("paused", "starting_up")
        dom.upcoming_states = [("paused", "starting_up")] * 3 + [("running", "booted")]

    h.hv.on_create = starting_up
    assert h.run("start").rc == SUCCESS
    assert h.clock.slept > 0


def test_start_resources_starts_pools_and_networks(h):
    h.hv.inactive_networks = {"default"}
    out = h.run("start", start_resources="true")
    assert out.rc == SUCCESS, out
    assert actions(h) == ["ensure_network_active", "create"]
    assert "started network default" in out.stderr


def test_start_with_utilization_writes_it(h):
    out = h.run("start", autoset_utilization_cpu="true")
    assert out.rc == SUCCESS, out
    assert [c for c in h.runner.calls if c[0] == "crm_resource"]


def test_start_restores_a_snapshot_and_consumes_it(h, tmp_path):
    snapdir = tmp_path / "snap"
    snapdir.mkdir()
    saved = snapdir / "vm1.state"
    saved.write_text("saved RAM")
    out = h.run("start", snapshot=str(snapdir))
    assert out.rc == SUCCESS, out
    assert actions(h) == ["restore"]
    assert not saved.exists()


def test_start_without_a_snapshot_boots(h, tmp_path):
    snapdir = tmp_path / "snap"
    snapdir.mkdir()
    assert h.run("start", snapshot=str(snapdir)).rc == SUCCESS
    assert actions(h) == ["create"]


@pytest.fixture
def cow(h, tmp_path):
    base = tmp_path / "base.img"
    base.write_bytes(b"QFI\xfb")
    h.runner.results["qemu-img"] = lambda argv: CommandResult(
        argv, 0, '{"format": "qcow2"}' if argv[1] == "info" else "", ""
    )
    return base


def test_backingfile_creates_the_overlay_and_boots_it(h, cow):
    out = h.run("start", backingfile=str(cow))
    assert out.rc == SUCCESS, out
    overlay = str(h.tmp / "vm1.qcow2")
    assert h.runner.calls == [
        ("qemu-img", "info", "--output=json", "-U", str(cow)),
        ("qemu-img", "create", "-f", "qcow2", "-F", "qcow2", "-b", str(cow), overlay),
    ]
    assert actions(h) == ["define", "start", "undefine"]
    (guest,) = h.hv.guests
    assert guest.active and not guest.persistent  # runs transient: no definition left behind


def test_backingfile_start_that_fails_leaves_no_definition_behind(h, cow):
    h.runner.results["virt-copy-in"] = 1
    out = h.run("start", backingfile=str(cow), stateless="true", copyindirs="/etc/x")
    assert out.rc == GENERIC and "copyindirs failed" in out.reason, out
    assert actions(h) == ["define", "undefine"]
    assert h.hv.guests == []


def test_backingfile_keeps_an_existing_overlay_unless_stateless(h, cow):
    (h.tmp / "vm1.qcow2").write_bytes(b"QFI\xfb overlay")
    assert h.run("start", backingfile=str(cow)).rc == SUCCESS
    assert h.runner.calls == []


def test_backingfile_failure_to_create_the_overlay(h, cow):
    h.runner.results["qemu-img"] = 1
    out = h.run("start", backingfile=str(cow), stateless="true")
    assert out.rc == GENERIC, out
    assert "cannot create" in out.reason and "qemu-img" in out.reason


def test_start_of_a_config_with_another_guest_name(h):
    h.config.write_text(domain_xml("web7", None))
    assert h.run("start").rc == SUCCESS
    assert h.state().get("name") == "web7"
