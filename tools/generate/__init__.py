"""`havirt generate`: an inventory rendered into the files a cluster needs.

:func:`render` returns every file's content (deterministic: the same inventory
gives the same bytes); :func:`write` puts them into a directory together with
``manifest.json`` (what was generated from what). :mod:`.apply` compares the
generated CIB with the live one and pushes it as one transaction.

Files (relative to the output directory):

==============================  ===================================================
corosync.conf                   /etc/corosync/corosync.conf for every node
cib.xml                         the complete CIB: ``crm_verify -x cib.xml`` checks it,
                                ``havirt apply`` merges it into the live CIB
cib.pcs                         the same changes as one ``pcs -f`` script
hosts                           /etc/hosts lines for nodes and guests
dnsmasq-hosts.conf              dhcp-host lines for guests on bridged networks
ssh_config                      Host entries for nodes and guests
nodes/NODE/pools/NAME.xml       libvirt pool definition (``virsh pool-define``)
nodes/NODE/networks/NAME.xml    libvirt network definition (``virsh net-define``)
manifest.json                   inventory checksum and every file's checksum
live-cib.xml                    with --diff/--apply: the live CIB compared against
==============================  ===================================================
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from havirt.tools.errors import HavirtError
from havirt.tools.generate import cib_plan, corosync, hostfiles, libvirt_xml
from havirt.tools.inventory import Inventory
from havirt.tools.userinput import read_text, write_atomically

MANIFEST = "manifest.json"
CIB_XML = "cib.xml"
CIB_PCS = "cib.pcs"
LIVE_CIB = "live-cib.xml"
MANIFEST_FORMAT = 1


def render(inv: Inventory) -> dict[str, str]:
    """Every generated file, by relative path, in a stable order (manifest excluded)."""
    plan = cib_plan.plan(inv)
    files = {
        "corosync.conf": corosync.render(inv),
        CIB_XML: cib_plan.to_xml(plan, inv.source),
        CIB_PCS: cib_plan.to_pcs(plan, inv.source),
        "hosts": hostfiles.hosts(inv),
        "dnsmasq-hosts.conf": hostfiles.dnsmasq_hosts(inv),
        "ssh_config": hostfiles.ssh_config(inv),
    }
    pools = {s.name: libvirt_xml.pool_xml(s) for s in inv.storage}
    networks = {n.name: libvirt_xml.network_xml(inv, n) for n in inv.networks}
    for node in inv.nodes:
        for name, xml in pools.items():
            files[f"nodes/{node.name}/pools/{name}.xml"] = xml
        for name, xml in networks.items():
            files[f"nodes/{node.name}/networks/{name}.xml"] = xml
    return files


def sha256(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def manifest(inv: Inventory, inventory_sha256: str, files: dict[str, str]) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "generator": "havirt generate",
        "cluster": inv.cluster.name,
        "inventory": {"file": inv.source, "sha256": inventory_sha256},
        "files": {path: sha256(text) for path, text in files.items()},
        "live_cib": None,
    }


def manifest_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def read_manifest(directory: str) -> dict[str, Any]:
    path = os.path.join(directory, MANIFEST)
    if not os.path.lexists(path):
        raise HavirtError(
            f"{directory} has no {MANIFEST}: not a directory written by havirt generate",
            hint="run 'havirt generate INVENTORY -o DIR' first",
        )
    text = read_text(path, "manifest", MANIFEST_LIMIT)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        detail = str(exc)[:100] if isinstance(exc, ValueError) else "nested too deeply"
        raise HavirtError(
            f"{path} is not havirt's manifest (not JSON: {detail})",
            hint="generate into a new directory, or remove this one",
        ) from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(_inside(rel) for rel in files):
        raise HavirtError(
            f"{path} is not havirt's manifest (no list of files, or a file outside {directory})",
            hint="generate into a new directory, or remove this one",
        )
    if data.get("format") != MANIFEST_FORMAT:
        raise HavirtError(
            f"{path} has format {data.get('format')!r}, this havirt reads {MANIFEST_FORMAT}",
            hint="generate the directory again with this havirt",
        )
    manifest: dict[str, Any] = data  # a dict: its files were read above
    return manifest


MANIFEST_LIMIT = 1 << 20


def _inside(rel: object) -> bool:
    """A path the manifest may name: relative, inside the directory (never '..')."""
    if not isinstance(rel, str) or not rel or rel.startswith("/") or "\0" in rel:
        return False
    return ".." not in rel.split("/")


def _same_text(path: str, text: str) -> bool:
    """Whether ``path`` already holds ``text`` (read the safe way: it may be anything)."""
    try:
        return read_text(path, "generated file", len(text.encode()) + 1) == text
    except HavirtError:
        return False


@dataclass
class WriteReport:
    directory: str
    written: list[str] = field(default_factory=list)  # new or changed
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # generated before, not any more


# Files that carry the fence devices' options (possibly credentials), like the CIB itself.
PRIVATE = frozenset({CIB_XML, CIB_PCS, LIVE_CIB})


def write_file(directory: str, rel: str, text: str) -> None:
    """Write one file atomically; the CIB files readable by their owner only."""
    path = os.path.join(directory, rel)
    hint = "make it a writable file (not a directory) or generate into a new directory"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as exc:
        raise HavirtError(f"cannot write {path}: {exc.strerror}", hint) from None
    write_atomically(path, text, hint, 0o600 if rel in PRIVATE else 0o644)


def write(directory: str, files: dict[str, str], manifest_data: dict[str, Any]) -> WriteReport:
    """Write the files and the manifest; remove what an earlier run wrote and this one
    does not. Refuse a non-empty directory that havirt did not write."""
    report = WriteReport(directory)
    previous: dict[str, Any] = {}
    if os.path.isdir(directory) and os.listdir(directory):
        previous = read_manifest(directory)  # raises for a foreign directory
    for rel, text in files.items():
        path = os.path.join(directory, rel)
        if _same_text(path, text):
            report.unchanged.append(rel)
        else:
            write_file(directory, rel, text)
            report.written.append(rel)
    # The live CIB an earlier --diff recorded no longer belongs to these files.
    stale_live = os.path.join(directory, LIVE_CIB)
    if os.path.isfile(stale_live) or os.path.islink(stale_live):
        os.unlink(stale_live)
    old = set(previous.get("files", {}))
    for rel in sorted(old - set(files)):
        path = os.path.join(directory, rel)
        if os.path.isfile(path) or os.path.islink(path):
            os.unlink(path)
            report.removed.append(rel)
            _prune_empty(directory, os.path.dirname(path))
    write_file(directory, MANIFEST, manifest_text(manifest_data))
    return report


def _prune_empty(top: str, folder: str) -> None:
    top = os.path.abspath(top)
    folder = os.path.abspath(folder)
    while folder != top and folder.startswith(top) and not os.listdir(folder):
        os.rmdir(folder)
        folder = os.path.dirname(folder)
