"""Drift: a node's persistent definition judged against the store's current revision,
by canonical text or by havirt's stamp (tools/domains/drift.py)."""

from __future__ import annotations

import hashlib

import pytest
from havirt.tools.domains.drift import Stamp, Stored, judge, node_digest

STORE = """<domain type='kvm'>
  <name>web1</name>
  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
  <memory unit='MiB'>512</memory>
</domain>
"""
# What libvirt makes of it: units normalised, defaults filled in.
LIBVIRT = """<domain type='kvm'>
  <name>web1</name>
  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
  <memory unit='KiB'>524288</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <on_crash>destroy</on_crash>
</domain>
"""


def stored(text: str = STORE, revision: int = 3) -> Stored:
    return Stored("web1", revision, text, hashlib.sha256(text.encode()).hexdigest())


def stamped(text: str, stamp: Stamp) -> str:
    element = stamp.element().replace(
        "<definition ", '<havirt:definition xmlns:havirt="urn:havirt:definition" '
    )
    return text.replace("</uuid>", f"</uuid>\n  <metadata>\n    {element}\n  </metadata>", 1)


def test_the_same_text_is_in_step_whatever_its_layout_and_comments() -> None:
    assert judge(stored(), STORE, "web1 on n1") is None
    relaid = (
        STORE.replace("\n  ", "").replace("'", '"').replace("<memory", "<!-- 512 MiB --><memory")
    )
    assert judge(stored(), relaid, "web1 on n1") is None


def test_an_unstamped_definition_that_differs_names_the_revision() -> None:
    assert judge(stored(), LIBVIRT, "web1 on n1") == "differs from the store's revision 3"


def test_a_stamp_of_the_current_revision_on_an_untouched_definition_is_in_step() -> None:
    stamp = Stamp(3, stored().sha256, node_digest(LIBVIRT, "web1 on n1"))
    assert judge(stored(), stamped(LIBVIRT, stamp), "web1 on n1") is None


def test_a_stamp_of_an_older_revision_says_which() -> None:
    old = stored(STORE.replace("512", "256"), revision=2)
    stamp = Stamp(2, old.sha256, node_digest(LIBVIRT, "web1 on n1"))
    assert (
        judge(stored(), stamped(LIBVIRT, stamp), "web1 on n1")
        == "was defined from revision 2; the store is at revision 3"
    )


def test_an_edit_on_the_node_after_havirt_defined_it_is_seen() -> None:
    stamp = Stamp(3, stored().sha256, node_digest(LIBVIRT, "web1 on n1"))
    edited = stamped(LIBVIRT, stamp).replace("destroy", "restart")
    assert (
        judge(stored(), edited, "web1 on n1")
        == "was changed on the node after havirt defined it from revision 3"
    )


def test_the_stamp_does_not_count_in_the_digest_and_other_metadata_does() -> None:
    plain = node_digest(LIBVIRT, "x")
    assert node_digest(stamped(LIBVIRT, Stamp(1, "a", "b")), "x") == plain
    other = LIBVIRT.replace("</uuid>", "</uuid><metadata><app:x xmlns:app='urn:app'/></metadata>")
    assert node_digest(other, "x") != plain


def test_unusable_xml_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="web1 on n1"):
        judge(stored(), "<domain>", "web1 on n1")
    with pytest.raises(ValueError, match="entity"):
        judge(stored(), '<!DOCTYPE d [<!ENTITY e "x">]><domain>&e;</domain>', "web1 on n1")
