"""Checks of a mounted filesystem that can never hang the agent.

On a hung NFS server or FUSE daemon, ``stat`` of the mount point blocks, often
in a way no signal interrupts. So the agent never touches the pool's target
itself: each check runs in a child process (this file, run as a script by the
interpreter the agent runs in, with only ``os`` imported) through the command
runner, which kills the child at the deadline and gives up on it if even
SIGKILL cannot end it (uninterruptible sleep). The agent answers in time
either way; a stuck child is left behind and ends when the mount recovers or
is detached.

- ``exists``: ``stat`` of the target, which must be a directory (may be
  answered from the kernel's attribute cache).
- ``stat``: ``stat`` and ``statvfs`` of the target (statvfs always asks the
  server or daemon; a cached ``stat`` alone may not).
- ``write``: create a per-node status file in the target, write a unique
  token, fsync it, drop it from the page cache, read it back, compare, remove
  it, fsync the directory.
"""

from __future__ import annotations

import os
import sys

# Child exit codes (besides 0 = fine).
FAILED, MISMATCH, MISSING, USAGE = 1, 2, 3, 64


def _exists(target: str) -> str:
    st = os.stat(target)
    if not (st.st_mode & 0o170000) == 0o040000:
        raise NotADirectoryError(20, "not a directory", target)
    return f"ok dev={st.st_dev}"


def _stat(target: str) -> str:
    _exists(target)
    vfs = os.statvfs(target)
    return f"ok free_blocks={vfs.f_bavail}"


def _write(target: str, name: str, token: str) -> str:
    path = os.path.join(target, name)
    data = token.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:  # read from the storage, not from what we just wrote into the page cache
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass
        back = os.read(fd, len(data) + 1)
    finally:
        os.close(fd)
    os.unlink(path)
    dfd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the file is gone either way
    finally:
        os.close(dfd)
    if back != data:
        raise ValueError(f"read back {back[:40]!r} instead of the {len(data)} bytes written")
    return f"ok wrote, read back and removed {path}"


def child_main(argv: list[str]) -> int:
    """Entry of the child process: one line on stdout, the outcome as exit code."""
    try:
        if len(argv) == 2 and argv[0] == "exists":
            print(_exists(argv[1]))
        elif len(argv) == 2 and argv[0] == "stat":
            print(_stat(argv[1]))
        elif len(argv) == 4 and argv[0] == "write":
            print(_write(argv[1], argv[2], argv[3]))
        else:
            print("usage: fs_check.py exists|stat TARGET | write TARGET NAME TOKEN")
            return USAGE
    except FileNotFoundError as exc:
        print(f"{exc.strerror}: {exc.filename}")
        return MISSING
    except OSError as exc:
        print(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return FAILED
    except ValueError as exc:
        print(str(exc))
        return MISMATCH
    return 0


# -- the agent's side ------------------------------------------------------------------

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.ocf.runner import CommandResult, Runner


class CheckResult:
    def __init__(self, ok: bool, problem: str | None = None, missing: bool = False) -> None:
        self.ok = ok
        self.problem = problem  # one line for an exit reason, None when ok
        self.missing = missing  # the target does not exist
        # Did not answer in time (or the child could not even be killed): a hung mount.
        self.hung = False

    def __repr__(self) -> str:
        return f"CheckResult(ok={self.ok}, problem={self.problem!r}, missing={self.missing})"


def _run(runner: Runner, args: list[str], seconds: float) -> CommandResult:
    argv = [sys.executable, "-I", "-S", os.path.abspath(__file__), *args]
    return runner.run(argv, timeout=seconds)


def _judge(result: CommandResult, what: str, target: str, seconds: float) -> CheckResult:
    """``what``: the check as the start of a sentence, naming the target."""
    said = result.stdout.strip().splitlines()
    detail = said[-1] if said else result.stderr.strip()[-200:]
    if result.ok:
        return CheckResult(True)
    if result.timed_out:
        problem = (
            f"{what} did not answer within {seconds:.1f}s "
            "(hung mount or unresponsive storage server?)"
        )
        if result.stuck:
            problem += "; the check process could not be killed and was left behind"
        check = CheckResult(False, problem)
        check.hung = True
        return check
    if result.returncode == MISSING:
        return CheckResult(False, f"{target} does not exist ({detail})", missing=True)
    return CheckResult(False, f"{what} failed: {detail or result.describe()}")


def exists_check(runner: Runner, target: str, seconds: float) -> CheckResult:
    """``stat`` of ``target`` (a directory) in a child, bounded by ``seconds``."""
    result = _run(runner, ["exists", target], seconds)
    return _judge(result, f"stat of {target}", target, seconds)


def stat_check(runner: Runner, target: str, seconds: float) -> CheckResult:
    """``stat`` + ``statvfs`` of ``target`` in a child, bounded by ``seconds``."""
    result = _run(runner, ["stat", target], seconds)
    return _judge(result, f"stat and statfs of {target}", target, seconds)


def write_check(runner: Runner, target: str, name: str, seconds: float) -> CheckResult:
    """Write, fsync, read back and remove ``target/name`` in a child, bounded by ``seconds``."""
    token = f"havirt {name} {os.getpid()} {os.urandom(8).hex()}\n"
    result = _run(runner, ["write", target, name, token], seconds)
    return _judge(result, f"writing the status file {name} in {target}", target, seconds)


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
