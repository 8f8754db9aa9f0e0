"""Which running guests use a storage pool, from their live libvirt XML.

A guest uses the pool when any file, device or directory its definition names
lies under the pool's target (disks and their backing chains, CD-ROM media,
filesystem passthrough, kernel/initrd/firmware, log and socket files), when
one of its disks is a volume of the pool (``<disk type='volume'>``), or when it
names a path libvirt lists as one of the pool's volumes. Unmounting the pool
under such a guest would break it (or fail with "device busy").
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Iterable

_PATH_ATTRIBUTES = ("file", "dev", "dir", "path")
_OS_PATHS = ("kernel", "initrd", "loader", "nvram", "dtb")


def referenced_paths(xml: str) -> list[str]:
    """Every local path a domain definition names, in document order, without repeats."""
    root = ET.fromstring(xml)
    found: list[str] = []
    for el in root.iter():
        for attr in _PATH_ATTRIBUTES:
            value = el.get(attr)
            if value and value.startswith("/"):
                found.append(value)
    os_el = root.find("os")
    if os_el is not None:
        for tag in _OS_PATHS:
            text = (os_el.findtext(tag) or "").strip()
            if text.startswith("/"):
                found.append(text)
    return list(dict.fromkeys(found))


def pool_volumes(xml: str) -> list[str]:
    """``pool/volume`` of each ``<disk type='volume'>``."""
    root = ET.fromstring(xml)
    return [
        f"{src.get('pool')}/{src.get('volume')}"
        for disk in root.iter("disk")
        if disk.get("type") == "volume"
        for src in disk.findall("source")
        if src.get("pool")
    ]


def is_under(path: str, directory: str) -> bool:
    """``path`` is ``directory`` or lies below it (as text: nothing is resolved)."""
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    if directory == "/":
        return False  # a pool at / would claim everything; never the case in practice
    return path == directory or path.startswith(directory + "/")


def uses(xml: str, pool: str, target: str | None, volume_paths: Iterable[str] = ()) -> list[str]:
    """What of the pool this guest uses (paths or pool/volume names); empty if nothing."""
    volumes = {os.path.normpath(v) for v in volume_paths}
    found = [
        path
        for path in referenced_paths(xml)
        if (target and is_under(path, target)) or os.path.normpath(path) in volumes
    ]
    found += [ref for ref in pool_volumes(xml) if ref.split("/", 1)[0] == pool]
    return found
