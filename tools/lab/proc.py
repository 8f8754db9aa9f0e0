"""Running commands for the lab: argv lists only, ``LC_ALL=C``, a timeout on each.

Every external command the lab runs goes through :func:`run`, so the rules
(no shell, C locale, bounded time, the whole process group killed on timeout)
hold everywhere.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_RC = 124


class LabError(RuntimeError):
    """The lab could not do what was asked (a command failed, a wait timed out...)."""


@dataclass(frozen=True)
class Result:
    """What a finished command did (like :class:`subprocess.CompletedProcess`)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe(self) -> str:
        """One line for an error message: the command and the last thing it said."""
        what = " ".join(self.argv)
        if self.timed_out:
            return f"'{what}' timed out"
        detail = (self.stderr.strip() or self.stdout.strip()).splitlines()
        tail = f": {detail[-1]}" if detail else ""
        return f"'{what}' exited {self.returncode}{tail}"

    def check(self) -> Result:
        """Return self, or raise :class:`LabError` if the command failed."""
        if not self.ok:
            raise LabError(self.describe())
        return self


def command_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a lab command: ours, C locale, plus ``extra``."""
    env = dict(os.environ)
    env.pop("LANGUAGE", None)
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    timeout: float = 60.0,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path = "/",
    check: bool = False,
) -> Result:
    """Run ``argv`` to completion and capture its output.

    On timeout the command's whole process group is killed and a result with
    ``timed_out=True`` (returncode 124) is returned (or raised with ``check``).
    """
    argv = tuple(str(a) for a in argv)
    try:
        proc = subprocess.Popen(  # argv list, never a shell
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=command_env(env),
            cwd=cwd,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        result = Result(argv, 127, "", f"{argv[0]}: {exc.strerror}")
        return result.check() if check else result
    try:
        out, err = proc.communicate(input, timeout=max(timeout, 0.001))
        result = Result(argv, proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        result = Result(argv, TIMEOUT_RC, out or "", err or "", timed_out=True)
    return result.check() if check else result


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
        if log:
            out.close()  # type: ignore[union-attr]
