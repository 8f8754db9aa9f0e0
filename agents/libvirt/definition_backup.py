"""Where agents keep a copy of a libvirt definition before they undefine or replace it,
so an admin's definition is never lost."""

from __future__ import annotations

import os
import time

BACKUP_DIR = "/var/lib/havirt/definitions"


def keep(directory: str, stem: str, xml: str, now: float | None = None) -> str:
    """Write ``xml`` to ``directory/stem.TIMESTAMP.xml`` and return that path; the
    timestamp is local time at ``now`` (seconds since the epoch; default: the clock's)."""
    os.makedirs(directory, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    path = os.path.join(directory, f"{stem}.{stamp}.xml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(xml)
    return path
