"""Guests started behind Pacemaker's back, for the scenarios that need one.

A planted domain is a transient copy of a cluster guest's definition, started
with ``virsh create`` on a node, with a copy of the guest's disk (QEMU's image
locking would refuse the shared image itself: all lab nodes share one kernel)
and a console log of its own. Under the guest's own name it is a second copy of
the guest; under another name (and without the guest's UUID) it is a domain no
cluster resource describes. It is destroyed and its files removed on exit, also
when the test fails.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

from havirt.tools.lab.cluster import ClusterLab
from lxml import etree


@contextlib.contextmanager
def planted_domain(
    cluster: ClusterLab, node: str, guest: str, name: str | None = None
) -> Iterator[str]:
    """Start a copy of ``guest`` on ``node`` (as ``name`` if given); yields its name."""
    files = cluster.guests[guest].dir
    stem = f"planted-{name or guest}-{node}"
    disk, xml, log = (files / f"{stem}{suffix}" for suffix in (".qcow2", ".xml", ".log"))
    shutil.copyfile(files / "disk.qcow2", disk)
    domain = etree.parse(str(files / "domain.xml"))
    domain.find("devices/disk/source").set("file", cluster.node_path(disk))
    domain.find("devices/serial/source").set("path", cluster.node_path(log))
    if name:
        domain.find("name").text = name
        uuid = domain.find("uuid")
        if uuid is not None:
            domain.getroot().remove(uuid)  # libvirt makes one up
    domain.write(str(xml))
    planted = name or guest
    lab_node = cluster.nodes[node]
    try:
        lab_node.virsh("create", cluster.node_path(xml))
        yield planted
    finally:
        lab_node.virsh("destroy", planted, check=False)
        for path in (disk, xml, log):
            path.unlink(missing_ok=True)
