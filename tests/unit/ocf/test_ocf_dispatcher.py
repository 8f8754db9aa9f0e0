from __future__ import annotations

import io
import syslog
import threading
import time

import pytest
from fence_toy import FakeClock
from havirt.ocf import dispatcher
from havirt.ocf.agent import ActionContext
from havirt.ocf.agent_env import AgentEnv
from havirt.ocf.errors import OcfError, configured, generic, installed
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.runner import CommandRunner
from lxml import etree
from ocf_toy import REASON_PREFIX, ToyAgent, base_env, invoke

PROBE = {"OCF_RESKEY_CRM_meta_interval": "0"}
RECURRING = {"OCF_RESKEY_CRM_meta_interval": "10000"}
INVALID = {"OCF_RESKEY_count": "3"}  # odd: rejected by the parameter's check
UNSET = {"OCF_RESKEY_config": None}  # required parameter missing


def env(**overrides: str | None) -> dict[str, str]:
    return base_env(**overrides)


def no_failure_output(outcome) -> None:
    assert outcome.reasons == []


# -- meta-data and usage


def test_meta_data_without_any_environment(toy):
    out = invoke(toy, "meta-data", env={})
    assert out.rc == 0
    assert out.stderr == ""
    root = etree.fromstring(out.stdout.encode())
    assert root.get("name") == "toy"
    assert toy.calls == []  # neither validate nor any handler ran


def test_meta_data_ignores_invalid_parameters(toy):
    out = invoke(toy, "meta-data", env=env(**UNSET, **INVALID))
    assert out.rc == 0
    assert out.stdout.startswith("<?xml")


def test_meta_data_is_rendered_in_the_agents_declared_ocf_version(toy):
    # Pacemaker announces 1.1, but ocf-tester/crm_resource output must stay 1.0.
    out = invoke(toy, "meta-data", env=env(OCF_RA_VERSION_MINOR="1"))
    assert "<version>1.0</version>" in out.stdout

    class Toy11(ToyAgent):
        metadata_ocf_version = (1, 1)

    out = invoke(Toy11(), "meta-data", env={})
    assert "<version>1.1</version>" in out.stdout
    assert 'name="reload-agent"' in out.stdout


def test_meta_data_with_extra_arguments_still_works(toy):
    assert invoke(toy, "meta-data", "extra", env={}).rc == 0


@pytest.mark.parametrize("word", ["usage", "help", "--help", "-h"])
def test_usage(toy, word):
    out = invoke(toy, word, env={})
    assert out.rc == 0
    assert out.stdout.startswith("usage: toy {start|stop|monitor|")
    assert "validate-all" in out.stdout
    assert out.stderr == ""
    assert toy.calls == []


# -- argument errors


def test_no_action_is_err_args(toy):
    out = invoke(toy)
    assert out.rc == OcfExit.ERR_ARGS
    assert "usage: toy" in out.stderr
    assert "exactly one action" in out.reason
    assert toy.calls == []


def test_two_actions_is_err_args(toy):
    out = invoke(toy, "start", "stop")
    assert out.rc == OcfExit.ERR_ARGS
    assert out.reason
    assert toy.calls == []


@pytest.mark.parametrize("action", ["frobnicate", "promote", "", "__init__", "validate"])
def test_unknown_action_is_unimplemented(toy, action):
    out = invoke(toy, action)
    assert out.rc == OcfExit.ERR_UNIMPLEMENTED
    assert f"'{action}'" in out.reason
    assert toy.calls == []


def test_advertised_action_without_handler_is_unimplemented(toy):
    out = invoke(toy, "notify")
    assert out.rc == OcfExit.ERR_UNIMPLEMENTED
    assert "notify" in out.reason


def test_handler_without_advertised_action_is_unimplemented():
    class Hidden(ToyAgent):
        def promote(self, ctx):
            raise AssertionError("must not run: promote is not advertised")

    assert invoke(Hidden(), "promote").rc == OcfExit.ERR_UNIMPLEMENTED


# -- the happy paths


def test_start_success_gets_typed_params_and_context(toy):
    runner = CommandRunner({})
    out = invoke(
        toy, "start", env=env(OCF_RESKEY_count="8", OCF_RESKEY_verbose="yes"), runner=runner
    )
    assert out.rc == 0
    no_failure_output(out)
    assert toy.called == ["validate", "start"]
    ctx: ActionContext = toy.calls[-1][1]
    assert ctx.params.config == "/etc/toy.conf"
    assert ctx.params.count == 8
    assert ctx.params.verbose is True
    assert ctx.params.mode == "safe"
    assert ctx.env.action == "start"
    assert ctx.env.resource == "toy1"
    assert ctx.runner is runner


def test_default_runner_uses_the_given_environment(toy):
    invoke(toy, "start", env=env(HAVIRT_MARK="x"))
    runner = toy.calls[-1][1].runner
    assert isinstance(runner, CommandRunner)
    assert runner.env["HAVIRT_MARK"] == "x"
    assert runner.env["LC_ALL"] == "C"


def test_the_agent_gets_its_world_built_from_its_env_class(toy):
    host = FakeClock()
    invoke(toy, "start", env=env(HA_RSCTMP="/tmp/rsc-of-this-test"), host=host)
    world = toy.calls[-1][1].agent_env
    assert type(world) is AgentEnv
    assert world.host is host and toy.calls[-1][1].host is host
    assert world.state_dir == "/tmp/rsc-of-this-test"
    assert world.runner is toy.calls[-1][1].runner


def test_a_world_handed_in_is_the_one_the_agent_gets(toy):
    clock = FakeClock()
    world = AgentEnv(clock, CommandRunner({}), "/nowhere")
    out = io.StringIO()
    rc = dispatcher.run(
        toy, ["toy", "start"], environ=env(), stdout=out, stderr=out, agent_env=world
    )
    assert rc == 0
    ctx = toy.calls[-1][1]
    assert ctx.agent_env is world and ctx.host is clock and ctx.runner is world.runner
    assert ctx.deadline.remaining() == 20.0  # measured on the world's clock


class SyslogHost(FakeClock):
    """A fake host with a syslog, which records what it is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple] = []

    def openlog(self, ident: str, facility: int) -> None:
        self.sent.append(("openlog", ident, facility))

    def syslog(self, priority: int, message: str) -> None:
        self.sent.append(("syslog", priority, message))


def test_the_log_goes_to_the_hosts_syslog_and_the_given_stderr():
    toy = ToyAgent({"start": generic("disk full: free some space")})
    host = SyslogHost()
    out = invoke(toy, "start", env=env(HA_LOGFACILITY="local3"), host=host)
    assert host.sent == [
        ("openlog", "toy(toy1)", syslog.LOG_LOCAL3),
        ("syslog", syslog.LOG_ERR, "ERROR: disk full: free some space"),
    ]
    assert "ERROR: disk full" not in out.stderr  # syslog in use: stderr has the reason only
    assert invoke(toy, "start", env=env(HA_LOGFACILITY="none")).stderr.startswith(
        "ERROR: disk full: free some space\n"
    )


def test_status_is_monitor(toy):
    out = invoke(toy, "status", env=env(**RECURRING))
    assert out.rc == 0
    assert toy.called == ["validate", "monitor"]


def test_reload_and_reload_agent_share_the_handler(toy):
    assert invoke(toy, "reload-agent").rc == 0
    assert invoke(toy, "reload").rc == 0
    assert toy.called.count("reload_agent") == 2


def test_running_promoted_is_not_a_failure():
    toy = ToyAgent({"monitor": OcfExit.RUNNING_PROMOTED})
    out = invoke(toy, "monitor", env=env(**RECURRING))
    assert out.rc == OcfExit.RUNNING_PROMOTED
    no_failure_output(out)


def test_failed_promoted_is_a_failure_with_reason():
    toy = ToyAgent({"monitor": OcfExit.FAILED_PROMOTED})
    out = invoke(toy, "monitor", env=env(**RECURRING))
    assert out.rc == OcfExit.FAILED_PROMOTED
    assert "FAILED_PROMOTED" in out.reason


# -- validate-all


def test_validate_all_without_handler_succeeds(toy):
    out = invoke(toy, "validate-all")
    assert out.rc == 0
    no_failure_output(out)
    assert toy.called == ["validate"]


def test_validate_all_reports_invalid_config(toy):
    out = invoke(toy, "validate-all", env=env(**INVALID))
    assert out.rc == OcfExit.ERR_CONFIGURED
    assert "'count'" in out.reason


def test_validate_all_warns_about_unknown_parameters_only(toy):
    out = invoke(toy, "validate-all", env=env(OCF_RESKEY_confg="/typo"))
    assert out.rc == 0
    warnings = [line for line in out.stderr.splitlines() if line.startswith("WARNING:")]
    assert len(warnings) == 1
    assert "confg" in warnings[0]
    # Pacemaker's own OCF_RESKEY_crm_feature_set is not "unknown"
    assert "crm_feature_set" not in out.stderr


def test_validate_all_runs_a_handler_when_there_is_one():
    class WithHandler(ToyAgent):
        def validate_all(self, ctx):
            return self._act("validate_all", ctx)

    toy = WithHandler({"validate_all": installed("qemu-img is missing: install qemu-utils")})
    out = invoke(toy, "validate-all")
    assert out.rc == OcfExit.ERR_INSTALLED
    assert out.reason == "qemu-img is missing: install qemu-utils"


# -- invalid configuration


@pytest.mark.parametrize("bad", [INVALID, UNSET], ids=["invalid", "unset"])
def test_stop_with_invalid_config_succeeds_through_the_hook(toy, bad):
    out = invoke(toy, "stop", env=env(**bad))
    assert out.rc == 0
    no_failure_output(out)
    assert [hook for hook, _ in toy.hook_calls] == ["stop_unconfigured"]
    assert "stop" not in toy.called  # the real stop never runs without a config


def test_stop_with_invalid_config_can_report_a_running_copy():
    toy = ToyAgent({"stop_unconfigured": generic("a copy is still running; stop it by hand")})
    out = invoke(toy, "stop", env=env(**INVALID))
    assert out.rc == OcfExit.ERR_GENERIC
    assert out.reason == "a copy is still running; stop it by hand"


def test_stop_hook_answering_not_running_is_success():
    toy = ToyAgent({"stop_unconfigured": OcfExit.NOT_RUNNING})
    assert invoke(toy, "stop", env=env(**INVALID)).rc == 0


@pytest.mark.parametrize("bad", [INVALID, UNSET], ids=["invalid", "unset"])
def test_probe_with_invalid_config_goes_through_the_hook(toy, bad):
    out = invoke(toy, "monitor", env=env(**PROBE, **bad))
    assert out.rc == OcfExit.NOT_RUNNING
    no_failure_output(out)
    assert [hook for hook, _ in toy.hook_calls] == ["probe_unconfigured"]
    assert "monitor" not in toy.called
    # a probe of an unconfigured resource is routine, not an error in the logs
    assert "ERROR" not in out.stderr


def test_probe_hook_can_find_a_running_copy():
    toy = ToyAgent({"probe_unconfigured": OcfExit.SUCCESS})
    assert invoke(toy, "monitor", env=env(**PROBE, **INVALID)).rc == 0


def test_probe_hook_failure_has_one_reason():
    toy = ToyAgent({"probe_unconfigured": configured("config file unreadable: fix its mode")})
    out = invoke(toy, "monitor", env=env(**PROBE, **INVALID))
    assert out.rc == OcfExit.ERR_CONFIGURED
    assert out.reason == "config file unreadable: fix its mode"


@pytest.mark.parametrize(
    ("action", "extra"),
    [("monitor", RECURRING), ("start", {}), ("migrate_to", {}), ("reload-agent", {})],
)
def test_other_actions_return_the_config_error_with_its_reason(toy, action, extra):
    out = invoke(toy, action, env=env(**extra, **INVALID))
    assert out.rc == OcfExit.ERR_CONFIGURED
    assert out.reason == "parameter 'count': 3 is odd: set an even number such as 4"
    assert toy.hook_calls == []
    assert toy.called == []  # parsing failed before validate


def test_validate_hook_error_code_is_kept():
    toy = ToyAgent({"validate": installed("virsh not found: install libvirt-clients")})
    out = invoke(toy, "start")
    assert out.rc == OcfExit.ERR_INSTALLED
    assert out.reason == "virsh not found: install libvirt-clients"
    assert toy.called == ["validate"]


def test_validate_hook_error_on_stop_goes_to_the_hook():
    toy = ToyAgent({"validate": configured("config file missing")})
    out = invoke(toy, "stop")
    assert out.rc == 0
    assert toy.hook_calls == [("stop_unconfigured", "config file missing")]


# -- protocol rules on the answer


def test_stop_returning_not_running_becomes_success():
    toy = ToyAgent({"stop": OcfExit.NOT_RUNNING})
    out = invoke(toy, "stop")
    assert out.rc == 0
    no_failure_output(out)


def test_stop_never_returns_7_even_with_a_reason():
    def stop(ctx):
        ctx.fail("was not running")
        return OcfExit.NOT_RUNNING

    out = invoke(ToyAgent({"stop": stop}), "stop")
    assert out.rc == 0
    no_failure_output(out)


@pytest.mark.parametrize("action", ["start", "migrate_to", "reload-agent"])
def test_not_running_from_other_actions_becomes_generic_error(action):
    handler = "reload_agent" if action == "reload-agent" else action
    out = invoke(ToyAgent({handler: OcfExit.NOT_RUNNING}), action)
    assert out.rc == OcfExit.ERR_GENERIC
    assert "not running" in out.reason


def test_start_not_running_keeps_the_handlers_reason():
    def start(ctx):
        ctx.fail("guest crashed during boot: see its log")
        return OcfExit.NOT_RUNNING

    out = invoke(ToyAgent({"start": start}), "start")
    assert out.rc == OcfExit.ERR_GENERIC
    assert out.reason == "guest crashed during boot: see its log"


@pytest.mark.parametrize("extra", [PROBE, RECURRING], ids=["probe", "recurring"])
def test_monitor_not_running_is_silent(extra):
    out = invoke(ToyAgent({"monitor": OcfExit.NOT_RUNNING}), "monitor", env=env(**extra))
    assert out.rc == OcfExit.NOT_RUNNING
    no_failure_output(out)


def test_monitor_not_running_with_an_explanation_shows_it_once():
    def monitor(ctx):
        ctx.fail("guest shut itself down")
        return OcfExit.NOT_RUNNING

    out = invoke(ToyAgent({"monitor": monitor}), "monitor", env=env(**RECURRING))
    assert out.rc == OcfExit.NOT_RUNNING
    assert out.reason == "guest shut itself down"


def test_failure_code_without_reason_gets_a_generic_one():
    out = invoke(ToyAgent({"start": OcfExit.ERR_PERM}), "start")
    assert out.rc == OcfExit.ERR_PERM
    assert out.reason == "start failed with ERR_PERM"


def test_ctx_fail_reason_is_used():
    def start(ctx):
        ctx.fail("disk image is missing: restore it")
        return OcfExit.ERR_INSTALLED

    out = invoke(ToyAgent({"start": start}), "start")
    assert out.reason == "disk image is missing: restore it"


def test_ocf_error_from_a_handler():
    toy = ToyAgent({"migrate_to": OcfError(OcfExit.ERR_GENERIC, "peer unreachable")})
    out = invoke(toy, "migrate_to")
    assert out.rc == OcfExit.ERR_GENERIC
    assert out.reason == "peer unreachable"


def test_multiline_reason_is_written_as_one_line():
    out = invoke(ToyAgent({"start": generic("first line\nsecond\tline  ")}), "start")
    assert out.reason == "first line second line"
    assert sum(REASON_PREFIX in line for line in out.stderr.splitlines()) == 1


# -- bugs in the agent become a definite answer


def crash(ctx):
    raise KeyError("boom")


@pytest.mark.parametrize(
    ("action", "extra"),
    [
        ("start", {}),
        ("stop", {}),
        ("monitor", RECURRING),
        ("monitor", PROBE),
        ("migrate_to", {}),
    ],
)
def test_exception_in_handler_becomes_generic_error_with_one_reason(action, extra):
    out = invoke(ToyAgent({action: crash}), action, env=env(**extra))
    assert out.rc == OcfExit.ERR_GENERIC
    assert "internal error" in out.reason
    assert "KeyError('boom')" in out.reason
    # the traceback is logged for the admin, but never instead of the reason
    assert "Traceback" in out.stderr


@pytest.mark.parametrize("value", [None, 42, "running"])
def test_handler_returning_nonsense_is_an_internal_error(value):
    out = invoke(ToyAgent({"start": lambda ctx: value}), "start")
    assert out.rc == OcfExit.ERR_GENERIC
    assert "internal error" in out.reason


def test_exception_in_validate_becomes_generic_error():
    out = invoke(ToyAgent({"validate": RuntimeError("libvirt hiccup")}), "start")
    assert out.rc == OcfExit.ERR_GENERIC
    assert "RuntimeError('libvirt hiccup')" in out.reason


def test_exception_in_a_parameter_check_becomes_generic_error():
    from havirt.ocf.params import Parameter

    def broken(value):
        raise ZeroDivisionError("oops")

    class Fragile(ToyAgent):
        parameters = (Parameter("n", "n", "n", type="integer", default="1", check=broken),)

    out = invoke(Fragile(), "start")
    assert out.rc == OcfExit.ERR_GENERIC
    assert "ZeroDivisionError" in out.reason


def test_exception_in_the_unconfigured_hooks_is_contained():
    toy = ToyAgent({"stop_unconfigured": crash, "probe_unconfigured": crash})
    stop = invoke(toy, "stop", env=env(**INVALID))
    probe = invoke(toy, "monitor", env=env(**PROBE, **INVALID))
    assert stop.rc == probe.rc == OcfExit.ERR_GENERIC
    assert "internal error" in stop.reason
    assert "internal error" in probe.reason


def test_exit_reason_goes_to_stderr_only():
    out = invoke(ToyAgent({"start": generic("nope")}), "start")
    assert REASON_PREFIX not in out.stdout
    assert out.stdout == ""


# -- deadlines


def deadline_of(toy: ToyAgent):
    return toy.calls[-1][1].deadline


def test_deadline_comes_from_crm_meta_timeout(toy):
    invoke(toy, "start", env=env(OCF_RESKEY_CRM_meta_timeout="12345"))
    d = deadline_of(toy)
    assert d.total == pytest.approx(12.345)
    assert d.remaining() == pytest.approx(12.345)  # on the fake host's clock: no time passed


def test_deadline_falls_back_to_the_advertised_timeout(toy):
    invoke(toy, "stop", env=env(OCF_RESKEY_CRM_meta_timeout=None))
    assert deadline_of(toy).total == 40.0
    invoke(toy, "status", env=env(OCF_RESKEY_CRM_meta_timeout=None))
    assert deadline_of(toy).total == 20.0


def test_deadline_default_for_validate_all_without_spec():
    class NoSpec(ToyAgent):
        actions = tuple(a for a in ToyAgent.actions if a.name != "validate-all")

    toy = NoSpec()
    assert invoke(toy, "validate-all", env=env(OCF_RESKEY_CRM_meta_timeout=None)).rc == 0
    assert deadline_of(toy).total == 20.0


# -- watchdog


def test_watchdog_answers_with_one_reason_and_exit_1(mocker):
    fired = threading.Event()
    fake_exit = mocker.Mock(side_effect=lambda rc: fired.set())
    err = io.StringIO()
    guard = dispatcher.ActionWatchdog("start", 0.3, err, exit_process=fake_exit)
    try:
        assert fired.wait(5), "the watchdog never fired"
    finally:
        guard.disarm()
    fake_exit.assert_called_once_with(OcfExit.ERR_GENERIC)
    lines = err.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(REASON_PREFIX)
    assert "start did not finish within its timeout" in lines[0]


def test_disarmed_watchdog_never_answers(mocker):
    fake_exit = mocker.Mock()
    err = io.StringIO()
    guard = dispatcher.ActionWatchdog("start", 0.3, err, exit_process=fake_exit)
    guard.disarm()
    guard._expire()  # a timer that fired just as the action finished
    fake_exit.assert_not_called()
    assert err.getvalue() == ""


class Guards:
    """Records the watchdogs the dispatcher arms (handed in as its watchdog_class)."""

    def __init__(self) -> None:
        self.armed: list[dispatcher.ActionWatchdog] = []

    def watchdog_class(self) -> type[dispatcher.ActionWatchdog]:
        armed = self.armed

        class Recorded(dispatcher.ActionWatchdog):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                armed.append(self)

        return Recorded


def test_watchdog_is_cancelled_when_the_action_finishes(mocker, toy):
    fake_exit = mocker.Mock()
    guards = Guards()
    out = io.StringIO()
    rc = dispatcher.run(
        toy,
        ["toy", "start"],
        environ=env(OCF_RESKEY_CRM_meta_timeout="600"),  # fires 0.1 s after start
        stdout=out,
        stderr=out,
        watchdog=True,
        watchdog_class=guards.watchdog_class(),
        host=FakeClock(),
        exit_process=fake_exit,
    )
    assert rc == 0
    assert len(guards.armed) == 1
    assert guards.armed[-1].delay == pytest.approx(0.1)
    time.sleep(0.3)
    fake_exit.assert_not_called()
    assert REASON_PREFIX not in out.getvalue()


def test_watchdog_fires_before_pacemakers_timeout(mocker):
    guards = Guards()
    fake_exit = mocker.Mock()
    out = io.StringIO()
    dispatcher.run(
        ToyAgent(),
        ["toy", "start"],
        environ=env(OCF_RESKEY_CRM_meta_timeout="30000"),
        stdout=out,
        stderr=out,
        watchdog=True,
        watchdog_class=guards.watchdog_class(),
        host=FakeClock(),
        exit_process=fake_exit,
    )
    delay = guards.armed[-1].delay
    # margin: max(1 s, 5% of the timeout) = 1.5 s
    assert delay == pytest.approx(28.5, abs=0.2)


class Reserving(ToyAgent):
    """Keeps 2 s of migrate_to's timeout for a last-resort step of the watchdog."""

    def timeout_reserve(self, action, total):
        return 2.0 if action == "migrate_to" else 0.0


def test_answer_by_is_when_the_watchdog_answers():
    toy = Reserving()
    invoke(toy, "migrate_to", env=env(OCF_RESKEY_CRM_meta_timeout="30000"))
    ctx = toy.calls[-1][1]
    # margin max(1 s, 5% of 30 s) = 1.5 s, plus the agent's reserve of 2 s
    assert ctx.deadline.end - ctx.answer_by.end == pytest.approx(3.5)
    invoke(toy, "start", env=env(OCF_RESKEY_CRM_meta_timeout="30000"))
    ctx = toy.calls[-1][1]
    assert ctx.deadline.end - ctx.answer_by.end == pytest.approx(1.5)


def test_watchdog_fires_earlier_by_the_agents_reserve(mocker):
    guards = Guards()
    fake_exit = mocker.Mock()
    out = io.StringIO()
    dispatcher.run(
        Reserving(),
        ["toy", "migrate_to"],
        environ=env(OCF_RESKEY_CRM_meta_timeout="30000"),
        stdout=out,
        stderr=out,
        watchdog=True,
        watchdog_class=guards.watchdog_class(),
        host=FakeClock(),
        exit_process=fake_exit,
    )
    assert guards.armed[-1].delay == pytest.approx(26.5, abs=0.2)


def test_a_broken_reserve_hook_costs_nothing(toy):
    class Broken(ToyAgent):
        def timeout_reserve(self, action, total):
            raise RuntimeError("bug")

    agent = Broken()
    assert invoke(agent, "start").rc == 0
    ctx = agent.calls[-1][1]
    assert ctx.deadline.end - ctx.answer_by.end == pytest.approx(1.0)


def watchdog_with_step(step, reserve: float, exit_process=None):
    """A watchdog (never firing by itself) for a handler that set ``step`` as on_timeout;
    it ends the process through ``exit_process`` (a fake: never the real one)."""
    exit_process = exit_process or (lambda rc: None)
    toy = ToyAgent()
    invoke(toy, "migrate_to")
    ctx = toy.calls[-1][1]
    ctx.on_timeout = step
    err = io.StringIO()
    guard = dispatcher.ActionWatchdog(
        "migrate_to", 3600, err, ctx, reserve, exit_process=exit_process
    )
    return guard, ctx, err


def test_watchdog_runs_the_handlers_step_before_it_answers(mocker):
    fake_exit = mocker.Mock()
    given: list[float] = []

    def step(seconds: float) -> str:
        given.append(seconds)
        return "migration job aborted by the watchdog"

    guard, ctx, err = watchdog_with_step(step, reserve=2.0, exit_process=fake_exit)
    try:
        guard._expire()  # the timer ran out
    finally:
        guard.disarm()
    fake_exit.assert_called_once_with(OcfExit.ERR_GENERIC)
    assert given == [pytest.approx(1.75)]  # its calls end a little before the reserve
    (line,) = err.getvalue().splitlines()
    assert "migrate_to did not finish within its timeout" in line
    assert "(migration job aborted by the watchdog)" in line
    assert ("warn", "migrate_to timed out: migration job aborted by the watchdog") in (
        ctx.log.messages
    )


def test_watchdog_answers_even_when_the_step_hangs(mocker):
    fake_exit = mocker.Mock()
    stuck = threading.Event()
    guard, _ctx, err = watchdog_with_step(
        lambda seconds: str(stuck.wait(30)), reserve=0.05, exit_process=fake_exit
    )
    try:
        guard._expire()
    finally:
        stuck.set()
        guard.disarm()
    fake_exit.assert_called_once_with(OcfExit.ERR_GENERIC)
    (line,) = err.getvalue().splitlines()
    assert "did not finish within its timeout" in line
    assert "last-resort step did not finish" in line


def test_watchdog_answers_when_the_step_fails():

    def step(seconds: float) -> str:
        raise RuntimeError("libvirt went away")

    guard, _ctx, err = watchdog_with_step(step, reserve=1.0)
    try:
        guard._expire()
    finally:
        guard.disarm()
    (line,) = err.getvalue().splitlines()
    assert "last-resort step failed: RuntimeError('libvirt went away')" in line


def test_watchdog_without_a_step_answers_as_before():
    guard, _ctx, err = watchdog_with_step(None, reserve=1.0)
    try:
        guard._expire()
    finally:
        guard.disarm()
    (line,) = err.getvalue().splitlines()
    assert line.endswith("migrate_to did not finish within its timeout of 3600s; giving up")


# -- start-up counts against the timeout

STAT = "4242 (my agent (x)) S 1 4242 4242 0 -1 4194560 1 0 0 0 2 0 0 0 20 0 1 0 123450 0 0"


def test_startup_seconds_from_proc():
    # started 1234.50 s after boot (100 ticks/s), now 1236.00 s after boot
    assert dispatcher.startup_seconds(STAT, "1236.00 2000.00\n", 100) == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("stat", "uptime"),
    [
        (STAT, "1200.00 0.00"),  # "started in the future"
        (STAT, "1300.00 0.00"),  # past MAX_STARTUP: no start-up, a clock not to trust
        ("garbage", "1236.00 0.00"),
        (STAT, ""),
    ],
)
def test_startup_seconds_unknown_counts_nothing(stat, uptime):
    assert dispatcher.startup_seconds(stat, uptime, 100) == 0.0


def test_time_spent_before_the_dispatcher_shortens_deadline_and_watchdog(mocker):
    guards = Guards()
    fake_exit = mocker.Mock()
    toy = Reserving()
    out = io.StringIO()
    dispatcher.run(
        toy,
        ["toy", "migrate_to"],
        environ=env(OCF_RESKEY_CRM_meta_timeout="30000"),
        stdout=out,
        stderr=out,
        watchdog=True,
        watchdog_class=guards.watchdog_class(),
        spent=2.0,
        host=FakeClock(),
        exit_process=fake_exit,
    )
    ctx = toy.calls[-1][1]
    assert ctx.deadline.total == 30.0
    assert 27.0 < ctx.deadline.remaining() <= 28.0
    assert ctx.deadline.end - ctx.answer_by.end == pytest.approx(3.5)
    assert guards.armed[-1].delay == pytest.approx(24.5, abs=0.2)


# -- the one-reason rule, across every action and every kind of answer

BEHAVIOURS = {
    **{f"returns {code.name}": code for code in OcfExit},
    "raises OcfError": generic("it broke"),
    "raises KeyError": KeyError("bug"),
}
ACTIONS = [
    ("start", "start", {}),
    ("stop", "stop", {}),
    ("probe", "monitor", PROBE),
    ("monitor", "monitor", RECURRING),
    ("migrate_to", "migrate_to", {}),
    ("reload-agent", "reload_agent", {}),
]


@pytest.mark.parametrize("behaviour", list(BEHAVIOURS), ids=list(BEHAVIOURS))
@pytest.mark.parametrize(("label", "handler", "extra"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_exactly_one_reason_per_failure_and_none_otherwise(label, handler, extra, behaviour):
    action = "reload-agent" if handler == "reload_agent" else handler
    out = invoke(ToyAgent({handler: BEHAVIOURS[behaviour]}), action, env=env(**extra))
    is_monitor = action == "monitor"
    assert out.rc in range(10)
    if action == "stop":
        assert out.rc != OcfExit.NOT_RUNNING
    if not is_monitor:
        assert out.rc != OcfExit.NOT_RUNNING
    success = out.rc in (OcfExit.SUCCESS, OcfExit.RUNNING_PROMOTED) or (
        is_monitor and out.rc == OcfExit.NOT_RUNNING
    )
    assert len(out.reasons) == (0 if success else 1), out.stderr
    assert all(reason.strip() for reason in out.reasons)
