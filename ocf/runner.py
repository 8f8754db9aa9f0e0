"""The one place that runs external commands.

argv lists only (no shell), ``LC_ALL=C`` so output does not depend on the
admin's locale, a timeout on every call, and the whole process group killed
when it runs out. A command that SIGKILL cannot end at once (a process in
uninterruptible sleep on a hung mount, or one outside the group holding our
pipes) is given up on after a short wait instead of being waited for: the
caller gets its answer in time, the process is left behind. Code that runs
commands takes a ``Runner`` (the name its type annotations give ``CommandRunner``);
tests hand in a fake one with the same ``run``, never patch ``subprocess``.
"""

from __future__ import annotations

import os

from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Mapping, Sequence


TIMEOUT_RC = 124  # what timeout(1) and `crm_resource --wait` use for "timed out"
KILL_WAIT = 1.0  # seconds to wait for a SIGKILLed command to end before giving up on it


class CommandResult(Record):
    _defaults = {"timed_out": False, "stuck": False}
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    stuck: bool  # timed out and did not end when killed: left behind, not waited for

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe(self) -> str:
        """One line for an error message: the command and what it said."""
        what = " ".join(self.argv)
        if self.stuck:
            return f"'{what}' timed out and could not be killed (stuck in the kernel)"
        if self.timed_out:
            return f"'{what}' timed out"
        detail = (self.stderr.strip() or self.stdout.strip()).splitlines()
        tail = f": {detail[-1]}" if detail else ""
        return f"'{what}' exited {self.returncode}{tail}"


# Process groups of the commands running right now (each command gets its own).
# The watchdog kills them before it answers: a hung child (a monitor script, a
# mount helper) must not outlive the agent that Pacemaker was told is done.
_RUNNING: set[int] = set()


def kill_running() -> list[int]:
    """SIGKILL the process group of every command still running; returns their ids."""
    import signal

    killed = []
    for pgid in list(_RUNNING):
        try:
            os.killpg(pgid, signal.SIGKILL)
            killed.append(pgid)
        except (ProcessLookupError, PermissionError):
            pass
        _RUNNING.discard(pgid)
    return killed


class CommandRunner:
    """How agents and tools run an external command (or a test's fake with the same
    ``run``): each command in its own process group. ``argv`` is never run by a shell;
    after ``timeout`` seconds the command is killed and the result says ``timed_out``;
    ``stdin`` is its input, ``env`` what it gets on top of the runner's environment,
    ``cwd`` where it runs."""

    prefix: tuple[str, ...] = ()  # started before each command (a subclass's: PrefixRunner)

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        base = dict(os.environ if env is None else env)
        base["LC_ALL"] = "C"
        base.pop("LANGUAGE", None)
        self.env = base

    def run(
        self,
        argv: Sequence[str],
        timeout: float,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        import subprocess  # only the actions that run commands pay for it

        argv, run_env = self.command_line(argv, env)
        command = (*self.prefix, *argv)
        try:
            proc = subprocess.Popen(  # argv list, never a shell
                command,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=run_env,
                cwd=cwd,
                text=True,
                errors="replace",  # a tool printing invalid UTF-8 must not fail the action
                start_new_session=True,  # its own process group, so a timeout kills all of it
            )
        except OSError as exc:
            return CommandResult(argv, 127, "", f"{command[0]}: {exc.strerror}")
        _RUNNING.add(proc.pid)  # its process group id (start_new_session)
        try:
            return self._wait(proc, argv, stdin, timeout)
        finally:
            _RUNNING.discard(proc.pid)

    def command_line(
        self, argv: Sequence[str], env: Mapping[str, str] | None
    ) -> tuple[tuple[str, ...], dict[str, str]]:
        """The command ``run`` starts for ``argv`` (behind ``prefix``) and reports in its
        result, and the environment it gets: the runner's, with ``env`` on top."""
        run_env = dict(self.env)
        if env:
            run_env.update(env)
        return tuple(argv), run_env

    def _wait(
        self, proc: subprocess.Popen[str], argv: tuple[str, ...], stdin: str | None, timeout: float
    ) -> CommandResult:
        import subprocess

        try:
            out, err = proc.communicate(stdin, timeout=max(timeout, 0.001))
        except subprocess.TimeoutExpired:
            import signal  # only on this path: signal imports enum

            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                out, err = proc.communicate(timeout=KILL_WAIT)
            except subprocess.TimeoutExpired:
                # Still alive after SIGKILL (uninterruptible sleep, e.g. on a hung mount),
                # or the pipes are held elsewhere: waiting could take forever.
                for stream in (proc.stdout, proc.stderr):
                    if stream is not None:
                        stream.close()
                return CommandResult(argv, TIMEOUT_RC, "", "", timed_out=True, stuck=True)
            return CommandResult(argv, TIMEOUT_RC, out or "", err or "", timed_out=True)
        return CommandResult(argv, proc.returncode, out, err)


Runner = CommandRunner  # what code that runs commands takes (see the module docstring)
