from __future__ import annotations

import pytest
from havirt.agents import virtual_domain as vd_module
from havirt.agents.guest.migration import migration_budget
from havirt.agents.guest.migration_run import MIGRATION_SPEED_UNLIMITED, PROGRESS_POLL, MigrationRun
from havirt.agents.libvirt.boundary import (
    MIGRATE_FLAG_NAMES,
    OPERATION_INVALID,
    HypervisorError,
    HypervisorTimeout,
)
from havirt.ocf.exitcodes import OcfExit
from vd_fakes import UUID, FakeHypervisor, FakeProcs, node_libvirt

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
    # No limit: one left by an earlier migration_speed (libvirt keeps it) is lifted.
    assert h.hv.calls_of("set_migration_speed") == [
        ("set_migration_speed", "vm1", MIGRATION_SPEED_UNLIMITED)
    ]
    assert not h.hv.calls_of("set_migration_downtime")


def test_lifting_the_speed_limit_may_fail_harmlessly(h):
    dom = h.hv.add()
    dom.speed_error = HypervisorError("migrateSetMaxSpeed: unsupported", code=3)
    assert migrate_to(h).rc == SUCCESS


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


# -- the deadline of migrate_to (all on the fake clock)

SHORT = 8000  # ms: the lab test's timeout; abort at 2 s, settle by 4.5 s, answer by 5.5 s
PLAN = migration_budget(8.0)


def migrate_slowly(h, **kwargs):
    """migrate_to with an 8 s timeout; returns (outcome, the clock at its start)."""
    start = h.clock.now
    out = h.run("migrate_to", timeout=SHORT, extra=TARGET, **kwargs)
    return out, start


def test_a_migration_running_into_the_deadline_is_aborted_on_time(h):
    dom = h.hv.add()
    dom.migration_takes = None  # never ends on its own
    out, start = migrate_slowly(h)
    assert out.rc == GENERIC, out
    assert "was aborted at the timeout; the guest still runs on this node" in out.reason
    assert dom.abort_times == [pytest.approx(start + PLAN.abort_at)]  # not a poll later
    assert h.hv.calls_of("abort_job") == [("abort_job", "vm1", PLAN.abort_call)]
    assert "aborting the migration, the timeout is near" in out.stderr
    assert "migration job aborted" in out.stderr
    assert max(dom.job.waits) <= PROGRESS_POLL
    assert h.clock.now - start <= PLAN.answer_by  # answered before the watchdog


def test_a_slow_progress_query_does_not_delay_the_abort(h):
    dom = h.hv.add()
    dom.migration_takes = None
    dom.progress_takes = 30.0  # jobStats hangs: each query is cut off at the abort time
    out, start = migrate_slowly(h)
    assert out.rc == GENERIC, out
    assert dom.abort_times == [pytest.approx(start + PLAN.abort_at)]
    limits = [c[2] for c in h.hv.calls_of("job_progress")]
    assert limits and all(limit <= PLAN.abort_at for limit in limits)


def test_a_hung_abort_still_gets_an_answer_before_the_watchdog(h):
    dom = h.hv.add()
    dom.migration_takes = None
    dom.abort_hangs = True
    out, start = migrate_slowly(h)
    assert out.rc == GENERIC, out
    assert "was aborted at the timeout" in out.reason
    assert "abort failed" in out.stderr and "did not answer 'abortJob'" in out.stderr
    assert "libvirt had not ended the aborted migration job yet" in out.stderr
    assert h.clock.now - start <= PLAN.answer_by


def test_an_aborted_job_libvirt_never_ends_still_gets_an_answer(h):
    dom = h.hv.add()
    dom.migration_takes = None
    dom.abort_takes = None
    out, start = migrate_slowly(h)
    assert out.rc == GENERIC, out
    assert "the guest still runs on this node" in out.reason
    assert h.clock.now - start <= PLAN.answer_by
    # waiting stopped at settle_by; the state check had the rest
    assert start + PLAN.settle_by == pytest.approx(h.clock.now)


def no_job_yet(dom, times: int):
    """abortJob finds no job the first ``times`` calls (the migrate call has not begun
    libvirt's job yet), then aborts it."""
    calls = []

    def no_job(_dom, seconds):
        calls.append(seconds)
        if len(calls) <= times:
            raise HypervisorError(
                "abortJob: Requested operation is not valid: no job is active on the domain",
                OPERATION_INVALID,
            )

    dom.before["abort_job"] = no_job
    return calls


def test_an_abort_before_libvirt_has_the_job_is_tried_again(h):
    dom = h.hv.add()
    dom.migration_takes = None
    no_job_yet(dom, times=2)
    out, start = migrate_slowly(h)
    assert out.rc == GENERIC, out
    assert "the guest still runs on this node" in out.reason
    assert len(h.hv.calls_of("abort_job")) == 3
    assert dom.job.aborted and dom.job.finished  # the third abort landed
    assert h.clock.now - start <= PLAN.answer_by


def test_a_migration_that_ends_in_time_is_not_aborted(h):
    dom = h.hv.add()
    dom.migration_takes = PLAN.abort_at - 0.3
    out, _start = migrate_slowly(h)
    assert out.rc == SUCCESS, out
    assert not h.hv.calls_of("abort_job")


def test_a_migration_that_completed_as_the_abort_came_is_a_success(h):
    dom = h.hv.add()
    dom.migration_takes = None
    dom.abort_hangs = True

    def completes(_dom, seconds):  # libvirt finished the migration while abortJob hung
        dom.job.ends_at = h.clock.now
        dom.job.abort_takes = None
        raise HypervisorTimeout("libvirt did not answer 'abortJob' within 1.2s")

    dom.before["abort_job"] = completes
    out, _start = migrate_slowly(h)
    assert out.rc == SUCCESS, out


def test_migrate_to_calls_end_by_the_time_the_agent_answers(h):
    h.hv.add()
    migrate_slowly(h)
    # every libvirt call of migrate_to ends 2.5 s before the timeout: watchdog margin + reserve
    assert h.reserves == [pytest.approx(PLAN.answer_margin + PLAN.watchdog_abort)]


def test_the_watchdog_reserve_of_migrate_to():
    agent = vd_module.VirtualDomain()
    assert agent.timeout_reserve("migrate_to", 8.0) == PLAN.watchdog_abort
    assert agent.timeout_reserve("migrate_to", 120.0) == migration_budget(120.0).watchdog_abort
    assert agent.timeout_reserve("stop", 120.0) == 0.0


class StuckOwnAbort(vd_module.VirtualDomain):
    """The agent's own abort never returns: the watchdog fires and runs ctx.on_timeout
    (played here by calling it where the agent is stuck)."""

    said: list[str] = []

    def _abort_migration(self, ctx, dom, seconds):
        StuckOwnAbort.said.append(ctx.on_timeout(1.25))
        raise SystemExit  # the watchdog's os._exit: the agent never answers


def run_stuck(h):
    StuckOwnAbort.said = []
    return h.run("migrate_to", timeout=SHORT, extra=TARGET, agent=StuckOwnAbort())


def test_the_watchdog_aborts_the_migration_job_first(h):
    dom = h.hv.add()
    dom.migration_takes = None
    dom.abort_takes = 0.5
    with pytest.raises(SystemExit):
        run_stuck(h)
    assert StuckOwnAbort.said == ["migration job aborted by the watchdog; the job ended"]
    assert h.hv.calls_of("abort_job") == [("abort_job", "vm1", 1.25)]  # bounded
    assert dom.job.finished and dom.job.aborted
    assert dom.active and h.procs.find("vm1")  # the guest still runs here


def test_the_watchdog_says_when_libvirt_is_still_ending_the_job(h):
    dom = h.hv.add()
    dom.migration_takes = None
    dom.abort_takes = 5.0
    with pytest.raises(SystemExit):
        run_stuck(h)
    assert StuckOwnAbort.said == [
        "migration job aborted by the watchdog; libvirt is still ending the job"
    ]


def test_the_watchdog_says_when_the_abort_failed(h):
    dom = h.hv.add()
    dom.migration_takes = None
    dom.abort_hangs = True
    with pytest.raises(SystemExit):
        run_stuck(h)
    (said,) = StuckOwnAbort.said
    assert said.startswith("aborting the migration job failed:")
    assert "did not answer 'abortJob' within 1.2s" in said


def test_the_watchdog_tries_again_while_libvirt_has_no_job_yet(h):
    dom = h.hv.add()
    dom.migration_takes = None
    dom.abort_takes = 0.2
    no_job_yet(dom, times=2)
    with pytest.raises(SystemExit):
        run_stuck(h)
    assert StuckOwnAbort.said == ["migration job aborted by the watchdog; the job ended"]
    assert dom.job.aborted


def test_the_watchdog_says_when_libvirt_never_had_a_job(h):
    dom = h.hv.add()
    dom.migration_takes = None
    no_job_yet(dom, times=100)
    with pytest.raises(SystemExit):
        run_stuck(h)
    (said,) = StuckOwnAbort.said
    assert said.startswith("libvirt had no migration job to abort:")
    assert "no job is active" in said


def test_the_watchdog_finds_a_job_already_ended(h):
    dom = h.hv.add()
    dom.migration_takes = None
    said: list[str] = []

    class LateRun(MigrationRun):
        def _migration_outcome(self, ctx, dom, job, aborted, plan):
            said.append(ctx.on_timeout(1.0))  # the watchdog fires as the agent answers
            return super()._migration_outcome(ctx, dom, job, aborted, plan)

    class Late(vd_module.VirtualDomain):
        def _migration_run(self):
            return LateRun(self._abort_migration)

    out = h.run("migrate_to", timeout=SHORT, extra=TARGET, agent=Late())
    assert out.rc == GENERIC, out
    assert said == ["the migration job had already ended"]
    assert len(h.hv.calls_of("abort_job")) == 1  # only the agent's own


def test_no_watchdog_step_is_left_behind_after_migrate_to(h):
    h.hv.add()
    seen = []

    class Watching(vd_module.VirtualDomain):
        def migrate_to(self, ctx):
            try:
                return super().migrate_to(ctx)
            finally:
                seen.append(ctx.on_timeout)

    assert h.run("migrate_to", timeout=SHORT, extra=TARGET, agent=Watching()).rc == SUCCESS
    assert seen == [None]


# -- migrate_from


@pytest.fixture
def source(h) -> FakeHypervisor:
    """The libvirt of the migration source, reached by verify_gone_from_source
    (agents/guest/migrate.py)."""
    hv = node_libvirt(FakeProcs())
    h.remotes["node1"] = hv
    return hv


def test_migrate_from_checks_the_source_has_no_copy_left(h, source):
    h.hv.add()
    out = h.run("migrate_from", extra=SOURCE, migration_transport="ssh")
    assert out.rc == SUCCESS, out
    assert h.remote_uris == ["qemu+ssh://node1/system"]
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
