"""Whether a node's persistent libvirt definition of a guest is the store's (no drift).

libvirt rewrites a definition when it is defined (defaults filled in, units
normalised, PCI addresses and MAC addresses chosen), so the XML a node holds is
rarely the store's text to the letter. Two ways tell that it is the same definition:

- **The same text**, compared canonically (C14N, blank text and comments left out):
  a definition imported from the node (``virsh dumpxml --inactive``) is that.
- **havirt's stamp**: when ``havirt domain sync`` defines a guest from the store, it
  reads back what libvirt made of it and stamps it, in the domain's ``<metadata>``,
  with the store revision and the digest of libvirt's own text
  (``<havirt:definition revision="N" sha256="STORE" canonical="NODE"/>``). The
  definition is in step while its text (the stamp left out) still has that digest and
  the stamp's revision is still the store's current one; a later ``virsh edit`` on
  the node changes the digest, a new revision in the store changes the sha256.

Pure: texts in, a verdict out. The probe collects the node's texts, the validate check
and ``havirt domain sync`` judge with :func:`judge`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from havirt.tools.errors import HavirtError
from havirt.tools.userinput import parse_xml
from lxml import etree

STAMP_NS = "urn:havirt:definition"  # the <metadata> namespace of havirt's stamp
STAMP_KEY = "havirt"  # its prefix (virsh metadata --key)
STAMP_TAG = f"{{{STAMP_NS}}}definition"


@dataclass(frozen=True)
class Stored:
    """A guest's current definition in the store."""

    name: str
    revision: int
    text: str
    sha256: str  # of text, as the store's revision record has it


@dataclass(frozen=True)
class Stamp:
    revision: int
    sha256: str  # the store's text the node's definition was made from
    canonical: str  # the digest of the node's definition when havirt defined it

    def element(self) -> str:
        """The stamp as ``virsh metadata --set`` takes it (prefix and namespace are the
        command's ``--key`` and ``--uri``)."""
        return (
            f'<definition revision="{self.revision}" sha256="{self.sha256}" '
            f'canonical="{self.canonical}"/>'
        )


def _parse(text: str, what: str) -> etree._Element:
    try:
        return parse_xml(text, what, remove_blank_text=True)
    except HavirtError as exc:
        raise ValueError(exc.message) from None


def _pop_stamp(root: etree._Element) -> Stamp | None:
    """Remove havirt's stamp from ``root`` (and ``<metadata>`` when that leaves it
    empty); return it, or None when there is none or it is unreadable."""
    metadata = root.find("metadata")
    if metadata is None:
        return None
    found = metadata.find(STAMP_TAG)
    if found is None:
        return None
    metadata.remove(found)
    if len(metadata) == 0 and not (metadata.text or "").strip():
        root.remove(metadata)
    try:
        return Stamp(
            revision=int(found.get("revision", "")),
            sha256=found.get("sha256", ""),
            canonical=found.get("canonical", ""),
        )
    except ValueError:
        return None


def digest(root: etree._Element) -> str:
    """The sha256 of ``root`` in canonical form, comments and blank text left out."""
    for comment in list(root.iter(etree.Comment)):
        parent = comment.getparent()
        if parent is not None:
            parent.remove(comment)
    for element in root.iter():
        if element.text is not None and not element.text.strip():
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    return hashlib.sha256(etree.tostring(root, method="c14n")).hexdigest()


def node_digest(text: str, what: str) -> str:
    """The digest of a node's definition, havirt's stamp left out (what a stamp records);
    raises ValueError when the text is not usable XML."""
    root = _parse(text, what)
    _pop_stamp(root)
    return digest(root)


def judge(stored: Stored, node_text: str, what: str) -> str | None:
    """None when the node's definition ``node_text`` is the store's current one; else
    how it differs, as a phrase ("was defined from revision 2; the store is at 3").
    Raises ValueError when ``node_text`` is not usable XML."""
    root = _parse(node_text, what)
    stamp = _pop_stamp(root)
    canonical = digest(root)
    if stamp is not None and stamp.canonical == canonical:
        if stamp.sha256 == stored.sha256:
            return None
        return (
            f"was defined from revision {stamp.revision}; "
            f"the store is at revision {stored.revision}"
        )
    if canonical == digest(_parse(stored.text, f"revision {stored.revision} of {stored.name}")):
        return None
    if stamp is not None:
        return f"was changed on the node after havirt defined it from revision {stamp.revision}"
    return f"differs from the store's revision {stored.revision}"
