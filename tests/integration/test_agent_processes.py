"""The OCF dispatcher and the fencing framework in real processes: their ``main``, exit
codes, the watchdog answering for a hung action, meta-data as the user nobody.

Not unit tests: they start interpreters (and setpriv) on this machine and measure
real time. The same logic is unit-tested in-process in tests/unit/ocf.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.fencing import EXIT_ERROR
from lxml import etree

HERE = str(Path(__file__).parents[1] / "unit" / "ocf")  # the toy agents' folder
sys.path.insert(0, HERE)
from ocf_toy import REASON_PREFIX, base_env  # noqa: E402 - the unit tests' toy agent

RA_DTD = "/usr/share/resource-agents/ra-api-1.dtd"


def env(**overrides: str | None) -> dict[str, str]:
    return base_env(**overrides)


# -- in a real process

PRELUDE = textwrap.dedent(
    f"""
    import sys, time
    sys.path.insert(0, {HERE!r})
    from ocf_toy import ToyAgent
    from havirt.ocf import dispatcher
    """
)


def spawn(code: str, environ: dict[str, str], *prefix: str, timeout: float = 20):
    started = time.monotonic()
    done = subprocess.run(
        [*prefix, sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, time.monotonic() - started


def reason_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(REASON_PREFIX)]


def test_watchdog_answers_for_a_hung_handler_before_the_timeout():
    code = """
    class Hung(ToyAgent):
        def start(self, ctx):
            time.sleep(30)
    dispatcher.main(Hung, ["toy", "start"])
    """
    # The watchdog's own answer (not a kill from outside, not the handler's): its exit
    # code and its one reason line. How soon it came is bench material, not a test's.
    done, _elapsed = spawn(code, env(OCF_RESKEY_CRM_meta_timeout="1500"))
    assert done.returncode == OcfExit.ERR_GENERIC
    lines = reason_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert "start did not finish within its timeout" in lines[0]
    assert "Traceback" not in done.stderr


def _gone_or_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_watchdog_kills_the_commands_a_hung_handler_started(tmp_path: Path) -> None:
    """A hung child (a monitor script that never returns) must not outlive the agent
    the watchdog answered for: its whole process group goes with the answer."""
    pids = tmp_path / "pids"
    code = f"""
    class Hangs(ToyAgent):
        def start(self, ctx):
            script = "echo $$ > {pids}; sleep 300 & echo $! >> {pids}; wait"
            ctx.runner.run(["sh", "-c", script], timeout=300)
    dispatcher.main(Hangs, ["toy", "start"])
    """
    done, _ = spawn(code, env(OCF_RESKEY_CRM_meta_timeout="2500"))
    assert done.returncode == OcfExit.ERR_GENERIC, done.stderr
    assert "did not finish within its timeout" in done.stderr
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2, started  # the shell and its sleep
    deadline = time.monotonic() + 10
    while not all(_gone_or_zombie(pid) for pid in started):
        assert time.monotonic() < deadline, f"left running: {started}"
        time.sleep(0.1)


def test_main_exits_with_the_actions_code():
    code = """
    from havirt.ocf.exitcodes import OcfExit
    dispatcher.main(lambda: ToyAgent({"monitor": OcfExit.NOT_RUNNING}), ["toy", "monitor"])
    """
    done, _ = spawn(code, env())
    assert done.returncode == OcfExit.NOT_RUNNING
    assert reason_lines(done.stderr) == []


def test_main_reports_a_crash_as_exit_1_with_one_reason():
    code = """
    dispatcher.main(lambda: ToyAgent({"start": ValueError("bad")}), ["toy", "start"])
    """
    done, _ = spawn(code, env())
    assert done.returncode == OcfExit.ERR_GENERIC
    assert len(reason_lines(done.stderr)) == 1


def test_meta_data_in_a_bare_process_without_libvirt():
    code = """
    import io
    out = io.StringIO()
    rc = dispatcher.run(ToyAgent(), ["toy", "meta-data"], stdout=out)
    sys.stdout.write(out.getvalue())
    sys.stderr.write("libvirt imported: %s\\n" % ("libvirt" in sys.modules))
    sys.exit(rc)
    """
    done, _ = spawn(code, {})
    assert done.returncode == 0, done.stderr
    assert "libvirt imported: False" in done.stderr
    etree.fromstring(done.stdout.encode())


def _can_run_as_nobody() -> bool:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(
        [
            *AS_NOBODY,
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {HERE!r}); import ocf_toy",
        ],
        env={},
        capture_output=True,
        timeout=20,
    )
    return probe.returncode == 0


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.skipif(not _can_run_as_nobody(), reason="needs root and setpriv to drop to nobody")
def test_meta_data_as_nobody_through_main():
    # what ocf-tester does: `su nobody -c "$agent meta-data"`
    done, _ = spawn('dispatcher.main(ToyAgent, ["toy", "meta-data"])', {}, *AS_NOBODY)
    assert done.returncode == 0, done.stderr
    root = etree.fromstring(done.stdout.encode())
    if os.path.exists(RA_DTD):
        assert etree.DTD(RA_DTD).validate(root)


# -- the watchdog, in a real process -------------------------------------------------------


def test_a_hung_agent_is_answered_with_exit_1_when_its_bound_runs_out() -> None:
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {HERE!r})
        from fence_toy import ToyFence
        from havirt.ocf import fencing

        class Hung(ToyFence):
            def get_power_status(self, ctx, session, plug):
                time.sleep(30)

        fencing.main(Hung, ["fence_toy", "-o", "status", "-n", "vm1", "--login-timeout=0.5"])
        """
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env={}
    )
    elapsed = time.monotonic() - started
    assert done.returncode == EXIT_ERROR
    # bound: 2 x login_timeout + 1 s, plus the watchdog's 1 s slack
    assert elapsed < 10, f"answered after {elapsed:.1f}s"
    assert "ERROR: fence_toy did not finish within 2s; giving up" in done.stderr
