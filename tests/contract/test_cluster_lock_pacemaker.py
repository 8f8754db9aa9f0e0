"""The cluster lock on Pacemaker's real tools (cibadmin on a file-backed CIB), and the
unit tests' fake CIB store held to them: the same operations give the same answers
and leave the same crm_config."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from havirt.tools.cli.main import main
from havirt.tools.cluster.lock import LOCK_ID, LockHeld, acquire, read_lock
from havirt.tools.pacemaker import Pacemaker
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "tools"))
from lock_fakes import Admin, FakeCibStore, World

SET = f"//crm_config/cluster_property_set[@id='{LOCK_ID}']"


OTHER = '<cluster_property_set id="other"><nvpair id="x" name="x" value="1"/>' + (
    "</cluster_property_set>"
)


def lock_set(token: str) -> str:
    return (
        f'<cluster_property_set id="{LOCK_ID}">'
        f'<nvpair id="{LOCK_ID}-token" name="{LOCK_ID}-token" value="{token}"/>'
        "</cluster_property_set>"
    )


SCRIPT = [
    ("create", lock_set("a")),
    ("create", lock_set("b")),  # refused: the id exists
    ("delete", f"{SET}[nvpair[@name='{LOCK_ID}-token'][@value='b']]"),  # not b's: kept
    ("delete", f"{SET}[nvpair[@name='{LOCK_ID}-token'][@value='a']]"),  # a's: gone
    ("delete", f"{SET}[nvpair[@name='{LOCK_ID}-token'][@value='a']]"),  # nothing left: fine
    ("create", lock_set("b")),
    ("create", OTHER),
    ("delete", SET),
]


def lock_sets(crm_config: str) -> list[str]:
    root = etree.fromstring(crm_config.encode(), etree.XMLParser(remove_blank_text=True))
    return [
        etree.tostring(el, encoding="unicode")
        for el in root.iterfind("cluster_property_set")
        if el.get("id") in (LOCK_ID, "other")
    ]


def play(store) -> list[object]:
    answers: list[object] = []
    for op, arg in SCRIPT:
        if op == "create":
            answers.append(store.create_element("crm_config", arg))
        else:
            answers.append(store.delete_where(arg))
        answers.append(lock_sets(store.cib_xml("crm_config")))
    return answers


def test_the_fake_store_answers_as_cibadmin_does(cib: Path) -> None:
    fake = FakeCibStore(cib.read_text())
    real = play(Pacemaker(cib_file=str(cib)))
    assert real[0] is True and real[2] is False  # the premise: create is exclusive
    assert play(fake) == real


def test_two_admins_on_the_real_cib_one_lock(cib: Path) -> None:
    pm = Pacemaker(cib_file=str(cib))
    world = World(seconds=0.0)
    first = acquire(pm, "node standby node1", Admin(world).env(), ttl=600)
    with pytest.raises(LockHeld, match="'havirt node standby node1' by root on node2"):
        acquire(pm, "node standby node2", Admin(world, host="node3").env(), ttl=600)
    assert first.held()
    first.release()
    assert read_lock(pm) is None
    second = acquire(pm, "node standby node2", Admin(world, host="node3").env(), ttl=600)
    assert read_lock(pm).holder.host == "node3"
    second.release()


def run_havirt(cib: Path, *args: str) -> tuple[int, str]:
    env = {"CIB_file": str(cib), "PATH": os.environ.get("PATH", "")}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_commands_refuse_while_another_holds_the_lock_and_change_nothing(cib: Path) -> None:
    pm = Pacemaker(cib_file=str(cib))
    world = World(seconds=0.0)
    world.seconds = (dt.datetime.now(dt.UTC) - world.now()).total_seconds()  # real time
    held = acquire(pm, "balance", Admin(world, host="elsewhere").env(), ttl=600)
    before = cib.read_text()
    for args in (
        ["node", "standby", "node1"],
        ["node", "unstandby", "node1", "--return"],
        ["balance"],
        ["place", "vm1", "--avoid", "node1"],
        ["cluster", "maintenance", "on"],
    ):
        code, output = run_havirt(cib, *args)
        assert code == 2, (args, output)
        assert "another havirt command holds the cluster lock" in output, (args, output)
        assert "'havirt balance' by root on elsewhere (pid 4242)" in output, (args, output)
        assert "Traceback" not in output
    assert cib.read_text() == before
    # A dry run changes nothing, so it takes no lock and is not refused.
    code, output = run_havirt(cib, "node", "standby", "node1", "--dry-run")
    assert code == 0, output
    code, output = run_havirt(cib, "cluster", "lock", "--json")
    assert code == 0, output
    shown = json.loads(output)
    assert shown["held"] and shown["holder"]["command"] == "balance"
    assert not shown["expired"]
    code, output = run_havirt(cib, "cluster", "unlock")
    assert code == 0 and "removed the cluster lock: 'havirt balance'" in output, output
    assert not held.held()
    code, output = run_havirt(cib, "cluster", "lock")
    assert (code, output.strip()) == (0, "the cluster lock is free")


def test_a_command_takes_and_releases_the_lock(cib: Path) -> None:
    code, output = run_havirt(cib, "cluster", "maintenance", "on", "--json")
    assert code == 0, output
    assert read_lock(Pacemaker(cib_file=str(cib))) is None  # released on the way out
    code, output = run_havirt(cib, "cluster", "maintenance", "off", "--no-refresh", "--json")
    assert code == 0, output
