"""What is mounted where, from /proc/self/mountinfo.

Reading this file never touches a mounted filesystem, so it answers at once even
when an NFS server or a FUSE daemon behind a mount has hung (``stat`` or
``os.path.ismount`` on the mount point would block). It is read in the caller's
mount namespace: a lab node, or a node's own.
"""

from __future__ import annotations

import os

from havirt.ocf.record import Record

MOUNTINFO = "/proc/self/mountinfo"


class Mount(Record):
    mount_point: str
    fstype: str
    source: str
    options: str  # the per-mount options (rw, nosuid, ...)


def unescape(field: str) -> str:
    """The kernel writes space, tab, newline and backslash as octal escapes (\\040...)."""
    if "\\" not in field:
        return field
    out: list[str] = []
    i = 0
    while i < len(field):
        chunk = field[i + 1 : i + 4]
        if field[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse(text: str) -> list[Mount]:
    """Every mount, in the kernel's order (a later entry on the same point is on top)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
            mount_point, options = fields[4], fields[5]
            fstype, source = fields[sep + 1], fields[sep + 2]
        except (ValueError, IndexError):
            continue  # not a mountinfo line
        mounts.append(Mount(unescape(mount_point), unescape(fstype), unescape(source), options))
    return mounts


def read(path: str = MOUNTINFO) -> list[Mount]:
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return parse(handle.read())


def mounts_at(target: str, mounts: list[Mount] | None = None) -> list[Mount]:
    """The mounts on ``target`` (compared as normalised text, never resolved), bottom first."""
    wanted = os.path.normpath(target)
    return [m for m in (read() if mounts is None else mounts) if m.mount_point == wanted]
