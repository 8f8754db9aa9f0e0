"""What a command's result says; the runner itself runs real processes and is tested in
tests/integration/test_command_runner.py."""

from __future__ import annotations

from havirt.ocf.runner import CommandResult


def test_describe_falls_back_to_stdout_then_nothing():
    assert CommandResult(("x",), 1, "said\n", "").describe() == "'x' exited 1: said"
    assert CommandResult(("x", "y"), 2, "", "  ").describe() == "'x y' exited 2"


def test_a_timeout_and_a_stuck_command_are_described_as_such():
    assert CommandResult(("s", "1"), 124, "", "", timed_out=True).describe() == "'s 1' timed out"
    stuck = CommandResult(("s",), 124, "", "", timed_out=True, stuck=True)
    assert "could not be killed" in stuck.describe()
    assert not stuck.ok and CommandResult(("t",), 0, "", "").ok
