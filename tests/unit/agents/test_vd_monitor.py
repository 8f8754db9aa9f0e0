from __future__ import annotations

import os

import pytest
from havirt.agents.guest.domain_state import STATE_TABLE, STOPPED
from havirt.agents.libvirt.boundary import HypervisorError
from havirt.agents.virtual_domain import GuestHost
from havirt.ocf.exitcodes import OcfExit
from vd_fakes import OTHER_UUID, UUID

SUCCESS, GENERIC, NOT_RUNNING = OcfExit.SUCCESS, OcfExit.ERR_GENERIC, OcfExit.NOT_RUNNING
UNREACHABLE = "connect: Failed to connect socket to '/run/libvirt/libvirt-sock': No such file"


@pytest.fixture(params=["monitor", "probe"])
def monitor(request, h):
    """Both a recurring monitor and a probe: the safety rules hold for each."""
    if request.param == "probe":
        return h.probe
    return lambda **kw: h.run("monitor", **kw)


def test_running_guest(h, monitor):
    h.hv.add()
    out = monitor()
    assert out.rc == SUCCESS, out
    assert out.reasons == []
    assert h.state().get("name") == "vm1" and h.state().get("uuid") == UUID
    assert h.state().get("config") == str(h.config)


def test_monitor_keeps_time_back_from_libvirt_for_the_proc_fallback(h, monitor):
    h.hv.add()
    assert monitor().rc == SUCCESS
    assert h.reserves and all(r >= 2.0 for r in h.reserves)


def test_lookup_uses_the_uuid_of_the_config(h):
    h.hv.add("vm1-renamed", UUID)
    assert h.run("monitor").rc == SUCCESS
    assert h.hv.calls[0] == ("lookup", "vm1", UUID)


def test_paused_after_an_io_error_is_a_failure_with_reason(h, monitor):
    h.hv.add(state=("paused", "ioerror"))
    out = monitor()
    assert out.rc == GENERIC, out
    assert "vm1" in out.reason and "I/O error" in out.reason


def test_crashed_guest_is_a_failure(h, monitor):
    h.hv.add(state=("crashed", "panicked"))
    out = monitor()
    assert out.rc == GENERIC, out
    assert "crashed" in out.reason


def test_shut_off_guest_is_not_running(h, monitor):
    h.hv.add(state=("shutoff", "shutdown"), persistent=True)
    out = monitor()
    assert out.rc == NOT_RUNNING, out


def test_unknown_guest_without_qemu_is_not_running(h, monitor):
    out = monitor()
    assert out.rc == NOT_RUNNING, out


@pytest.mark.parametrize("known", ["undefined", "shutoff"])
def test_qemu_process_without_a_running_domain_is_never_not_running(h, monitor, known):
    if known == "shutoff":
        h.hv.add(state=("shutoff", "destroyed"), persistent=True, qemu=False)
    h.procs.add(4242, "vm1", UUID)
    out = monitor()
    assert out.rc == GENERIC, out
    assert "4242" in out.reason


def test_probe_with_libvirt_down_reads_a_proc_tree(h, tmp_path):
    """The agent and the real /proc scan together, on a fake /proc."""
    proc = tmp_path / "proc"
    (proc / "777").mkdir(parents=True)
    (proc / "777" / "cmdline").write_bytes(
        b"/usr/bin/qemu-system-x86_64\0-name\0guest=vm1,debug-threads=on\0-uuid\0"
        + UUID.upper().encode()
        + b"\0"
    )
    h.host.qemu_processes = GuestHost(proc=str(proc)).qemu_processes
    h.hv.unavailable = UNREACHABLE
    out = h.probe()
    assert out.rc == SUCCESS, out
    assert "QEMU process 777" in out.stderr
    (proc / "777" / "cmdline").write_bytes(b"")  # now a zombie
    assert h.probe().rc == NOT_RUNNING


def test_qemu_process_found_by_uuid_only(h, monitor):
    h.procs.add(4242, "other-name", UUID)
    assert monitor().rc == GENERIC


def test_libvirt_unreachable_with_qemu_running_is_running_with_a_warning(h, monitor):
    h.hv.unavailable = UNREACHABLE
    h.procs.add(4242, "vm1", UUID)
    out = monitor()
    assert out.rc == SUCCESS, out
    assert "WARNING" in out.stderr and "4242" in out.stderr and "unreachable" in out.stderr


def test_libvirt_unreachable_without_qemu_is_not_running(h, monitor):
    h.hv.unavailable = UNREACHABLE
    out = monitor()
    assert out.rc == NOT_RUNNING, out
    if out.reason is not None:  # recurring monitors say why; probes finding nothing do not
        assert "unreachable" in out.reason


@pytest.mark.parametrize(("state", "reason", "outcome"), [row[:3] for row in STATE_TABLE])
def test_no_state_with_a_qemu_process_is_ever_not_running(h, monitor, state, reason, outcome):
    if state != "undefined":
        h.hv.add(state=(state, "x" if reason == "*" else reason), qemu=True, persistent=True)
    else:
        h.procs.add(4242, "vm1", UUID)
    assert monitor().rc != NOT_RUNNING
    if outcome != STOPPED:
        assert monitor().rc == (SUCCESS if outcome == "running" else GENERIC)


def test_domain_vanishing_between_lookup_and_state_is_not_an_internal_error(h, monitor):
    """A transient guest that just shut down: libvirt answers 'no domain' to state()."""
    dom = h.hv.add(qemu=False)
    dom.gone = True
    out = monitor()
    assert out.rc == NOT_RUNNING, out


def test_domain_vanishing_with_qemu_left_is_not_not_running(h, monitor):
    dom = h.hv.add()
    dom.gone = True
    out = monitor()
    assert out.rc == GENERIC, out


# -- probes with a missing configuration


def test_probe_with_missing_config_finds_the_guest_by_the_remembered_identity(h):
    h.resource = "res-guest"
    h.remember(name="guest-a", uuid=OTHER_UUID, config=str(h.config))
    h.hv.add("guest-a", OTHER_UUID)
    h.config.unlink()
    out = h.probe()
    assert out.rc == SUCCESS, out
    assert ("lookup", "guest-a", OTHER_UUID) in h.hv.calls


def test_probe_with_missing_config_falls_back_to_the_resource_name(h):
    h.hv.add("vm1", OTHER_UUID)
    out = h.probe(config=h.gone_config)
    assert out.rc == SUCCESS, out
    assert ("lookup", "vm1", None) in h.hv.calls


def test_probe_with_missing_config_and_nothing_running_is_not_running(h):
    h.resource = "res-guest"
    h.remember(name="guest-a", uuid=OTHER_UUID)
    h.hv.add("vm1", UUID)  # another guest: not ours
    out = h.probe(config=h.gone_config)
    assert out.rc == NOT_RUNNING, out


def test_probe_with_missing_config_and_libvirt_down_still_sees_qemu(h):
    h.remember(name="vm1", uuid=UUID)
    h.hv.unavailable = UNREACHABLE
    h.procs.add(4242, "vm1", UUID)
    out = h.probe(config=h.gone_config)
    assert out.rc == SUCCESS, out


def test_probe_with_missing_config_and_a_failed_guest_reports_the_failure(h):
    h.hv.add(state=("paused", "ioerror"))
    out = h.probe(config=h.gone_config)
    assert out.rc == GENERIC, out
    assert "does not exist" in out.reason and "I/O error" in out.reason


def test_probe_with_a_malformed_parameter_tells_the_truth(h):
    h.hv.add()
    assert h.probe(migrateport="99999").rc == SUCCESS
    h.hv.guests.clear()
    h.procs.procs.clear()
    assert h.probe(migrateport="99999").rc == NOT_RUNNING


def test_recurring_monitor_with_missing_config_keeps_a_running_guest(h):
    h.hv.add()
    h.config.unlink()
    out = h.run("monitor")
    assert out.rc == SUCCESS, out
    assert "does not exist" in out.stderr  # warned, not silent


def test_recurring_monitor_with_missing_config_and_no_guest_is_err_installed(h):
    h.config.unlink()
    out = h.run("monitor")
    assert out.rc == OcfExit.ERR_INSTALLED, out
    assert "does not exist" in out.reason


# -- a config file broken for a while (an editor saving, a half-copied file)
#    never stops a running guest; start and validate-all still refuse it.


def _garbage(path):
    path.write_bytes(b"\x00garbage<<not xml")


def _truncated(path):
    path.write_text(path.read_text()[:40])


def _other_root(path):
    path.write_text("<network><name>vm1</name></network>")


def _no_name(path):
    path.write_text("<domain type='kvm'></domain>")


def _not_utf8(path):
    path.write_bytes(path.read_bytes() + b"\xff\xfe")


def _fifo(path):
    path.unlink()
    os.mkfifo(path)  # no writer: reading it would block forever


def _directory(path):
    path.unlink()
    path.mkdir()


def _huge(path):
    with path.open("r+b") as handle:
        handle.truncate(64 << 20)  # sparse: 64 MiB of NULs after the XML


BROKEN = [_garbage, _truncated, _other_root, _no_name, _not_utf8, _fifo, _directory, _huge]


@pytest.mark.parametrize("breakage", BROKEN, ids=lambda f: f.__name__.strip("_"))
def test_broken_config_keeps_a_running_guest_with_a_warning(h, monitor, breakage):
    h.hv.add()
    assert monitor().rc == SUCCESS  # remembered: vm1 with its UUID
    breakage(h.config)
    out = monitor()
    assert out.rc == SUCCESS, out
    assert "keeps running" in out.stderr and str(h.config) in out.stderr, out


@pytest.mark.parametrize("breakage", BROKEN, ids=lambda f: f.__name__.strip("_"))
def test_broken_config_without_a_guest_is_an_error_naming_the_file(h, breakage):
    breakage(h.config)
    out = h.run("monitor")
    assert out.rc in (OcfExit.ERR_CONFIGURED, OcfExit.ERR_INSTALLED), out
    assert str(h.config) in out.reason
    assert h.run("start").rc in (OcfExit.ERR_CONFIGURED, OcfExit.ERR_INSTALLED)


def test_broken_config_is_refused_by_start_and_validate_all(h):
    h.hv.add()
    _garbage(h.config)
    for action in ("start", "validate-all"):
        out = h.run(action)
        assert out.rc == OcfExit.ERR_CONFIGURED, (action, out)
        assert "not valid XML" in out.reason


def test_config_naming_another_domain_keeps_the_started_guest(h, monitor):
    h.hv.add()
    assert monitor().rc == SUCCESS
    h.config.write_text(h.config.read_text().replace("vm1", "vm2").replace(UUID, OTHER_UUID))
    out = monitor()
    assert out.rc == SUCCESS, out
    assert "names vm2" in out.stderr and "runs vm1" in out.stderr


def test_config_naming_another_domain_with_nothing_running_is_not_running(h):
    h.hv.add()
    assert h.run("monitor").rc == SUCCESS
    h.hv.guests.clear()
    h.procs.procs.clear()
    h.config.write_text(h.config.read_text().replace("vm1", "vm2").replace(UUID, OTHER_UUID))
    assert h.run("monitor").rc == NOT_RUNNING


def test_a_huge_exit_reason_is_one_short_printable_line(h):
    out = h.run("monitor", config=f"{h.config.parent}/" + "\x01x" * 100_000 + ".xml")
    line = next(line for line in out.stderr.splitlines() if line.startswith("ocf-exit-reason:"))
    assert len(line) <= 600 and line.isprintable()


# -- deep checks


def script(tmp_path, name: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(path, 0o755)
    return str(path)


def test_failing_monitor_script_fails_the_monitor(h, tmp_path):
    h.hv.add()
    good, bad = script(tmp_path, "good"), script(tmp_path, "bad")
    h.runner.results[bad] = 3
    out = h.run("monitor", monitor_scripts=f"{good} {bad}")
    assert out.rc == GENERIC, out
    assert "monitor script failed" in out.reason and bad in out.reason
    assert h.runner.calls == [(good,), (bad,)]


def test_passing_monitor_scripts(h, tmp_path):
    h.hv.add()
    good = script(tmp_path, "good")
    assert h.run("monitor", monitor_scripts=good).rc == SUCCESS
    assert h.runner.calls == [(good,)]


def test_probe_does_not_run_monitor_scripts(h, tmp_path):
    h.hv.add()
    bad = script(tmp_path, "bad")
    h.runner.results[bad] = 1
    assert h.probe(monitor_scripts=bad).rc == SUCCESS
    assert h.runner.calls == []


def test_depth_10_pings_the_guest_agent(h):
    dom = h.hv.add()
    assert h.run("monitor", extra={"OCF_CHECK_LEVEL": "10"}).rc == SUCCESS
    assert h.hv.calls_of("agent_ping")
    dom.ping_error = HypervisorError("guest-ping: Guest agent is not responding", 86)
    out = h.run("monitor", extra={"OCF_CHECK_LEVEL": "10"})
    assert out.rc == GENERIC, out
    assert "guest agent" in out.reason and "not responding" in out.reason


def test_depth_0_does_not_ping_the_guest_agent(h):
    dom = h.hv.add()
    dom.ping_error = HypervisorError("guest-ping: Guest agent is not responding", 86)
    assert h.run("monitor").rc == SUCCESS
    assert not h.hv.calls_of("agent_ping")


# -- utilization


def crm_resource_calls(h) -> list[tuple[str, ...]]:
    return [c for c in h.runner.calls if c[0] == "crm_resource"]


def test_utilization_is_written_only_when_it_changes(h):
    dom = h.hv.add()
    keys = {"autoset_utilization_cpu": "true", "autoset_utilization_hv_memory": "true"}
    assert h.run("monitor", **keys).rc == SUCCESS
    assert sorted(crm_resource_calls(h)) == [
        (
            "crm_resource",
            "--resource",
            "vm1",
            "--utilization",
            "--set-parameter",
            "cpu",
            "--parameter-value",
            "2",
        ),
        (
            "crm_resource",
            "--resource",
            "vm1",
            "--utilization",
            "--set-parameter",
            "hv_memory",
            "--parameter-value",
            "1024",
        ),
    ]
    h.runner.calls.clear()
    assert h.run("monitor", **keys).rc == SUCCESS
    assert crm_resource_calls(h) == [], "an unchanged size must not touch the CIB"
    dom.vcpus = 4
    assert h.run("monitor", **keys).rc == SUCCESS
    assert crm_resource_calls(h) == [
        (
            "crm_resource",
            "--resource",
            "vm1",
            "--utilization",
            "--set-parameter",
            "cpu",
            "--parameter-value",
            "4",
        )
    ]


def test_utilization_off_by_default(h):
    h.hv.add()
    assert h.run("monitor").rc == SUCCESS
    assert crm_resource_calls(h) == []
    assert not h.hv.calls_of("vcpus_and_memory")


def test_unset_utilization_deletes_once(h):
    h.hv.add()
    h.runner.results["crm_resource"] = 105  # not there: fine for a delete
    assert h.run("monitor", unset_utilization_cpu="true").rc == SUCCESS
    assert crm_resource_calls(h) == [
        ("crm_resource", "--resource", "vm1", "--utilization", "--delete-parameter", "cpu")
    ]
    h.runner.calls.clear()
    assert h.run("monitor", unset_utilization_cpu="true").rc == SUCCESS
    assert crm_resource_calls(h) == []


def test_failing_crm_resource_warns_but_does_not_fail_and_retries(h):
    h.hv.add()
    h.runner.results["crm_resource"] = 1
    out = h.run("monitor", autoset_utilization_cpu="true")
    assert out.rc == SUCCESS, out
    assert "utilization cpu" in out.stderr
    h.runner.results["crm_resource"] = 0
    h.runner.calls.clear()
    assert h.run("monitor", autoset_utilization_cpu="true").rc == SUCCESS
    assert len(crm_resource_calls(h)) == 1


def test_status_is_monitor(h):
    h.hv.add()
    assert h.run("status", interval=10000).rc == SUCCESS
    h.hv.guests.clear()
    h.procs.procs.clear()
    assert h.run("status", interval=10000).rc == NOT_RUNNING
