"""The definition store (havirt.tools.domains): revisions, the compare-and-set of two
admins, revert, diff, atomic writes, bounded reads, and the checks of a definition."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import pytest
from havirt.tools.domains import Change, DefinitionStore, check_definition, read_definition
from havirt.tools.errors import BadRequest, Conflict, Refused

UUID = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
WHEN = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)


def xml(name: str = "web1", memory: int = 1024, uuid: str = UUID) -> str:
    return (
        f"<domain type='kvm'>\n  <name>{name}</name>\n  <uuid>{uuid}</uuid>\n"
        f"  <memory unit='MiB'>{memory}</memory>\n</domain>\n"
    )


def change(who: str = "alice", why: str = "", minutes: int = 0) -> Change:
    return Change(who, WHEN + dt.timedelta(minutes=minutes), why)


@pytest.fixture
def store(tmp_path: Path) -> DefinitionStore:
    return DefinitionStore(str(tmp_path))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_create_writes_revision_one_its_record_and_the_current_file(
    store: DefinitionStore, tmp_path: Path
) -> None:
    revision = store.create("web1", xml(), change(why="imported"))
    assert revision.number == 1 and revision.base is None
    assert (tmp_path / "web1" / "domain.xml").read_text() == xml()
    assert (tmp_path / "web1" / "revisions" / "000001.xml").read_text() == xml()
    record = json.loads((tmp_path / "web1" / "revisions" / "000001.json").read_text())
    assert record["who"] == "alice" and record["why"] == "imported"
    assert record["when"] == "2026-12-03T20:00:00+00:00"
    assert len(record["sha256"]) == 64
    assert store.current_path("web1") == str(tmp_path / "web1" / "domain.xml")
    assert store.guests() == ["web1"]


def test_every_commit_is_a_new_revision_and_history_lists_them(store: DefinitionStore) -> None:
    store.create("web1", xml(), change())
    store.commit("web1", xml(memory=2048), 1, change("bob", "more memory", 5))
    store.commit("web1", xml(memory=4096), 2, change("carol", "even more", 9))
    history = store.history("web1")
    assert [(r.number, r.who, r.base) for r in history] == [
        (1, "alice", None),
        (2, "bob", 1),
        (3, "carol", 2),
    ]
    assert store.get("web1") == xml(memory=4096)
    assert store.get("web1", 2) == xml(memory=2048)


def test_the_second_of_two_admins_editing_at_once_is_refused_naming_both_revisions(
    store: DefinitionStore, tmp_path: Path
) -> None:
    store.create("web1", xml(), change())
    store.commit("web1", xml(memory=2048), 1, change("bob", "more memory"))
    before = snapshot(tmp_path)
    with pytest.raises(Conflict) as refused:
        store.commit("web1", xml(memory=512), 1, change("carol", "less memory"))
    assert "since revision 1" in refused.value.message
    assert "revision 2 by bob" in refused.value.message
    assert snapshot(tmp_path) == before


def test_a_revision_file_that_appeared_meanwhile_wins_the_compare_and_set(
    store: DefinitionStore, tmp_path: Path
) -> None:
    # Another admin's revision 2 appears between our reading and our writing: the
    # exclusive creation of 000002.xml is what refuses us.
    store.create("web1", xml(), change())
    revisions = tmp_path / "web1" / "revisions"
    (revisions / "000002.xml").write_text(xml(memory=2048))
    with pytest.raises(Conflict):
        store._store(check_definition("web1", xml(memory=512), "x"), 1, change("carol"))
    assert (revisions / "000002.xml").read_text() == xml(memory=2048)


def test_revert_makes_a_new_revision_with_the_old_content(store: DefinitionStore) -> None:
    store.create("web1", xml(), change())
    store.commit("web1", xml(memory=2048), 1, change("bob"))
    revision = store.revert("web1", 1, change("carol"))
    assert revision.number == 3 and revision.base == 2 and revision.why == "revert to 1"
    assert store.get("web1") == xml()
    with pytest.raises(BadRequest, match="already the current"):
        store.revert("web1", 1, change("carol"))


def test_diff_is_a_unified_diff_between_two_revisions(store: DefinitionStore) -> None:
    store.create("web1", xml(), change())
    store.commit("web1", xml(memory=2048), 1, change("bob"))
    diff = store.diff("web1", 1, 2)
    assert diff.startswith("--- web1 revision 1\n+++ web1 revision 2\n")
    assert "-  <memory unit='MiB'>1024</memory>" in diff
    assert "+  <memory unit='MiB'>2048</memory>" in diff
    assert store.diff("web1", 2, 2) == ""


def test_writes_leave_no_temporary_file(store: DefinitionStore, tmp_path: Path) -> None:
    store.create("web1", xml(), change())
    store.commit("web1", xml(memory=2048), 1, change())
    names = sorted(p.name for p in (tmp_path / "web1").rglob("*"))
    assert names == [
        "000001.json",
        "000001.xml",
        "000002.json",
        "000002.xml",
        "domain.xml",
        "revisions",
    ]


def test_purge_deletes_the_guest_and_only_it(store: DefinitionStore, tmp_path: Path) -> None:
    store.create("web1", xml(), change())
    store.create("web2", xml("web2", uuid="11111111-2222-3333-4444-555555555555"), change())
    store.commit("web1", xml(memory=2048), 1, change())
    assert store.purge("web1") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web2"]
    assert store.guests() == ["web2"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("<domain><name>web1</name>", "not well-formed"),
        ("<network><name>web1</name></network>", "root element <network>"),
        (f"<domain><uuid>{UUID}</uuid></domain>", "no <name>"),
        (f"<domain><name>web2</name><uuid>{UUID}</uuid></domain>", "names the guest 'web2'"),
        ("<domain><name>web1</name></domain>", "no <uuid>"),
        ("<domain><name>web1</name><uuid>nope</uuid></domain>", "not a UUID"),
        (
            '<!DOCTYPE d [<!ENTITY e "x">]><domain><name>web1&e;</name></domain>',
            "entity",
        ),
    ],
)
def test_a_bad_definition_is_refused_with_one_line_and_nothing_is_stored(
    store: DefinitionStore, tmp_path: Path, text: str, match: str
) -> None:
    with pytest.raises(BadRequest, match=match) as refused:
        store.create("web1", text, change())
    assert "\n" not in refused.value.message and refused.value.hint
    assert list(tmp_path.iterdir()) == []


def test_an_edit_that_changes_the_uuid_is_refused_and_nothing_changes(
    store: DefinitionStore, tmp_path: Path
) -> None:
    store.create("web1", xml(), change())
    before = snapshot(tmp_path)
    other = "11111111-2222-3333-4444-555555555555"
    with pytest.raises(BadRequest, match=f"keep <uuid>{UUID}</uuid>"):
        store.commit("web1", xml(uuid=other), 1, change())
    with pytest.raises(BadRequest, match="names the guest"):
        store.commit("web1", xml("web9"), 1, change())
    with pytest.raises(BadRequest, match="same as revision 1"):
        store.commit("web1", xml(), 1, change())
    assert snapshot(tmp_path) == before


def test_create_refuses_a_guest_already_stored(store: DefinitionStore) -> None:
    store.create("web1", xml(), change())
    with pytest.raises(Refused, match="already in the definition store"):
        store.create("web1", xml(memory=2), change())


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "", "x" * 65])
def test_a_name_that_is_not_a_directory_of_the_store_is_refused(
    store: DefinitionStore, name: str
) -> None:
    with pytest.raises(BadRequest, match="guest name"):
        store.create(name, xml(), change())


def test_unknown_guests_and_revisions_are_bad_requests(store: DefinitionStore) -> None:
    with pytest.raises(BadRequest, match="not in the definition store"):
        store.history("web1")
    store.create("web1", xml(), change())
    with pytest.raises(BadRequest, match="has no revision 7"):
        store.get("web1", 7)


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path) -> None:
    store = DefinitionStore(str(tmp_path / "not-mounted"))
    with pytest.raises(BadRequest, match="does not exist"):
        store.create("web1", xml(), change())
    assert not (tmp_path / "not-mounted").exists()


def test_a_revision_changed_by_hand_is_detected(store: DefinitionStore, tmp_path: Path) -> None:
    store.create("web1", xml(), change())
    (tmp_path / "web1" / "revisions" / "000001.xml").write_text(xml(memory=1))
    with pytest.raises(Exception, match="does not match its record"):
        store.get("web1", 1)


def test_a_huge_definition_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "huge.xml"
    with huge.open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: 1 GiB that costs nothing on disk
    started = time.perf_counter()
    with pytest.raises(BadRequest, match="larger than"):
        read_definition(str(huge), "the XML")
    assert time.perf_counter() - started < 1


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    with pytest.raises(BadRequest, match="not a regular file"):
        read_definition(str(fifo), "the XML")


def test_a_definition_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.xml"
    path.write_bytes(b"<domain>\xe9</domain>")
    with pytest.raises(BadRequest, match="not UTF-8"):
        read_definition(str(path), "the XML")


def test_the_inventory_says_where_the_store_is_and_defaults_without_the_host() -> None:
    from havirt.tools.inventory import load_text

    base = (
        "[cluster]\nname = 'c'\n"
        "[[nodes]]\nname = 'n1'\naddresses = ['10.0.0.1']\nmemory = '8GiB'\nvcpus = 4\n"
        "fence = { agent = 'fence_havirt', options = { uri = 'qemu:///system' } }\n"
    )
    assert load_text(base).definitions == "/srv/havirt-shared/definitions"
    moved = load_text(base + "[definitions]\npath = '/mnt/shared/defs'\n")
    assert moved.definitions == "/mnt/shared/defs"


def test_create_refuses_a_uuid_another_guest_has(store: DefinitionStore, tmp_path: Path) -> None:
    store.create("web1", xml(), change())
    with pytest.raises(Refused, match="already that of web1"):
        store.create("web2", xml("web2"), change())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web1"]
