"""One CIB change as one transaction: the CIB as it was read and as it should be, written
to a private temporary directory, then ``pcs cluster cib-push NEW diff-against=ORIGINAL``
(:meth:`PacemakerAdapter.push_cib`). pcs pushes only the difference, and Pacemaker
refuses the patch when the CIB changed meanwhile: another admin's change is never
overwritten. ``havirt domain add`` and ``havirt generate --apply`` push this way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable

from havirt.tools.errors import HavirtError
from havirt.tools.pacemaker.adapter import PacemakerAdapter
from lxml import etree

ORIGINAL, NEW = "original.xml", "new.xml"


def _bytes(cib: str | bytes | etree._Element) -> bytes:
    if isinstance(cib, etree._Element):
        return etree.tostring(cib)
    return cib.encode("utf-8") if isinstance(cib, str) else cib


def push_change(
    pacemaker: PacemakerAdapter,
    original: str | bytes | etree._Element,
    new: str | bytes | etree._Element,
    directory: str,
    *,
    prefix: str = ".havirt-push-",
    check: Callable[[str], None] | None = None,
) -> None:
    """Push ``new`` against ``original`` (the CIB as read) as one transaction.

    Both are written into a directory of their own (mode 0700) inside ``directory``,
    removed again in every case. ``check`` is called with the new file's path before the
    push (crm_verify, say) and refuses by raising. Nothing is pushed when a file cannot
    be written (HavirtError, one line) or ``check`` raises."""
    try:
        work = tempfile.mkdtemp(prefix=prefix, dir=directory)
    except OSError as exc:
        raise HavirtError(
            f"cannot write into {directory}: {exc.strerror}; nothing was pushed",
            "the CIB's working copies are written there: check its permissions",
        ) from None
    try:
        original_file, new_file = os.path.join(work, ORIGINAL), os.path.join(work, NEW)
        try:
            for path, cib in ((original_file, original), (new_file, new)):
                with open(path, "wb") as handle:
                    handle.write(_bytes(cib))
        except OSError as exc:
            raise HavirtError(
                f"cannot write into {directory}: {exc.strerror}; nothing was pushed",
                "the CIB's working copies are written there: check its free space",
            ) from None
        if check is not None:
            check(new_file)
        pacemaker.push_cib(new_file, original_file)
    finally:
        shutil.rmtree(work, ignore_errors=True)
