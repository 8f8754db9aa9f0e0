"""Running commands for the lab: argv lists only, ``LC_ALL=C``, a timeout on each.

Every external command the lab runs goes through :func:`run`, so the rules
(no shell, C locale, bounded time, the whole process group killed on timeout)
hold everywhere.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, Self

from havirt.ocf.runner import TIMEOUT_RC, CommandResult, CommandRunner

# The lab's commands go through the project's one command runner; a result is its
# CommandResult (argv, returncode, stdout, stderr, timed_out, ok, describe()).
Result = CommandResult
__all__ = [
    "TIMEOUT_RC",
    "LabError",
    "Result",
    "StartStop",
    "all_or_nothing",
    "checked",
    "command_env",
    "run",
    "spawn",
]


class LabError(RuntimeError):
    """The lab could not do what was asked (a command failed, a wait timed out...)."""


def all_or_nothing(make: Callable[[], None], undo: Callable[[], None]) -> None:
    """Run ``make``; when it fails (or is interrupted), ``undo`` what it made so far and
    re-raise (an error of ``undo`` itself does not hide the first one)."""
    try:
        make()
    except BaseException:
        with contextlib.suppress(Exception):
            undo()
        raise


class StartStop:
    """Something the lab starts and stops: ``with thing:`` starts it and stops it
    again, also when the block fails."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def checked(result: Result) -> Result:
    """Return ``result``, or raise :class:`LabError` if the command failed."""
    if not result.ok:
        raise LabError(result.describe())
    return result


def command_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a lab command: ours, C locale, plus ``extra``."""
    env = dict(os.environ)
    env.pop("LANGUAGE", None)
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str | Path],
    *,
    timeout: float = 60.0,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path = "/",
    check: bool = False,
) -> Result:
    """Run ``argv`` to completion and capture its output (see CommandRunner.run).

    On timeout the command's whole process group is killed and a result with
    ``timed_out=True`` (returncode 124) is returned (or raised with ``check``).
    """
    result = CommandRunner(command_env(env)).run(
        [str(a) for a in argv], timeout=timeout, stdin=input, cwd=str(cwd)
    )
    return checked(result) if check else result


class Namespaced(Protocol):
    """Something that runs commands inside namespaces: ``command`` prefixes an argv
    (nsenter ...), ``exec`` runs it to completion with ``EXEC_ENV`` added.

    A protocol with a default ``exec``: the lab's nodes and controller subclass it,
    and what else uses a node (:class:`~.ssh.SshNode`) extends it."""

    EXEC_ENV: Mapping[str, str] = {}

    def command(self, argv: Sequence[str]) -> list[str]:
        raise NotImplementedError

    def exec(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        input: str | None = None,
        check: bool = False,
    ) -> Result:
        """Run ``argv`` there and wait for it; see :func:`run`."""
        full_env = {**self.EXEC_ENV, **(env or {})}
        return run(self.command(argv), env=full_env, timeout=timeout, input=input, check=check)


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-lived process in its own session; output goes to ``log`` or nowhere."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        return subprocess.Popen(  # argv list, never a shell
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=command_env(env),
            cwd="/",
            start_new_session=True,
        )
    finally:
        if not isinstance(out, int):  # the log file (DEVNULL is an int)
            out.close()
