"""`havirt domain history|diff|revert|edit|import` through click's CliRunner, with a
ClusterWorld (who, clock, a fake editor, the scratch directory) as the context object."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from havirt.tools.cli.main import main
from havirt.tools.cli.world import ClusterWorld

UUID = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
WHEN = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)
ANY_SCHEMA = """<grammar xmlns="http://relaxng.org/ns/structure/1.0">
  <start><ref name="any"/></start>
  <define name="any"><element><anyName/><zeroOrMore><choice>
    <attribute><anyName/></attribute><text/><ref name="any"/>
  </choice></zeroOrMore></element></define>
</grammar>"""


def xml(memory: int = 1024, name: str = "web1", uuid: str = UUID) -> str:
    return (
        f"<domain type='kvm'>\n  <name>{name}</name>\n  <uuid>{uuid}</uuid>\n"
        f"  <memory unit='MiB'>{memory}</memory>\n</domain>\n"
    )


def never(path: str) -> None:
    raise AssertionError("no editor expected")


def run(
    tmp_path: Path,
    *args: str,
    who: str = "alice",
    edit: Callable[[str], None] = never,
) -> Result:
    (tmp_path / "scratch").mkdir(exist_ok=True)
    (tmp_path / "store").mkdir(exist_ok=True)
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / "schemas" / "domain.rng").write_text(ANY_SCHEMA)
    world = ClusterWorld(
        who=lambda: who,
        now=lambda: WHEN,
        edit=edit,
        scratch=lambda: str(tmp_path / "scratch"),
        schemas=str(tmp_path / "schemas"),  # edit checks with libvirt's schema: any XML here
    )
    return CliRunner().invoke(
        main, ["domain", *args, "--store", str(tmp_path / "store")], obj=world
    )


def imported(tmp_path: Path) -> None:
    source = tmp_path / "web1.xml"
    source.write_text(xml())
    result = run(tmp_path, "import", "web1", "--xml", str(source))
    assert result.exit_code == 0, result.output


def edit_to(text: str) -> Callable[[str], None]:
    def editor(path: str) -> None:
        Path(path).write_text(text)

    return editor


def test_import_stores_revision_one_and_says_where(tmp_path: Path) -> None:
    source = tmp_path / "web1.xml"
    source.write_text(xml())
    result = run(tmp_path, "import", "web1", "--xml", str(source))
    assert result.exit_code == 0, result.output
    current = tmp_path / "store" / "web1" / "domain.xml"
    assert f"web1: revision 1 stored; current definition: {current}" in result.output
    assert current.read_text() == xml()
    again = run(tmp_path, "import", "web1", "--xml", str(source))
    assert again.exit_code == 2 and "already in the definition store" in again.output


def test_edit_with_an_editor_stores_a_revision_and_shows_its_diff(tmp_path: Path) -> None:
    imported(tmp_path)
    result = run(tmp_path, "edit", "web1", "--why", "more memory", edit=edit_to(xml(2048)))
    assert result.exit_code == 0, result.output
    assert "+  <memory unit='MiB'>2048</memory>" in result.output
    assert "web1: revision 2 stored (from 1)" in result.output
    assert list((tmp_path / "scratch").iterdir()) == []
    history = run(tmp_path, "history", "web1", "--json")
    data = json.loads(history.output)
    assert [(r["number"], r["why"]) for r in data["revisions"]] == [
        (1, "imported"),
        (2, "more memory"),
    ]


def test_an_unchanged_edit_changes_nothing(tmp_path: Path) -> None:
    imported(tmp_path)
    result = run(tmp_path, "edit", "web1", edit=lambda path: None)
    assert result.exit_code == 0 and "unchanged; nothing stored" in result.output
    assert (tmp_path / "store" / "web1" / "revisions" / "000002.xml").exists() is False


def test_a_refused_edit_keeps_the_admins_text_and_says_where(tmp_path: Path) -> None:
    imported(tmp_path)
    other = "11111111-2222-3333-4444-555555555555"
    result = run(tmp_path, "edit", "web1", edit=edit_to(xml(2048, uuid=other)))
    assert result.exit_code == 2
    kept = next((tmp_path / "scratch").iterdir())
    assert f"your edited XML is kept in {kept}" in result.output
    assert kept.read_text() == xml(2048, uuid=other)
    assert (tmp_path / "store" / "web1" / "domain.xml").read_text() == xml()


def test_an_edit_that_crosses_another_admins_is_a_conflict(tmp_path: Path) -> None:
    imported(tmp_path)
    source = tmp_path / "bob.xml"
    source.write_text(xml(4096))

    def slow_admin(path: str) -> None:  # bob stores his edit while alice is in her editor
        bob = run(tmp_path, "edit", "web1", "--xml", str(source), "--why", "bob's", who="bob")
        assert bob.exit_code == 0, bob.output
        Path(path).write_text(xml(2048))

    result = run(tmp_path, "edit", "web1", edit=slow_admin)
    assert result.exit_code == 3
    assert "changed since revision 1" in result.output and "revision 2 by bob" in result.output
    assert "kept in" in result.output
    assert (tmp_path / "store" / "web1" / "domain.xml").read_text() == xml(4096)


def test_edit_from_a_file(tmp_path: Path) -> None:
    imported(tmp_path)
    new = tmp_path / "new.xml"
    new.write_text(xml(2048))
    assert run(tmp_path, "edit", "web1", "--xml", str(new)).exit_code == 0
    same = run(tmp_path, "edit", "web1", "--xml", str(new))
    assert same.exit_code == 0 and "nothing stored" in same.output


def test_diff_history_and_revert(tmp_path: Path) -> None:
    imported(tmp_path)
    run(tmp_path, "edit", "web1", edit=edit_to(xml(2048)))
    run(tmp_path, "edit", "web1", edit=edit_to(xml(4096)))
    last = run(tmp_path, "diff", "web1")
    assert last.output.startswith("--- web1 revision 2\n+++ web1 revision 3\n")
    one = run(tmp_path, "diff", "web1", "1")
    assert "-  <memory unit='MiB'>1024</memory>" in one.output
    assert "+  <memory unit='MiB'>4096</memory>" in one.output
    two = run(tmp_path, "diff", "web1", "1", "2")
    assert "+  <memory unit='MiB'>2048</memory>" in two.output
    reverted = run(tmp_path, "revert", "web1", "1")
    assert reverted.exit_code == 0, reverted.output
    assert "web1: revision 4 stored (from 3)" in reverted.output
    history = run(tmp_path, "history", "web1")
    assert history.output.splitlines()[-1] == (
        "   4  2026-12-03T20:00:00+00:00  alice (from 3): revert to 1"
    )
    assert (tmp_path / "store" / "web1" / "domain.xml").read_text() == xml()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("history", "nope"), "nope is not in the definition store"),
        (("diff", "web1", "9"), "web1 has no revision 9"),
        (("revert", "web1", "1"), "already the current definition"),
        (("import", "web2", "--xml", "{tmp}/missing.xml"), "does not exist"),
        (("edit", "../x", "--xml", "{tmp}/missing.xml"), "guest name '../x' is not usable"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    imported(tmp_path)
    result = run(tmp_path, *(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert result.exit_code == 2, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("havirt: error:") and message in first


def test_an_import_with_the_wrong_name_is_refused_and_stores_nothing(tmp_path: Path) -> None:
    source = tmp_path / "other.xml"
    source.write_text(xml(name="db1"))
    result = run(tmp_path, "import", "web1", "--xml", str(source))
    assert result.exit_code == 2 and "names the guest 'db1'" in result.output
    assert list((tmp_path / "store").iterdir()) == []


def test_the_store_comes_from_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "defs").mkdir()
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(
        "[cluster]\nname = 'c'\n"
        f"[definitions]\npath = '{tmp_path / 'defs'}'\n"
        "[[nodes]]\nname = 'n1'\naddresses = ['10.0.0.1']\nmemory = '8GiB'\nvcpus = 4\n"
        "fence = { agent = 'fence_havirt', options = { uri = 'qemu:///system' } }\n"
    )
    source = tmp_path / "web1.xml"
    source.write_text(xml())
    world = ClusterWorld(who=lambda: "alice", now=lambda: WHEN, edit=never)
    args = ["domain", "import", "web1", "--xml", str(source), "--inventory", str(inventory)]
    result = CliRunner().invoke(main, args, obj=world)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "defs" / "web1" / "domain.xml").read_text() == xml()


def test_a_fifo_as_the_xml_is_refused_at_once(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    result = run(tmp_path, "import", "web1", "--xml", str(fifo))
    assert result.exit_code == 2 and "not a regular file" in result.output


def test_a_file_made_from_an_older_revision_is_a_conflict_with_base(tmp_path: Path) -> None:
    imported(tmp_path)
    run(tmp_path, "edit", "web1", edit=edit_to(xml(2048)), who="bob")
    mine = tmp_path / "mine.xml"
    mine.write_text(xml(512))
    result = run(tmp_path, "edit", "web1", "--xml", str(mine), "--base", "1")
    assert result.exit_code == 3
    assert "changed since revision 1" in result.output and "revision 2 by bob" in result.output
    assert (tmp_path / "store" / "web1" / "domain.xml").read_text() == xml(2048)
    alone = run(tmp_path, "edit", "web1", "--base", "1")
    assert alone.exit_code == 2 and "--base goes with --xml" in alone.output


def test_edit_json_says_what_the_change_needs(tmp_path: Path) -> None:
    imported(tmp_path)
    source = tmp_path / "new.xml"
    source.write_text(xml(memory=1024))
    same = run(tmp_path, "edit", "web1", "--xml", str(source), "--json")
    assert json.loads(same.stdout) == {
        "guest": "web1",
        "stored": False,
        "revision": 1,
        "said": f"web1: {source} is the same as revision 1; nothing stored",
    }
    source.write_text(xml(memory=2048))
    result = run(tmp_path, "edit", "web1", "--xml", str(source), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["revision"], body["base"], body["needs"], body["apply"]) == (
        2,
        1,
        "restart",
        None,
    )
    assert body["changes"] == [
        {"kind": "restart", "what": "the maximum memory (<memory>)", "op": "", "value": ""}
    ]
    assert "+  <memory unit='MiB'>2048</memory>" in body["diff"]
