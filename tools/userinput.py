"""Everything a user hands the CLI, read or checked the one safe way.

- :func:`read_bytes` / :func:`read_text`: a file named on the command line (an
  inventory, a cluster.conf, a generated cib.xml). Opened without blocking (a FIFO
  with no writer would hang), refused when it is a directory, FIFO, device or
  socket, never read past a size cap (``/dev/zero`` would fill memory).
- :func:`parse_xml`: every lxml parse of XML that comes from outside (a cib.xml, the
  live CIB, a tool's output): no entities resolved, no network, no DTD, no huge
  text nodes, a depth cap; a syntax error becomes a one-line :class:`HavirtError`.
- :func:`output_dir` / :func:`output_file`: an output path checked before anything
  is written (a file where a directory is needed, missing parent, not writable,
  under /proc or /sys).
- :func:`quote`: a user value as it may appear in an error line: printable, capped.

Every failure is a :class:`HavirtError` of one line naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from typing import cast

from havirt.ocf.files import DIRECTORY, MISSING, SPECIAL, UNREADABLE, Refused, read_regular
from havirt.tools.errors import HavirtError
from lxml import etree

FILE_LIMIT = 16 << 20  # an inventory or a CIB of a few dozen nodes is well under 1 MiB
XML_DEPTH_LIMIT = 256  # a CIB nests about 10 deep
QUOTE_LIMIT = 60

# Kernel pseudo-filesystems: writing there changes the kernel, never a file.
PSEUDO_ROOTS = ("/proc", "/sys")


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``value`` for an error line: repr-quoted, printable, the first ``limit``
    characters and "..." when longer."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return repr(text[:limit]) + "..."
    return repr(text)


def read_bytes(path: str, what: str, limit: int = FILE_LIMIT) -> bytes:
    """The bytes of the regular file ``path``; ``what`` names it ("inventory")."""
    try:
        return read_regular(path, limit)
    except Refused as refused:
        if refused.why == MISSING:
            raise HavirtError(f"{what} {path} does not exist", "check the path") from None
        if refused.why == DIRECTORY:
            raise HavirtError(
                f"{what} {path} is a directory, not a file", "name the file itself"
            ) from None
        if refused.why == UNREADABLE:
            raise HavirtError(
                f"cannot read {what} {path}: {refused.detail}", "check its permissions"
            ) from None
        if refused.why == SPECIAL:
            raise HavirtError(
                f"{what} {path} is {refused.detail}, not a regular file",
                "name a regular file (copy the content to one first)",
            ) from None
        raise HavirtError(
            f"{what} {path} is larger than {limit >> 20} MiB",
            "this is not the file you meant; check the path",
        ) from None


def decode(data: bytes, what: str, path: str) -> str:
    """``data`` as UTF-8, or an error naming the file, line and byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HavirtError(
            f"{what} {path} is not UTF-8 text (line {line}, byte {exc.start})",
            "check the path; a text file is expected",
        ) from None


def read_text(path: str, what: str, limit: int = FILE_LIMIT) -> str:
    return decode(read_bytes(path, what, limit), what, path)


# -- XML ----------------------------------------------------------------------------------


def _parser(remove_blank_text: bool) -> etree.XMLParser:
    return etree.XMLParser(
        remove_blank_text=remove_blank_text,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
    )


_PARSERS = {True: _parser(True), False: _parser(False)}


def _one_line(message: str) -> str:
    first = message.splitlines()[0] if message.strip() else "malformed"
    first = re.sub(r"\s*\(<string>, line \d+\)$", "", first)
    first = first.replace(", use XML_PARSE_HUGE option", "")  # libxml2's own advice, not ours
    return first if len(first) <= 200 else first[:200] + "..."


def parse_xml(data: str | bytes, what: str, remove_blank_text: bool = False) -> etree._Element:
    """The root element of ``data`` (XML from outside); ``what`` names it in errors."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    try:
        root = etree.fromstring(raw, _PARSERS[remove_blank_text])
    except etree.XMLSyntaxError as exc:
        raise HavirtError(
            f"{what} is not well-formed XML: {_one_line(str(exc))}",
            "check the file or the cluster's CIB (cibadmin --query)",
        ) from None
    except (ValueError, etree.LxmlError) as exc:  # e.g. an encoding declaration in a str
        raise HavirtError(f"{what} is not usable XML: {_one_line(str(exc))}") from None
    if root is None:
        raise HavirtError(f"{what} is empty", "check the file or the cluster's CIB")
    for node in root.iter(etree.Entity):  # only entities, though the stubs say elements
        raise HavirtError(
            f"{what} uses the entity &{cast(etree._Entity, node).name};, "
            "which havirt does not expand",
            "write the value itself instead of an entity",
        )
    _check_depth(root, what)
    return root


def _check_depth(root: etree._Element, what: str) -> None:
    # iterative: a deep tree must not exhaust Python's stack here or later
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > XML_DEPTH_LIMIT:
            raise HavirtError(
                f"{what} nests elements more than {XML_DEPTH_LIMIT} deep",
                "this is not a CIB or libvirt definition; check the file",
            )
        stack.extend((child, depth + 1) for child in el)


# -- output paths -------------------------------------------------------------------------


def _pseudo(path: str) -> str | None:
    real = os.path.realpath(path)
    for root in PSEUDO_ROOTS:
        if real == root or real.startswith(root + "/"):
            return root
    return None


def writable(directory: str) -> bool:
    """May this process create files in ``directory`` (permissions, a read-only mount)?"""
    return os.access(directory, os.W_OK | os.X_OK) and not read_only(directory)


def read_only(path: str) -> bool:
    """Is ``path`` on a read-only mount (False when that cannot be told)?"""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _nearest_existing(path: str) -> str:
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def output_dir(path: str, option: str, writable: Callable[[str], bool] = writable) -> None:
    """Refuse, before anything is written, ``path`` as a directory to write into
    (created if missing); ``option`` names the option in the message ("-o");
    ``writable`` says whether a directory is (this machine's answer by default)."""
    _refuse_pseudo(path, option, "directory")
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise HavirtError(
                f"{option} {path} exists and is not a directory", f"pass a directory as {option}"
            )
        base = path
    else:
        base = _nearest_existing(path)
        if not os.path.isdir(base):
            raise HavirtError(
                f"{option} {path} cannot be created: {base} is not a directory",
                f"pass another directory as {option}",
            )
    _refuse_unwritable(path, base, option, "directory", writable)


def output_file(path: str, option: str, writable: Callable[[str], bool] = writable) -> None:
    """Refuse, before anything is written, ``path`` as a file to (re)write atomically
    (a temporary file next to it, then a rename); ``writable`` as for output_dir."""
    _refuse_pseudo(path, option, "file")
    if os.path.isdir(path):
        raise HavirtError(f"{option} {path} is a directory", f"name a file as {option}")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise HavirtError(
            f"{option} {path} exists and is not a regular file", f"name a regular file as {option}"
        )
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        what = "does not exist" if not os.path.exists(parent) else "is not a directory"
        raise HavirtError(
            f"{option} {path}: the directory {parent} {what}",
            f"create it first or pass another file as {option}",
        )
    _refuse_unwritable(path, parent, option, "file", writable)


def _refuse_pseudo(path: str, option: str, kind: str) -> None:
    """Refuse ``path`` under a kernel filesystem (/proc, /sys, ...) as a ``kind`` to write."""
    root = _pseudo(path)
    if root is not None:
        raise HavirtError(
            f"{option} {path} is under {root}, a kernel filesystem, not a place for files",
            f"pass another {kind} as {option}",
        )


def _refuse_unwritable(
    path: str, base: str, option: str, kind: str, writable: Callable[[str], bool]
) -> None:
    """Refuse ``path`` when ``base``, the directory it would be written in, is not writable."""
    if not writable(base):
        why = "is read-only" if read_only(base) else "is not writable by this user"
        raise HavirtError(f"{option} {path}: {base} {why}", f"pass another {kind} as {option}")


def write_atomically(path: str, text: str, hint: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file next to it and a rename, so
    that no reader ever sees half a file; ``mode`` whatever the umask (None: as the umask
    allows). HavirtError with ``hint`` when it cannot."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode or 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if mode is not None:
                os.fchmod(fd, mode)
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise HavirtError(f"cannot write {path}: {exc.strerror}", hint) from None
