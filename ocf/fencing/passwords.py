"""Where a fence agent's password comes from: ``password=`` on standard input, a file
(``password_file``) or a script (``password_script``), never the command line (``ps``
shows every argument to every user); never logged, never quoted in a message."""

from __future__ import annotations

import os

from havirt.ocf.fencing.actions import FenceError
from havirt.ocf.params import shown

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.ocf.fencing.agent import FenceContext


def check_sources(ctx: FenceContext) -> None:
    given = [n for n in ("password", "password_file", "password_script") if ctx.options.get(n)]
    if len(given) > 1:
        raise FenceError(f"give only one of {', '.join(given)}: they all set the password")


def validate_sources(ctx: FenceContext) -> None:
    """validate-all: the file is readable and the script exists, without reading or running."""
    path = ctx.options.get("password_file")
    if path and not os.access(path, os.R_OK):
        raise FenceError(f"password_file {path} cannot be read")
    script = ctx.options.get("password_script")
    if script:
        argv = _script_argv(script)
        program = argv[0]
        if "/" in program:
            found = os.access(program, os.X_OK)
        else:
            found = ctx.host.which(program) is not None
        if not found:
            raise FenceError(f"password_script: {program} is not an executable program")


def _script_argv(script: str) -> list[str]:
    import shlex  # only when a password script is configured

    try:
        argv = shlex.split(script)
    except ValueError as exc:
        raise FenceError(
            f"password_script: cannot split {shown(script)} into words: {exc}"
        ) from None
    if not argv:
        raise FenceError("password_script is empty")
    return argv


def read_password(ctx: FenceContext) -> str | None:
    opts = ctx.options
    if opts.get("password"):
        password: str = opts.password
        return password
    if opts.get("password_file"):
        path = opts.password_file
        from havirt.ocf.files import FileProblem, read_text

        try:  # without blocking on a FIFO, never past 64 KiB (/dev/zero), regular files only
            first = read_text(path, "password_file", limit=64 << 10).split("\n", 1)[0]
        except FileProblem as exc:
            raise FenceError(exc.reason) from None
        first = first.rstrip("\r")
        if not first:
            raise FenceError(f"password_file {path} is empty")
        return first
    if opts.get("password_script"):
        argv = _script_argv(opts.password_script)
        seconds = max(0.1, min(opts.login_timeout, ctx.deadline.remaining()))
        result = ctx.runner.run(argv, timeout=seconds)
        # Never quote its standard output in a message: that is the password.
        if result.timed_out:
            raise FenceError(f"password_script {argv[0]} did not finish within {seconds:g}s")
        if result.returncode != 0:
            detail = result.stderr.strip().splitlines()
            tail = f": {detail[-1]}" if detail else ""
            raise FenceError(f"password_script {argv[0]} exited {result.returncode}{tail}")
        lines = result.stdout.splitlines()
        if not lines or not lines[0]:
            raise FenceError(f"password_script {argv[0]} printed no password")
        return lines[0]
    return None
