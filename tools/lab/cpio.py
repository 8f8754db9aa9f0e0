"""A minimal writer for initramfs archives (cpio "newc" format).

Written in Python so building a guest needs neither cpio(1) nor root-only
``mknod``: device nodes such as ``/dev/console`` are just archive entries.
Entries carry uid/gid 0 and mtime 0, so the same input gives the same bytes.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field

_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


@dataclass
class CpioArchive:
    """An archive built in memory: add entries, then :meth:`getvalue`."""

    _chunks: list[bytes] = field(default_factory=list)
    _ino: int = 0

    def _entry(
        self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)
    ) -> None:
        self._ino += 1
        name_bytes = name.lstrip("/").encode() + b"\0" if name != _TRAILER else b"TRAILER!!!\0"
        fields = (
            self._ino if name != _TRAILER else 0,
            mode,
            0,  # uid
            0,  # gid
            2 if stat.S_ISDIR(mode) else 1,  # nlink
            0,  # mtime
            len(data),
            0,  # devmajor
            0,  # devminor
            rdev[0],
            rdev[1],
            len(name_bytes),
            0,  # check
        )
        header = _MAGIC + b"".join(b"%08X" % value for value in fields)
        self._chunks += [header, name_bytes, _pad4(len(header) + len(name_bytes))]
        self._chunks += [data, _pad4(len(data))]

    def add_dir(self, name: str, perm: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | perm)

    def add_file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def add_symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def add_chardev(self, name: str, major: int, minor: int, perm: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def getvalue(self) -> bytes:
        """The archive bytes, trailer included (the archive stays usable)."""
        saved = (list(self._chunks), self._ino)
        self._entry(_TRAILER, 0)
        value = b"".join(self._chunks)
        self._chunks, self._ino = saved
        return value
