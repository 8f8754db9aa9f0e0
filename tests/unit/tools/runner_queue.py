"""A CommandRunner fake in pcs's test style: the test queues the exact calls it
expects, each with its answer; an unexpected call fails at once, and calls left
in the queue fail the test when it ends (use the ``runner_queue`` fixture)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest
from havirt.ocf.runner import CommandResult


class _Any:
    """Matches any single argument (temporary file names)."""

    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANY"


ANY: str = _Any()  # type: ignore[assignment]


@dataclass
class Expected:
    argv: tuple[str, ...]
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    env: Mapping[str, str] | None = None  # when given, these must be in the call's env
    # Runs with the actual argv when the call happens (to look at the files it names ...).
    effect: Callable[[tuple[str, ...]], None] | None = None


@dataclass
class QueueRunner:
    expected: list[Expected] = field(default_factory=list)
    done: list[tuple[str, ...]] = field(default_factory=list)

    def expect(self, argv: Sequence[str], **answer) -> QueueRunner:
        self.expected.append(Expected(tuple(argv), **answer))
        return self

    def run(self, argv, timeout, stdin=None, env=None, cwd=None) -> CommandResult:
        argv = tuple(argv)
        assert timeout > 0, f"{argv}: no timeout"
        if not self.expected:
            pytest.fail(f"unexpected call {argv}; already ran {self.done}")
        want = self.expected.pop(0)
        if argv != want.argv:
            pytest.fail(f"expected call {want.argv}\n          got {argv}")
        for key, value in (want.env or {}).items():
            assert (env or {}).get(key) == value, f"{argv}: env {key} should be {value}"
        self.done.append(argv)
        if want.effect is not None:
            want.effect(argv)
        return CommandResult(argv, want.returncode, want.stdout, want.stderr, want.timed_out)

    def check_all_used(self) -> None:
        if self.expected:
            left = [e.argv for e in self.expected]
            pytest.fail(f"expected calls never made: {left}")
