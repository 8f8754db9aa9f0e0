"""The filesystem checks: the child's work on the test's own directories, and how the agent
judges its answers. The child runs in-process here (``ChildInProcess``); as a real process,
bounded and killed by the CommandRunner, it is tested in
tests/integration/test_fs_check_process.py."""

from __future__ import annotations

import contextlib
import io

from havirt.agents.pool import fs_check
from havirt.ocf.runner import TIMEOUT_RC, CommandResult


class ChildInProcess:
    """A CommandRunner that runs fs_check's child (``python -I -S fs_check.py ARGS``) by
    calling its ``child_main`` here: its output and exit code, no process."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def run(self, argv, timeout, stdin=None, env=None, cwd=None) -> CommandResult:
        argv = tuple(argv)
        self.calls.append(argv)
        assert argv[1:4] == ("-I", "-S", fs_check.__file__), argv
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = fs_check.child_main(list(argv[4:]))
        return CommandResult(argv, rc, out.getvalue(), "")


def test_exists_stat_and_write_on_a_directory(tmp_path) -> None:
    runner = ChildInProcess()
    assert fs_check.exists_check(runner, str(tmp_path), 10).ok
    assert fs_check.stat_check(runner, str(tmp_path), 10).ok
    check = fs_check.write_check(runner, str(tmp_path), ".havirt-status-node1", 10)
    assert check.ok, check
    assert list(tmp_path.iterdir()) == []  # the status file is removed again
    assert [c[4] for c in runner.calls] == ["exists", "stat", "write"]


def test_a_check_that_times_out_is_a_hung_mount() -> None:
    class Timeout:
        def run(self, argv, timeout, stdin=None, env=None, cwd=None) -> CommandResult:
            return CommandResult(tuple(argv), TIMEOUT_RC, "", "", timed_out=True)

    check = fs_check.write_check(Timeout(), "/srv/pool", "status", 0.5)
    assert not check.ok and check.hung
    assert "did not answer within 0.5s" in check.problem and "hung mount" in check.problem


def test_a_missing_target(tmp_path) -> None:
    check = fs_check.stat_check(ChildInProcess(), str(tmp_path / "nope"), 10)
    assert not check.ok and check.missing
    assert (
        check.problem == f"{tmp_path / 'nope'} does not exist (No such file or directory: "
        f"{tmp_path / 'nope'})"
    )


def test_a_file_is_no_target(tmp_path) -> None:
    (tmp_path / "f").write_text("")
    check = fs_check.exists_check(ChildInProcess(), str(tmp_path / "f"), 10)
    assert not check.ok and not check.missing and "not a directory" in check.problem


def test_a_target_that_cannot_take_a_file(tmp_path) -> None:
    (tmp_path / "f").write_text("")
    check = fs_check.write_check(ChildInProcess(), str(tmp_path / "f"), "s", 10)
    assert not check.ok and not check.missing
    assert check.problem == (
        f"writing the status file s in {tmp_path / 'f'} failed: Not a directory: "
        f"{tmp_path / 'f' / 's'}"
    )


def test_a_stuck_child_is_reported_as_left_behind() -> None:
    result = CommandResult(("python",), TIMEOUT_RC, "", "", timed_out=True, stuck=True)
    check = fs_check._judge(result, "stat of /x", "/x", 3.0)
    assert check.hung and "could not be killed and was left behind" in check.problem


def test_usage_errors() -> None:
    assert fs_check.child_main(["bogus"]) == fs_check.USAGE
