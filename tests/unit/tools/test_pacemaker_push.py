"""tools/pacemaker/push.push_change: the CIB as read and as changed, written to a private
directory, checked, pushed as one diff, and the directory removed in every case."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from havirt.tools.errors import HavirtError
from havirt.tools.pacemaker import push_change
from lxml import etree


class Pushes:
    """push_cib of the adapter: what it was handed, read while the files exist."""

    def __init__(self) -> None:
        self.seen: list[dict[str, object]] = []

    def push_cib(self, new_file: str, original_file: str, *, timeout=None) -> None:
        folder = os.path.dirname(new_file)
        self.seen.append(
            {
                "new": Path(new_file).read_text(),
                "original": Path(original_file).read_text(),
                "names": (os.path.basename(original_file), os.path.basename(new_file)),
                "mode": stat.S_IMODE(os.stat(folder).st_mode),
                "folder": folder,
            }
        )


def test_both_cibs_are_written_privately_pushed_once_and_removed(tmp_path) -> None:
    pm = Pushes()
    changed = etree.fromstring("<cib epoch='2'><configuration/></cib>")
    push_change(pm, "<cib epoch='1'/>", changed, str(tmp_path), prefix="havirt-x-")  # type: ignore[arg-type]
    [seen] = pm.seen
    assert seen["original"] == "<cib epoch='1'/>"
    assert seen["new"] == '<cib epoch="2"><configuration/></cib>'
    assert seen["names"] == ("original.xml", "new.xml")
    assert seen["mode"] == 0o700
    assert os.path.basename(str(seen["folder"])).startswith("havirt-x-")
    assert list(tmp_path.iterdir()) == []


def test_a_check_that_refuses_pushes_nothing_and_leaves_nothing(tmp_path) -> None:
    pm = Pushes()
    checked: list[str] = []

    def check(new_file: str) -> None:
        checked.append(Path(new_file).read_text())
        raise HavirtError("crm_verify rejects it")

    with pytest.raises(HavirtError, match="crm_verify rejects it"):
        push_change(pm, b"<cib/>", b"<cib><x/></cib>", str(tmp_path), check=check)  # type: ignore[arg-type]
    assert checked == ["<cib><x/></cib>"] and pm.seen == []
    assert list(tmp_path.iterdir()) == []


def test_a_refused_push_still_removes_the_files(tmp_path) -> None:
    class Refusing(Pushes):
        def push_cib(self, new_file: str, original_file: str, *, timeout=None) -> None:
            raise HavirtError("the CIB changed meanwhile")

    with pytest.raises(HavirtError, match="changed meanwhile"):
        push_change(Refusing(), "<cib/>", "<cib/>", str(tmp_path))  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_a_directory_it_cannot_write_into_is_one_line_and_nothing_is_pushed(tmp_path) -> None:
    pm = Pushes()
    missing = tmp_path / "gone"
    with pytest.raises(HavirtError) as caught:
        push_change(pm, "<cib/>", "<cib/>", str(missing))  # type: ignore[arg-type]
    assert caught.value.message == (
        f"cannot write into {missing}: No such file or directory; nothing was pushed"
    )
    assert pm.seen == []
