from __future__ import annotations

import pytest
from havirt.agents.guest.domain_state import STATE_TABLE
from havirt.agents.libvirt.boundary import HypervisorError, HypervisorUnavailable
from havirt.ocf.exitcodes import OcfExit
from vd_fakes import OTHER_UUID, SIGKILL, SIGTERM, UUID, domain_xml

SUCCESS, GENERIC, NOT_RUNNING = OcfExit.SUCCESS, OcfExit.ERR_GENERIC, OcfExit.NOT_RUNNING
UNREACHABLE = "connect: Cannot recv data: Connection reset by peer"


def actions(h) -> list[str]:
    """What the agent asked libvirt to do (observations left out)."""
    return [c[0] for c in h.hv.calls if c[0] not in ("connect", "lookup", "state", "close")]


def test_stop_of_a_stopped_guest_succeeds_twice(h):
    for _ in range(2):
        out = h.run("stop")
        assert out.rc == SUCCESS, out
        assert out.reasons == []
    assert actions(h) == []


def test_stop_of_a_defined_but_shut_off_guest_does_nothing(h):
    h.hv.add(state=("shutoff", "shutdown"), persistent=True)
    assert h.run("stop").rc == SUCCESS
    assert actions(h) == []


@pytest.mark.parametrize(
    ("mode", "modes"), [("acpi,agent", ["acpi", "agent"]), ("", []), ("signal", ["signal"])]
)
def test_graceful_shutdown_with_the_shutdown_mode(h, mode, modes):
    h.hv.add()
    out = h.run("stop", shutdown_mode=mode)
    assert out.rc == SUCCESS, out
    assert h.hv.calls_of("shutdown") == [("shutdown", "vm1", modes)]
    assert actions(h) == ["shutdown"]
    assert h.procs.procs == {} and h.procs.kills == []
    assert h.clock.slept < 1.0


def test_force_stop_destroys_without_asking(h):
    h.hv.add()
    out = h.run("stop", force_stop="true")
    assert out.rc == SUCCESS, out
    assert actions(h) == ["destroy"]


def test_graceful_timeout_then_destroy(h):
    dom = h.hv.add()
    dom.on_shutdown = "ignore"
    out = h.run("stop", timeout=30000)
    assert out.rc == SUCCESS, out
    # the request is repeated every 5 s (one sent while the guest boots is lost)
    assert actions(h)[-1] == "destroy"
    assert set(actions(h)[:-1]) == {"shutdown"} and len(actions(h)) >= 3
    # graceful attempts end one margin (30 s / 6 = 5 s) before the deadline
    assert 24.0 <= h.clock.slept <= 26.0
    assert "did not shut down" in out.stderr


def test_refused_shutdown_destroys_at_once(h):
    dom = h.hv.add()
    dom.on_shutdown = "refuse"
    out = h.run("stop")
    assert out.rc == SUCCESS, out
    assert actions(h) == ["shutdown", "destroy"]
    assert h.clock.slept < 1.0


def test_guest_stuck_after_destroy_is_killed_by_pid(h):
    h.hv.add().on_destroy = "ignore"  # accepted, no effect
    out = h.run("stop", force_stop="true")
    assert out.rc == SUCCESS, out
    assert "still running after destroy: sending SIGKILL" in out.stderr


def test_guest_surviving_destroy_and_sigkill_fails_the_stop(h):
    h.hv.add().on_destroy = "ignore"
    for pid in list(h.procs.ignores):
        h.procs.ignores[pid] = {SIGTERM, SIGKILL}
    out = h.run("stop", force_stop="true")
    assert out.rc == GENERIC, out
    assert "survived SIGKILL" in out.reason


# -- libvirt unreachable


def test_libvirt_unreachable_and_no_qemu_is_stopped(h):
    h.hv.unavailable = UNREACHABLE
    out = h.run("stop")
    assert out.rc == SUCCESS, out
    assert h.procs.kills == []


def test_libvirt_unreachable_with_qemu_waits_then_signals_the_process(h):
    h.hv.unavailable = UNREACHABLE
    h.procs.add(4242, "vm1", UUID)
    out = h.run("stop", timeout=20000)
    assert out.rc == SUCCESS, out
    assert h.procs.kills == [(4242, SIGTERM)]
    assert h.clock.slept >= 10.0, "libvirt gets half the timeout to come back"
    assert "SIGTERM" in out.stderr


def test_libvirt_unreachable_qemu_ignoring_sigterm_gets_sigkill(h):
    h.hv.unavailable = UNREACHABLE
    h.procs.add(4242, "vm1", UUID, ignores={SIGTERM})
    out = h.run("stop", timeout=20000)
    assert out.rc == SUCCESS, out
    assert h.procs.kills == [(4242, SIGTERM), (4242, SIGKILL)]


def test_libvirt_unreachable_qemu_surviving_sigkill_fails_the_stop(h):
    h.hv.unavailable = UNREACHABLE
    h.procs.add(4242, "vm1", UUID, ignores={SIGTERM, SIGKILL})
    out = h.run("stop", timeout=20000)
    assert out.rc == GENERIC, out
    assert "survived SIGKILL" in out.reason


def test_libvirt_coming_back_during_stop_is_used(h):
    h.hv.add()
    h.hv.unavailable = UNREACHABLE

    def comes_back(hv):
        if hv.connects >= 3:
            hv.unavailable = None

    h.hv.on_connect = comes_back
    out = h.run("stop")
    assert out.rc == SUCCESS, out
    assert actions(h) == ["shutdown"]
    assert h.procs.kills == []


def test_libvirt_lost_in_the_middle_of_the_stop(h):
    dom = h.hv.add()

    def lost(_dom, _modes):
        h.hv.unavailable = UNREACHABLE
        raise HypervisorUnavailable(UNREACHABLE)

    dom.before["shutdown"] = lost
    out = h.run("stop")
    assert out.rc == SUCCESS, out
    assert h.procs.kills and h.procs.procs == {}


# -- QEMU processes libvirt no longer reports


def test_shut_off_guest_with_a_qemu_process_left_is_reaped(h):
    h.hv.add(state=("shutoff", "destroyed"), persistent=True, qemu=False)
    h.procs.add(4242, "vm1", UUID)
    out = h.run("stop")
    assert out.rc == SUCCESS, out
    assert h.procs.kills == [(4242, SIGTERM)]


def test_unknown_guest_with_a_qemu_process_left_is_reaped(h):
    """libvirt lost track of the guest, but its QEMU runs: stop must not claim success."""
    h.procs.add(4242, "vm1", UUID)
    out = h.run("stop")
    assert out.rc == SUCCESS, out
    assert h.procs.kills == [(4242, SIGTERM)]
    assert h.procs.procs == {}


def test_unknown_guest_with_an_unkillable_qemu_fails_the_stop(h):
    h.procs.add(4242, "vm1", UUID, ignores={SIGTERM, SIGKILL})
    out = h.run("stop")
    assert out.rc == GENERIC, out


def test_domain_vanishing_between_lookup_and_state_during_stop(h):
    dom = h.hv.add()

    def vanish(_dom, _modes):
        h.procs.remove_guest(dom.name, dom.uuid)
        dom.gone = True  # still returned by lookup once more, then libvirt says no domain

    dom.before["shutdown"] = vanish
    dom.on_shutdown = "ignore"
    out = h.run("stop")
    assert out.rc == SUCCESS, out


# -- stop without a (valid) configuration


def test_stop_with_missing_config_stops_the_remembered_guest(h):
    h.resource = "res-guest"
    h.remember(name="guest-a", uuid=OTHER_UUID, config=str(h.config))
    h.hv.add("guest-a", OTHER_UUID)
    h.config.unlink()
    out = h.run("stop")
    assert out.rc == SUCCESS, out
    assert h.hv.calls_of("shutdown") == [("shutdown", "guest-a", [])]
    assert h.hv.guests == [] and h.procs.procs == {}


def test_stop_with_missing_config_and_no_state_uses_the_resource_name(h):
    h.hv.add("vm1", OTHER_UUID)
    out = h.run("stop", config=h.gone_config)
    assert out.rc == SUCCESS, out
    assert h.hv.guests == []


def test_stop_with_missing_config_and_libvirt_down_kills_the_remembered_qemu(h):
    h.remember(name="vm1", uuid=UUID)
    h.hv.unavailable = UNREACHABLE
    h.procs.add(4242, "renamed", UUID)
    out = h.run("stop", config=h.gone_config)
    assert out.rc == SUCCESS, out
    assert h.procs.kills == [(4242, SIGTERM)]


@pytest.mark.parametrize(
    "reskeys",
    [
        {"migrateport": "99999"},
        {"shutdown_mode": "reboot"},
        {"force_stop": "perhaps"},
        {"hypervisor": "nonsense"},
        {"monitor_scripts": "GONE"},
    ],
)
def test_stop_with_malformed_parameters_still_stops_the_guest(h, reskeys):
    reskeys = {k: h.gone_config if v == "GONE" else v for k, v in reskeys.items()}
    h.hv.add()
    out = h.run("stop", **reskeys)
    assert out.rc == SUCCESS, out
    assert h.hv.guests == [] and h.procs.procs == {}


def test_stop_with_a_broken_config_file_uses_the_remembered_guest(h):
    h.remember(name="vm1", uuid=UUID)
    h.hv.add()
    h.config.write_text("<domain><name>vm1")
    out = h.run("stop")
    assert out.rc == SUCCESS, out
    assert h.hv.guests == []


# -- never 7


STATES = sorted({(s, "unknown" if r == "*" else r) for s, r, _, _ in STATE_TABLE})


@pytest.mark.parametrize(("state", "reason"), STATES, ids=[f"{s}-{r}" for s, r in STATES])
@pytest.mark.parametrize("force", ["false", "true"])
def test_stop_never_returns_7_and_leaves_nothing_running(h, state, reason, force):
    if state != "undefined":
        h.hv.add(state=(state, reason), persistent=state == "shutoff")
    out = h.run("stop", force_stop=force)
    assert out.rc == SUCCESS, out
    assert h.procs.procs == {}
    assert all(not d.active for d in h.hv.guests)


@pytest.mark.parametrize(
    "setup",
    ["nothing", "libvirt-down", "config-missing", "bad-param", "stuck-qemu"],
)
def test_stop_never_returns_7(h, setup):
    config = None
    if setup == "libvirt-down":
        h.hv.unavailable = UNREACHABLE
    elif setup == "config-missing":
        config = h.gone_config
    elif setup == "stuck-qemu":
        h.procs.add(4242, "vm1", UUID, ignores={SIGTERM, SIGKILL})
    out = h.run("stop", **({"config": config} if config else {}))
    assert out.rc != NOT_RUNNING
    if setup == "bad-param":
        assert h.run("stop", migrateport="0").rc == SUCCESS


# -- snapshot and saving the definition


def test_snapshot_saves_the_state_instead_of_shutting_down(h, tmp_path):
    snapdir = tmp_path / "snap"
    snapdir.mkdir()
    h.hv.add()
    out = h.run("stop", snapshot=str(snapdir))
    assert out.rc == SUCCESS, out
    assert actions(h) == ["save"]
    assert (snapdir / "vm1.state").read_text() == "saved RAM"


def test_failed_snapshot_falls_back_to_a_graceful_shutdown(h, tmp_path):
    """As the stock agent: a failed save must not turn into an immediate destroy."""
    snapdir = tmp_path / "snap"
    snapdir.mkdir()
    h.hv.add()
    h.hv.save_error = HypervisorError("save: No space left on device", 38)
    out = h.run("stop", snapshot=str(snapdir))
    assert out.rc == SUCCESS, out
    assert actions(h) == ["save", "shutdown"]
    assert "No space left" in out.stderr


def test_save_config_on_stop_writes_the_definition_back(h):
    dom = h.hv.add()
    before = h.config.read_text()
    dom.inactive_xml = domain_xml().replace("<vcpu placement='static'>2", "<vcpu>8")
    out = h.run("stop", save_config_on_stop="true")
    assert out.rc == SUCCESS, out
    assert h.config.read_text() == dom.inactive_xml
    assert (h.tmp / "vm1.xml.bak").read_text() == before
    assert not (h.tmp / "vm1.xml.havirt-new").exists()
    assert ("xml", "vm1", True) in h.hv.calls
    assert h.runner.calls == []


def test_sync_config_on_stop_runs_csync2(h):
    h.hv.add()  # csync2 is installed on the fake host (h.host.missing is empty)
    out = h.run("stop", sync_config_on_stop="true")
    assert out.rc == SUCCESS, out
    assert h.runner.calls == [("csync2", "-x", str(h.config))]
