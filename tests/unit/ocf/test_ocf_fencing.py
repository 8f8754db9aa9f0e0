"""The fencing framework (FenceAgentAPI): options, validation, actions, exit codes, passwords."""

from __future__ import annotations

import textwrap

import pytest
from fence_toy import FakeClock, Switch, ToyFence, fence
from havirt.ocf import fencing
from havirt.ocf.fencing import EXIT_ERROR, EXIT_OFF, EXIT_OK, FenceOption, OptionTable
from havirt.ocf.fencing import metadata as fence_metadata
from havirt.ocf.params import Params
from havirt.ocf.runner import CommandResult
from lxml import etree


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def switch(clock: FakeClock) -> Switch:
    return Switch(clock, vm1="on", vm2="off")


@pytest.fixture
def toy(switch: Switch) -> ToyFence:
    return ToyFence(switch)


def calls(switch: Switch, *kinds: str) -> list[tuple[str, ...]]:
    """The switch's calls without their time stamps, optionally only of some kinds."""
    return [c[:-1] for c in switch.calls if not kinds or c[0] in kinds]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("ERROR:")]


# -- meta-data and help ------------------------------------------------------------


def test_metadata_is_valid_fence_agents_xml_and_escapes_text() -> None:
    out = fence(ToyFence(), "-o", "metadata")
    assert out.rc == EXIT_OK
    root = etree.fromstring(out.stdout.encode())
    assert root.get("name") == "fence_toy"
    assert root.get("shortdesc") == "Toy <fence> agent & friends"
    assert root.findtext("longdesc") == 'Powers "nothing" at all; for <tests> & such.'
    assert root.findtext("vendor-url") == "https://example.org/?a=1&b=2"
    # Validity against fence-agents' installed schema: tests/contract/test_fence_havirt_metadata.py


def test_metadata_lists_every_option_and_marks_the_old_plug_name() -> None:
    root = fence_metadata.build(ToyFence)
    params = {p.get("name"): p for p in root.iter("parameter")}
    assert list(params)[:3] == ["action", "plug", "port"]
    assert {"address", "retries", "password_script", "delay", "power_timeout"} <= set(params)
    assert params["port"].get("deprecated") == "1"
    assert params["plug"].get("obsoletes") == "port"
    assert params["plug"].find("getopt").get("mixed") == "-n, --plug=[id]"
    assert params["delay"].find("content").attrib == {"type": "second", "default": "0"}
    assert params["verbose"].find("content").get("type") == "boolean"
    assert params["retries"].find("content").attrib == {"type": "integer", "default": "1"}
    assert "standard input only" in params["password"].find("getopt").get("mixed")
    actions = [a.get("name") for a in root.iter("action")]
    assert actions == list(fencing.ACTIONS)
    assert root.find("actions/action[@name='on']").get("automatic") == "0"


@pytest.mark.parametrize(
    "how",
    [("-o", "metadata"), ("--action=meta-data",), ("--action", "METADATA")],
)
def test_metadata_on_the_command_line(how) -> None:
    out = fence(ToyFence(), *how)
    assert out.rc == EXIT_OK and out.stdout.startswith("<?xml")


def test_metadata_from_stdin_needs_nothing_else_and_ignores_bad_options() -> None:
    out = fence(ToyFence(), stdin="action=metadata\ndelay=soon\n")
    assert out.rc == EXIT_OK
    assert "<resource-agent" in out.stdout


def test_help_and_version() -> None:
    out = fence(ToyFence(), "--help")
    assert out.rc == EXIT_OK
    assert "-n, --plug=[id]" in out.stdout and "--address=[host]" in out.stdout
    assert "Exit codes: 0" in out.stdout
    out = fence(ToyFence(), "-V")
    assert (out.rc, out.stdout) == (EXIT_OK, "fence_toy 0.9\n")


def test_option_table_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        OptionTable([FenceOption("a", "x", short="a"), FenceOption("b", "y", short="a")])


# -- the command line ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("-o", "status", "-n", "vm1"),
        ("--action=status", "--plug=vm1"),
        ("--action", "status", "--plug", "vm1"),
        ("-ostatus", "-nvm1"),
        ("-vo", "status", "-n", "vm1"),
        ("--action=STATUS", "-n", "vm1"),
    ],
)
def test_command_line_spellings(toy: ToyFence, args) -> None:
    out = fence(toy, *args)
    assert (out.rc, out.lines) == (EXIT_OK, ["Status: ON"]), out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--bogus=1",), "unknown option --bogus"),
        (("-x",), "unknown option -x"),
        (("-o", "status", "--plug"), "option --plug needs a value: -n, --plug=[id]"),
        (("-o", "status", "-n"), "option -n needs a value"),
        (("--verbose=yes",), "option --verbose takes no value"),
        (("status", "-n", "vm1"), "unexpected argument 'status' (give the action as -o ACTION)"),
        (("-o", "status", "vm1"), "unexpected argument 'vm1'"),
        (("-o", "explode", "-n", "vm1"), "unknown action 'explode' (one of: on, off, reboot,"),
        (("-o", "off", "-n", "vm1", "--delay=soon"), "option --delay: 'soon' is not a number"),
        (("-o", "off", "-n", "vm1", "--power-timeout=-1"), "option --power-timeout: '-1' is"),
        (("-o", "list", "--retries=two"), "option --retries: 'two' is not a whole number"),
        (("-o", "list", "-C", ""), "option -C: must be one or more characters"),
        (("-o", "off"), "no plug given for off: set plug=NAME_OR_UUID"),
        (("-o", "status", "-n", "vm1", "-a", "bad"), "option address: 'bad' is a bad address"),
    ],
)
def test_every_malformed_command_line_fails_with_one_clear_error_and_exit_1(
    toy: ToyFence, args, message: str
) -> None:
    out = fence(toy, *args)
    assert out.rc == EXIT_ERROR  # never 2: that would read as "off" from status
    assert len(error_lines(out.stderr)) == 1, out.stderr
    assert message in out.stderr
    assert calls(toy.switch, "connect", "set") == []


@pytest.mark.parametrize(
    "args",
    [
        ("-p", "s3cret-pw"),
        ("-ps3cret-pw",),
        ("--password=s3cret-pw",),
        ("--password", "s3cret-pw"),
    ],
)
def test_a_password_on_the_command_line_is_refused_without_echoing_it(toy, args) -> None:
    out = fence(toy, "-o", "status", "-n", "vm1", *args)
    assert out.rc == EXIT_ERROR
    assert "must not be given on the command line" in out.stderr
    assert "--password-file=PATH" in out.stderr and "password= on standard input" in out.stderr
    assert "s3cret-pw" not in out.stderr + out.stdout
    assert toy.switch.calls == []


# -- standard input -----------------------------------------------------------------------


def test_stdin_options_as_pacemaker_passes_them(toy: ToyFence) -> None:
    stdin = textwrap.dedent(
        """\
        # written by pacemaker-fenced
        action=status

          plug = vm2
        nodename=node2
        nodeid=2
        agent=fence_toy
        power-timeout=5
        """
    )
    out = fence(toy, stdin=stdin)
    assert (out.rc, out.lines) == (EXIT_OFF, ["Status: OFF"])
    assert out.stderr == ""  # nodename, nodeid and agent are expected, not warned about


def test_unknown_stdin_names_are_warned_about_without_their_value(toy: ToyFence) -> None:
    out = fence(toy, stdin="action=status\nplug=vm1\ncolour=very-secret-value\njunk line\n")
    assert out.rc == EXIT_OK
    assert "WARNING: ignoring unknown option 'colour'" in out.stderr
    assert "WARNING: ignoring line 4 of standard input: not name=value" in out.stderr
    assert "very-secret-value" not in out.stderr and "junk" not in out.stderr


def test_the_last_of_repeated_names_wins_and_port_is_plug(toy: ToyFence) -> None:
    out = fence(toy, stdin="action=off\nplug=vm1\naction=status\n")
    assert out.lines == ["Status: ON"]
    # Pacemaker writes its target (plug=) first, the device's own configuration
    # (an old-style port=) after it: the explicit configuration wins.
    out = fence(toy, stdin="action=status\nplug=node1\nport=vm2\n")
    assert (out.rc, out.lines) == (EXIT_OFF, ["Status: OFF"])
    assert "both plug and port are given: the last one, port, is used" in out.stderr


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("action=status\nplug=vm1\nverbose=perhaps\n", "option verbose: 'perhaps' is not a"),
        ("action=off\nplug=vm1\ndelay=5s\n", "option delay: '5s' is not a number of seconds"),
        ("action=off\nplug=vm1\nlogin_timeout=\n", "option login_timeout: '' is not a number"),
        ("action=status\nplug=vm1\nretries=1.5\n", "option retries: '1.5' is not a whole number"),
        ("action=dance\n", "unknown action 'dance'"),
        ("action=reboot\n", "no plug given for reboot"),
        ("action=status\nplug=\n", "no plug given for status"),
    ],
)
def test_every_malformed_stdin_option_fails_with_a_clear_error(toy, stdin, message) -> None:
    out = fence(toy, stdin=stdin)
    assert out.rc == EXIT_ERROR
    assert len(error_lines(out.stderr)) == 1, out.stderr
    assert message in out.stderr
    assert calls(toy.switch, "connect") == []


def test_the_default_action_is_reboot(toy: ToyFence) -> None:
    out = fence(toy, stdin="plug=vm1\n")
    assert (out.rc, out.lines) == (EXIT_OK, ["Success: Rebooted"])


# -- status, list, monitor, validate-all ---------------------------------------------------


def test_status_exit_codes(toy: ToyFence) -> None:
    assert fence(toy, "-o", "status", "-n", "vm1").rc == EXIT_OK
    assert fence(toy, "-o", "status", "-n", "vm2").rc == EXIT_OFF
    out = fence(toy, "-o", "status", "-n", "vm9")
    assert out.rc == EXIT_ERROR and "no plug vm9" in out.stderr
    toy.switch.reachable = False
    out = fence(toy, "-o", "status", "-n", "vm1")
    assert out.rc == EXIT_ERROR and "ERROR: cannot reach the switch" in out.stderr


def test_status_needs_no_delay(toy: ToyFence, clock: FakeClock) -> None:
    assert fence(toy, "-o", "status", "-n", "vm1", "--delay=30").rc == EXIT_OK
    assert clock.sleeps == []


def test_list_and_list_status(toy: ToyFence) -> None:
    out = fence(toy, "-o", "list")
    assert (out.rc, out.lines) == (EXIT_OK, ["vm1,alias-vm1", "vm2,alias-vm2"])
    out = fence(toy, stdin="action=list-status\nseparator=;\n")
    assert out.lines == ["vm1;alias-vm1;ON", "vm2;alias-vm2;OFF"]
    assert calls(toy.switch) == [("connect",), ("list",), ("close",)] * 2


def test_monitor_lists_the_plugs_and_prints_nothing(toy: ToyFence) -> None:
    out = fence(toy, "-o", "monitor")
    assert (out.rc, out.stdout) == (EXIT_OK, "")
    assert ("list",) in calls(toy.switch)
    toy.switch.list_error = "the switch answers garbage"
    out = fence(toy, "-o", "monitor")
    assert out.rc == EXIT_ERROR and "the switch answers garbage" in out.stderr


def test_validate_all_checks_without_touching_the_device(toy: ToyFence, tmp_path) -> None:
    toy.switch.clock.missing.add("no-such-tool")
    assert fence(toy, "-o", "validate-all", "-a", "good").rc == EXIT_OK
    out = fence(toy, "-o", "validate-all", "-a", "bad")
    assert out.rc == EXIT_ERROR and "'bad' is a bad address" in out.stderr
    out = fence(toy, "-o", "validate-all", f"--password-file={tmp_path}/none")
    assert out.rc == EXIT_ERROR and "cannot be read" in out.stderr
    out = fence(toy, "-o", "validate-all", f"--password-script={tmp_path}/no/such/tool --flag")
    assert out.rc == EXIT_ERROR and f"{tmp_path}/no/such/tool is not an executable" in out.stderr
    out = fence(toy, "-o", "validate-all", "--password-script=no-such-tool --flag")
    assert out.rc == EXIT_ERROR and "no-such-tool is not an executable program" in out.stderr
    assert fence(toy, "-o", "validate-all", "-S", "true").rc == EXIT_OK
    assert toy.switch.calls == []


# -- power changes, verification, delay --------------------------------------------------


def test_off_is_verified_by_querying_until_the_plug_is_off(toy, clock) -> None:
    toy.switch.lag = 3  # the switch needs 3 more queries before it reports the change
    out = fence(toy, "-o", "off", "-n", "vm1")
    assert (out.rc, out.lines) == (EXIT_OK, ["Success: Powered OFF"]), out.stderr
    seq = calls(toy.switch)
    assert seq[:3] == [("connect",), ("status", "vm1"), ("set", "vm1", "off")]
    assert seq[3:] == [("status", "vm1")] * 4 + [("close",)]
    assert toy.switch.plugs["vm1"] == "off"


def test_already_off_is_success_without_a_change(toy) -> None:
    out = fence(toy, "-o", "off", "-n", "vm2")
    assert (out.rc, out.lines) == (EXIT_OK, ["Success: Already OFF"])
    assert calls(toy.switch, "set") == []


def test_on_is_verified(toy) -> None:
    toy.switch.lag = 1
    out = fence(toy, "-o", "on", "-n", "vm2")
    assert (out.rc, out.lines) == (EXIT_OK, ["Success: Powered ON"])
    assert fence(toy, "-o", "on", "-n", "vm2").lines == ["Success: Already ON"]


def test_power_wait_is_waited_before_the_first_check(toy, clock) -> None:
    out = fence(toy, "-o", "off", "-n", "vm1", "--power-wait=3")
    assert out.rc == EXIT_OK
    set_at = next(float(c[-1]) for c in toy.switch.calls if c[0] == "set")
    checked_at = [float(c[-1]) for c in toy.switch.calls if c[0] == "status"][-1]
    assert checked_at - set_at >= 3


def test_a_change_that_never_shows_is_a_failure_within_power_timeout(toy, clock) -> None:
    toy.switch.refuse = {"off"}
    start = clock.now
    out = fence(toy, "-o", "off", "-n", "vm1", "--power-timeout=4")
    assert out.rc == EXIT_ERROR
    assert "vm1 did not reach OFF within power_timeout=4s (it is on)" in out.stderr
    assert 4 <= clock.now - start <= 4 + fencing.POLL_INTERVAL + 0.01
    assert calls(toy.switch)[-1] == ("close",)


def test_failing_queries_after_a_change_end_in_a_failure_naming_the_last_error(toy, clock):
    toy.switch.lag = 100

    def broken(plug):
        toy.switch.log("status", plug)
        if any(c[0] == "set" for c in toy.switch.calls):
            raise fencing.FenceError("the switch stopped answering")
        return "on"

    toy.switch.status = broken
    out = fence(toy, "-o", "off", "-n", "vm1", "--power-timeout=2")
    assert out.rc == EXIT_ERROR
    assert "the last query failed: the switch stopped answering" in out.stderr


def test_delay_is_waited_before_off_and_reboot_only(toy, clock) -> None:
    start = clock.now
    assert fence(toy, "-o", "off", "-n", "vm1", "--delay=7").rc == EXIT_OK
    connect_at = next(float(c[-1]) for c in toy.switch.calls if c[0] == "connect")
    assert connect_at - start >= 7
    toy.switch.calls.clear()
    start = clock.now
    assert fence(toy, stdin="action=on\nplug=vm1\ndelay=7\n").rc == EXIT_OK
    assert clock.now - start < 1


def test_reboot_verifies_off_before_powering_on(toy) -> None:
    toy.switch.lag = 2
    out = fence(toy, "-o", "reboot", "-n", "vm1")
    assert (out.rc, out.lines) == (EXIT_OK, ["Success: Rebooted"])
    seq = [c for c in calls(toy.switch) if c[0] in ("set", "status")]
    assert seq[:2] == [("status", "vm1"), ("set", "vm1", "off")]
    on_at = seq.index(("set", "vm1", "on"))
    # Between the two requests the switch was queried until it answered "off".
    between = seq[2:on_at]
    assert len(between) == 3 and all(c == ("status", "vm1") for c in between)
    answers_before_on = toy.switch.answers[: 1 + len(between)]
    assert answers_before_on == ["on", "on", "on", "off"]
    assert toy.switch.answers[-1] == "on" == toy.switch.plugs["vm1"]


def test_reboot_of_an_off_plug_only_powers_it_on(toy) -> None:
    out = fence(toy, "-o", "reboot", "-n", "vm2")
    assert out.rc == EXIT_OK
    assert calls(toy.switch, "set") == [("set", "vm2", "on")]


def test_reboot_succeeds_when_off_worked_but_on_did_not(toy) -> None:
    toy.switch.refuse = {"on"}
    out = fence(toy, "-o", "reboot", "-n", "vm1", "--power-timeout=1")
    assert (out.rc, out.lines) == (EXIT_OK, ["Success: Rebooted"])
    assert "WARNING: vm1 is OFF (fenced), but powering it ON again failed" in out.stderr


def test_reboot_fails_when_off_fails_and_never_powers_on(toy) -> None:
    toy.switch.refuse = {"off"}
    out = fence(toy, "-o", "reboot", "-n", "vm1", "--power-timeout=1")
    assert out.rc == EXIT_ERROR
    assert calls(toy.switch, "set") == [("set", "vm1", "off")]


def test_the_run_bound_covers_delay_connect_and_each_change() -> None:
    opts = Params(delay=5.0, login_timeout=10.0, power_wait=1.0, power_timeout=20.0)
    assert fencing.run_bound(opts, "reboot") == 5 + 20 + 2 * 21 + 1
    assert fencing.run_bound(opts, "off") == 5 + 20 + 21 + 1
    assert fencing.run_bound(opts, "status") == 20 + 1


def test_an_internal_error_is_a_failure_with_a_traceback_in_the_log(toy) -> None:
    def crash(plug):
        raise ZeroDivisionError("oops")

    toy.switch.status = crash
    out = fence(toy, "-o", "status", "-n", "vm1")
    assert out.rc == EXIT_ERROR
    assert "internal error: ZeroDivisionError('oops')" in out.stderr
    assert calls(toy.switch)[-1] == ("close",)


# -- passwords ------------------------------------------------------------------------


class ScriptRunner:
    """Stands in for the CommandRunner: answers the password script."""

    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.argvs: list[tuple[str, ...]] = []

    def run(self, argv, timeout, stdin=None, env=None, cwd=None) -> CommandResult:
        self.argvs.append(tuple(argv))
        assert timeout <= 10
        return self.result


SECRET = "pa55 w0rd!"


def test_password_from_stdin_is_taken_as_given(toy) -> None:
    out = fence(toy, stdin=f"action=status\nplug=vm1\npassword={SECRET}\n")
    assert out.rc == EXIT_OK
    assert toy.switch.passwords == [SECRET]


def test_password_from_a_file_is_its_first_line(toy, tmp_path) -> None:
    path = tmp_path / "pw"
    path.write_text(f"{SECRET}\nsecond line\n")
    assert fence(toy, "-o", "status", "-n", "vm1", f"--password-file={path}").rc == EXIT_OK
    assert toy.switch.passwords == [SECRET]


def test_password_from_a_script_runs_without_a_shell(toy) -> None:
    runner = ScriptRunner(CommandResult(("x",), 0, f"{SECRET}\n", ""))
    out = fence(
        toy, "-o", "status", "-n", "vm1", "-S", "/usr/bin/pass show 'fence key'", runner=runner
    )
    assert out.rc == EXIT_OK
    assert runner.argvs == [("/usr/bin/pass", "show", "fence key")]
    assert toy.switch.passwords == [SECRET]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            CommandResult(("s",), 3, f"{SECRET}\n", "vault is sealed\n"),
            "password_script /bin/pw exited 3: vault is sealed",
        ),
        (CommandResult(("s",), 0, "", ""), "password_script /bin/pw printed no password"),
        (
            CommandResult(("s",), 124, "", "", timed_out=True),
            "password_script /bin/pw did not finish within",
        ),
    ],
)
def test_a_failing_password_script_is_a_clear_failure_that_never_shows_its_output(
    toy, result, message
) -> None:
    out = fence(toy, "-o", "status", "-n", "vm1", "-S", "/bin/pw", runner=ScriptRunner(result))
    assert out.rc == EXIT_ERROR
    assert message in out.stderr
    assert SECRET not in out.stderr + out.stdout
    assert calls(toy.switch, "connect") == []


def test_password_file_problems_and_two_sources(toy, tmp_path) -> None:
    out = fence(toy, "-o", "status", "-n", "vm1", f"--password-file={tmp_path}/missing")
    assert out.rc == EXIT_ERROR and "missing does not exist on this node" in out.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    out = fence(toy, "-o", "status", "-n", "vm1", f"--password-file={empty}")
    assert out.rc == EXIT_ERROR and "is empty" in out.stderr
    out = fence(toy, stdin=f"action=status\nplug=vm1\npassword=x\npassword_file={empty}\n")
    assert out.rc == EXIT_ERROR and "give only one of password, password_file" in out.stderr


def test_the_password_never_reaches_the_log_even_when_verbose(toy, tmp_path) -> None:
    log = tmp_path / "debug.log"
    toy.switch.status_error = "boom"
    stdin = f"action=off\nplug=vm1\nverbose=1\ndebug_file={log}\npassword={SECRET}\n"
    out = fence(toy, stdin=stdin)
    assert out.rc == EXIT_ERROR
    assert "password=(hidden)" in out.stderr  # the option dump of verbose mode
    text = out.stderr + out.stdout + log.read_text()
    assert "boom" in text and SECRET not in text


def test_with_the_defaults_a_reboot_is_bounded_below_pacemakers_default_timeout() -> None:
    raw = ToyFence.option_table().parse_stdin("action=reboot\nplug=vm1\n")
    options = ToyFence.option_table().convert(raw)
    assert fencing.run_bound(options, "reboot") < 60  # stonith-timeout's default
