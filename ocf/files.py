"""Reading a file someone else wrote, the one safe way, and an agent's view of it.

:func:`read_regular` is the mechanism every reader of outside files shares (the
agents here, the CLI in ``havirt.tools.userinput``): the file is opened without
blocking (a FIFO with no writer would hang), refused unless it is a regular file
(a FIFO, a device such as ``/dev/zero``, a directory, a socket), and never read past
a size cap (a huge file would fill memory). It raises :class:`Refused`, saying why,
and each caller words that for its own users.

:func:`read_text` is the agents' reader: a missing file is ERR_INSTALLED (not on this
node: another node may have it); a directory, a FIFO, a device, a file larger than
``limit`` or undecodable text is ERR_CONFIGURED; an unreadable one ERR_PERM. Every
failure is a :class:`FileProblem`: a problem of the file's content or kind, which an
agent may treat more gently than a malformed parameter while its resource runs well
(the file may be half-written right now).
"""

from __future__ import annotations

import os
import stat

from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit

DEFAULT_LIMIT = 4 << 20  # a libvirt domain or pool definition is a few KiB

# Why read_regular refused a file (Refused.why).
MISSING, DIRECTORY, UNREADABLE, SPECIAL, TOO_BIG = (
    "missing",
    "directory",
    "unreadable",
    "special",
    "too big",
)


class Refused(Exception):
    """``why`` (one of the names above) and ``detail``: the OS's words for UNREADABLE,
    the kind of file ("a FIFO", "a device", ...) for SPECIAL."""

    def __init__(self, why: str, detail: str = "") -> None:
        super().__init__(f"{why}: {detail}" if detail else why)
        self.why = why
        self.detail = detail


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular(path: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; else Refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Refused(MISSING) from None
    except IsADirectoryError:
        raise Refused(DIRECTORY) from None
    except OSError as exc:
        raise Refused(UNREADABLE, exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise Refused(DIRECTORY)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(SPECIAL, _kind(info.st_mode))
        if info.st_size > limit:
            raise Refused(TOO_BIG)
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew while being read
            raise Refused(TOO_BIG)
    except OSError as exc:
        raise Refused(UNREADABLE, exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


class FileProblem(OcfError):
    """A configured file is missing, unreadable, of the wrong kind or malformed."""

    def __init__(self, code: OcfExit, reason: str, path: str) -> None:
        super().__init__(code, reason)
        self.path = path


def read_text(path: str, what: str, limit: int = DEFAULT_LIMIT) -> str:
    """The UTF-8 text of ``path``; ``what`` names it in messages ("config file ...")."""
    try:
        data = read_regular(path, limit)
    except Refused as refused:
        raise _problem(refused, path, what, limit) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            OcfExit.ERR_CONFIGURED,
            f"{what} {path} is not UTF-8 text (byte {exc.start}): fix the file",
            path,
        ) from None


def _problem(refused: Refused, path: str, what: str, limit: int) -> FileProblem:
    if refused.why == MISSING:
        return FileProblem(
            OcfExit.ERR_INSTALLED,
            f"{what} {path} does not exist on this node: copy it here or put it on shared storage",
            path,
        )
    if refused.why == UNREADABLE:
        return FileProblem(OcfExit.ERR_PERM, f"cannot read {what} {path}: {refused.detail}", path)
    if refused.why == DIRECTORY:
        return FileProblem(
            OcfExit.ERR_CONFIGURED, f"{what} {path} is a directory, not a file", path
        )
    if refused.why == SPECIAL:
        return FileProblem(
            OcfExit.ERR_CONFIGURED,
            f"{what} {path} is {refused.detail}, not a regular file: point the "
            "parameter at the file itself",
            path,
        )
    return FileProblem(
        OcfExit.ERR_CONFIGURED,
        f"{what} {path} is larger than {limit >> 20} MiB: not a definition; fix the path",
        path,
    )
