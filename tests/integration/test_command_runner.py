"""The CommandRunner against real processes: argv without a shell, the locale, timeouts
that end a whole process group, and commands that outlive SIGKILL.

Not unit tests: they run this machine's programs (printf, sh, sleep ...); agents and
tools are unit-tested with fake runners instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

import pytest
from havirt.ocf.runner import KILL_WAIT, TIMEOUT_RC, CommandRunner

PATH = os.environ.get("PATH", "/usr/bin:/bin")


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for a reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def wait_gone(pid: int, seconds: float = 2.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if gone(pid):
            return True
        time.sleep(0.01)
    return gone(pid)


@pytest.fixture
def runner() -> CommandRunner:
    return CommandRunner({"PATH": PATH, "LANG": "de_DE.UTF-8", "LANGUAGE": "de:en"})


def test_argv_is_passed_verbatim_without_a_shell(runner):
    argv = ["printf", "%s|", "two words", "$HOME", ";", "*", "`id`"]
    result = runner.run(argv, timeout=5)
    assert result.ok
    assert result.stdout == "two words|$HOME|;|*|`id`|"
    assert result.argv == tuple(argv)


def test_argv_may_be_any_sequence(runner):
    result = runner.run(("true",), timeout=5)
    assert result.argv == ("true",)
    assert result.ok


def test_child_gets_lc_all_c_and_no_language(runner):
    result = runner.run(["sh", "-c", 'echo "$LC_ALL|${LANGUAGE-unset}|$LANG"'], timeout=5)
    assert result.stdout == "C|unset|de_DE.UTF-8\n"


def test_lc_all_c_overrides_the_callers_lc_all():
    runner = CommandRunner({"PATH": PATH, "LC_ALL": "fr_FR.UTF-8"})
    assert runner.run(["sh", "-c", "echo $LC_ALL"], timeout=5).stdout == "C\n"


def test_inherits_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("HAVIRT_RUNNER_TEST", "inherited")
    result = CommandRunner().run(["sh", "-c", "echo $HAVIRT_RUNNER_TEST $LC_ALL"], timeout=5)
    assert result.stdout == "inherited C\n"


def test_per_call_env_is_added(runner):
    result = runner.run(["sh", "-c", "echo $EXTRA"], timeout=5, env={"EXTRA": "x"})
    assert result.stdout == "x\n"
    # and does not stick to the runner
    assert runner.run(["sh", "-c", "echo ${EXTRA-none}"], timeout=5).stdout == "none\n"


def test_stdin_is_fed_and_otherwise_empty(runner):
    assert runner.run(["cat"], timeout=5, stdin="line\n").stdout == "line\n"
    # no stdin given: the child reads EOF at once instead of hanging
    assert runner.run(["cat"], timeout=5).stdout == ""


def test_failure_keeps_rc_and_output(runner):
    result = runner.run(["sh", "-c", "echo out; echo oops >&2; echo last >&2; exit 3"], timeout=5)
    assert not result.ok
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "oops\nlast\n")
    assert not result.timed_out
    assert (
        result.describe() == "'sh -c echo out; echo oops >&2; echo last >&2; exit 3' exited 3: last"
    )


def test_missing_binary_gives_127_and_a_message(runner):
    result = runner.run(["/nonexistent/havirt-no-such-tool", "--help"], timeout=5)
    assert result.returncode == 127
    assert not result.ok and not result.timed_out
    assert result.stderr.startswith("/nonexistent/havirt-no-such-tool: ")
    assert "No such file" in result.stderr
    assert "havirt-no-such-tool" in result.describe()


def test_missing_binary_on_path_gives_127(runner):
    result = runner.run(["havirt-no-such-tool-on-path"], timeout=5)
    assert result.returncode == 127
    assert "havirt-no-such-tool-on-path" in result.stderr


def test_timeout_kills_the_whole_process_group(runner):
    # The child (sh) starts a grandchild (sleep) and reports both PIDs, then
    # waits. The grandchild does not hold our pipes, so only killing the
    # process group can end it.
    script = 'sleep 30 </dev/null >/dev/null 2>&1 & echo "$$ $!"; wait'
    started = time.monotonic()
    result = runner.run(["sh", "-c", script], timeout=0.5)
    elapsed = time.monotonic() - started
    pids = [int(p) for p in result.stdout.split()]
    try:
        assert result.timed_out
        assert result.returncode == TIMEOUT_RC
        assert not result.ok
        assert "timed out" in result.describe()
        assert elapsed < 5
        assert len(pids) == 2
        child, grandchild = pids
        assert wait_gone(child), "the child survived the timeout"
        assert wait_gone(grandchild), "the grandchild survived the timeout"
    finally:
        for pid in pids:
            if not gone(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_timeout_also_ends_a_grandchild_that_holds_the_pipes(runner):
    # Without the process-group kill, communicate() would wait for `sleep 30`.
    started = time.monotonic()
    result = runner.run(["sh", "-c", "sleep 30 & wait"], timeout=0.3)
    assert result.timed_out
    assert time.monotonic() - started < 5


def test_output_written_before_the_timeout_is_kept(runner):
    result = runner.run(["sh", "-c", "echo early; exec sleep 30"], timeout=0.3)
    assert result.timed_out
    assert result.stdout == "early\n"


def test_zero_or_negative_timeout_still_runs_the_check(runner):
    result = runner.run(["sleep", "5"], timeout=0)
    assert result.timed_out
    result = runner.run(["sleep", "5"], timeout=-1)
    assert result.timed_out


def test_child_runs_in_its_own_session(runner):
    result = runner.run([sys.executable, "-c", "import os; print(os.getsid(0) == os.getpid())"], 5)
    assert result.stdout == "True\n"


def test_a_command_that_outlives_sigkill_is_given_up_on_not_waited_for(runner, tmp_path):
    # A process that escaped the group (setsid) holds our pipes, as a process stuck in
    # uninterruptible sleep on a hung mount would: the caller must still get its answer.
    pidfile = tmp_path / "pid"
    script = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 30' & wait"
    started = time.monotonic()
    result = runner.run(["sh", "-c", script], timeout=0.3)
    elapsed = time.monotonic() - started
    try:
        assert result.timed_out and result.stuck
        assert result.returncode == TIMEOUT_RC and not result.ok
        assert "could not be killed" in result.describe()
        assert elapsed < 0.3 + KILL_WAIT + 1.0
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
