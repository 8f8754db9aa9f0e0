"""Reading a node-local file an agent is configured with, each failure as its OCF code.

A missing file is ERR_INSTALLED (not on this node: another node may have it); a
directory, a FIFO, a device, a file larger than ``limit`` or undecodable text is
ERR_CONFIGURED; an unreadable one ERR_PERM. The file is opened without blocking (a
FIFO with no writer would hang the agent) and never read past ``limit`` (``/dev/zero``
or a huge file would fill memory). Every failure is a :class:`FileProblem`: a problem
of the file's content or kind, which an agent may treat more gently than a malformed
parameter while its resource runs well (the file may be half-written right now).
"""

from __future__ import annotations

import os
import stat

from .errors import OcfError
from .exitcodes import OcfExit

DEFAULT_LIMIT = 4 << 20  # a libvirt domain or pool definition is a few KiB


class FileProblem(OcfError):
    """A configured file is missing, unreadable, of the wrong kind or malformed."""

    def __init__(self, code: OcfExit, reason: str, path: str) -> None:
        super().__init__(code, reason)
        self.path = path


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


def read_text(path: str, what: str, limit: int = DEFAULT_LIMIT) -> str:
    """The UTF-8 text of ``path``; ``what`` names it in messages ("config file ...")."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileProblem(
            OcfExit.ERR_INSTALLED,
            f"{what} {path} does not exist on this node: copy it here or put it on shared storage",
            path,
        ) from None
    except IsADirectoryError:
        raise FileProblem(
            OcfExit.ERR_CONFIGURED, f"{what} {path} is a directory, not a file", path
        ) from None
    except OSError as exc:
        raise FileProblem(
            OcfExit.ERR_PERM, f"cannot read {what} {path}: {exc.strerror}", path
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(
                OcfExit.ERR_CONFIGURED,
                f"{what} {path} is {_kind(info.st_mode)}, not a regular file: point the "
                "parameter at the file itself",
                path,
            )
        if info.st_size > limit:
            raise FileProblem(OcfExit.ERR_CONFIGURED, _too_big(what, path, limit), path)
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew while being read
            raise FileProblem(OcfExit.ERR_CONFIGURED, _too_big(what, path, limit), path)
    except OSError as exc:
        raise FileProblem(
            OcfExit.ERR_PERM, f"cannot read {what} {path}: {exc.strerror}", path
        ) from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            OcfExit.ERR_CONFIGURED,
            f"{what} {path} is not UTF-8 text (byte {exc.start}): fix the file",
            path,
        ) from None


def _too_big(what: str, path: str, limit: int) -> str:
    size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"
    return f"{what} {path} is larger than {size}: not the file meant; fix the path"
