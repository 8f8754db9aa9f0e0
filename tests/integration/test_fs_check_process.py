"""The filesystem checks' child as the agent runs it: a real process through the
CommandRunner, bounded and killed at its deadline, importing nothing but os.

Not unit tests: they start processes on this machine and measure real time. The
child's work and the agent's judging are unit-tested in tests/unit/agents/test_fs_check.py.
"""

from __future__ import annotations

import os
import sys
import time

from havirt.agents.pool import fs_check
from havirt.ocf.runner import KILL_WAIT, CommandRunner


def test_exists_stat_and_write_on_a_real_directory(tmp_path) -> None:
    runner = CommandRunner()
    assert fs_check.exists_check(runner, str(tmp_path), 10).ok
    assert fs_check.stat_check(runner, str(tmp_path), 10).ok
    check = fs_check.write_check(runner, str(tmp_path), ".havirt-status-node1", 10)
    assert check.ok, check
    assert os.listdir(tmp_path) == []  # the status file is removed again


def test_a_check_that_blocks_is_ended_at_its_bound(tmp_path) -> None:
    # Opening a FIFO for writing blocks until a reader comes: a real, killable hang.
    os.mkfifo(tmp_path / "status")
    started = time.monotonic()
    check = fs_check.write_check(CommandRunner(), str(tmp_path), "status", 0.5)
    assert time.monotonic() - started < 0.5 + KILL_WAIT
    assert not check.ok and check.hung
    assert "did not answer within 0.5s" in check.problem and "hung mount" in check.problem


def _imported(*argv: str) -> set[str]:
    result = CommandRunner().run([sys.executable, "-I", "-S", "-X", "importtime", *argv], 30)
    assert result.ok, result.describe()
    return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}


def test_the_child_imports_nothing_beyond_the_interpreters_start(tmp_path) -> None:
    # It runs at every deep monitor: nothing but os (and sys, always there).
    baseline = _imported("-c", "import __future__, os")
    assert _imported(fs_check.__file__, "exists", str(tmp_path)) - baseline == set()
