"""`havirt node standby --dry-run`, `balance --dry-run`, `place` and `cluster
maintenance` against Pacemaker's real tools (crm_simulate, cibadmin,
crm_attribute) on a file-backed CIB (CIB_file) of the lab inventory, with its
guests placed by a simulated transition. What these commands refuse leaves the
CIB byte for byte as it was. Skips, saying why, where the tools are missing.
(tests/e2e/test_maintenance_and_placement.py runs them on the real cluster.)
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from havirt.ocf.runner import CommandRunner
from havirt.tools.cli.main import main
from havirt.tools.pacemaker import Pacemaker


def tool(cib: Path, *argv: str) -> None:
    result = CommandRunner().run(list(argv), timeout=30, env={"CIB_file": str(cib)})
    assert result.ok, result.describe()


def havirt(cib: Path, *args: str, rc: int = 0) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"], env={"CIB_file": str(cib)})
    assert result.exit_code == rc, result.output
    return json.loads(result.stdout) if rc == 0 else {"output": result.output}


def pile_onto_node1(cib: Path) -> None:
    """vm1..vm3 all on node1 (node2/3 in standby, a transition, standby off again)."""
    for node in ("node2", "node3"):
        tool(cib, "crm_attribute", "--node", node, "--name", "standby", "--update", "on")
    Pacemaker().simulate(str(cib), save_output=str(cib))
    for node in ("node2", "node3"):
        tool(cib, "crm_attribute", "--node", node, "--name", "standby", "--delete")
    assert Pacemaker(cib_file=str(cib)).status().running_on("node2") == ()


def test_standby_dry_run_shows_where_the_scheduler_puts_each_guest(cib: Path) -> None:
    before = cib.read_bytes()
    report = havirt(cib, "node", "standby", "node1", "--dry-run")
    (guest,) = report["guests"]
    assert guest["guest"] == "vm1" and guest["target"] in ("node2", "node3")
    assert cib.read_bytes() == before


def test_standby_without_room_is_refused_and_changes_nothing(cib: Path) -> None:
    for node in ("node2", "node3"):
        tool(cib, "crm_attribute", "-z", "--node", node, "--name", "hv_memory", "--update", "128")
    before = cib.read_bytes()
    out = havirt(cib, "node", "standby", "node1", rc=2)["output"]
    assert "Pacemaker would stop vm1" in out
    assert "node2 free cpu 3, hv_memory 0" in out and "--force" in out
    assert cib.read_bytes() == before
    forced = havirt(cib, "node", "standby", "node1", "--force", "--dry-run")
    assert any("will be stopped" in note for note in forced["notes"])
    assert forced["guests"] == []  # vm1 stops: there is nothing to follow


def test_unknown_node_is_refused(cib: Path) -> None:
    out = havirt(cib, "node", "standby", "node9", rc=2)["output"]
    assert "no node 'node9'" in out and "node1, node2, node3" in out


def test_balance_dry_run_plans_and_the_scheduler_agrees(cib: Path) -> None:
    pile_onto_node1(cib)
    plan = havirt(cib, "balance", "--dry-run")
    assert [(m["guest"], m["target"]) for m in plan["moves"]] == [
        ("vm1", "node2"),
        ("vm2", "node3"),
    ]
    assert plan["spread_before"] == 0.75 and plan["spread_after"] == 0.0


def test_balance_skips_a_move_the_constraints_forbid_and_plans_around_it(cib: Path) -> None:
    pile_onto_node1(cib)
    havirt(cib, "place", "vm1", "--avoid", "node2")
    plan = havirt(cib, "balance", "--dry-run")
    assert ("vm1", "node2") not in [(m["guest"], m["target"]) for m in plan["moves"]]
    assert plan["dropped"] == {"vm1 -> node2": "Pacemaker would not place it there"}
    assert len(plan["moves"]) == 2


def test_place_writes_finds_and_clears_its_constraints(cib: Path) -> None:
    added = havirt(cib, "place", "vm1", "--prefer", "node2", "--score", "50")
    assert added["added"] == ["havirt-prefer-vm1-node2"]
    assert added["moves"] == {}  # a score of 50 does not beat the stickiness of 100
    moved = havirt(cib, "place", "vm3", "--prefer", "node2")  # INFINITY does
    assert moved["moves"] == {"vm3": ["node3", "node2"]}
    havirt(cib, "place", "vm1", "--prefer", "node2", "--score", "50")  # the same: no change
    havirt(cib, "place", "vm1", "--apart", "vm2")
    listed = havirt(cib, "place", "vm1")["constraints"]
    assert [(c["kind"], c["other"], c["score"]) for c in listed] == [
        ("apart", "vm2", "-INFINITY"),
        ("prefer", "node2", "50"),
    ]
    havirt(cib, "place", "vm1", "--prefer", "node2", "--score", "60")  # replaces the score
    assert [c["score"] for c in havirt(cib, "place", "vm1")["constraints"]] == ["-INFINITY", "60"]
    cleared = havirt(cib, "place", "vm1", "--clear")
    assert cleared["removed"] == ["havirt-apart-vm1-vm2", "havirt-prefer-vm1-node2"]
    assert havirt(cib, "place", "vm1")["constraints"] == []
    assert len(havirt(cib, "place", "vm3")["constraints"]) == 1


def test_a_wish_that_would_stop_a_guest_is_refused_unless_forced(cib: Path) -> None:
    havirt(cib, "place", "vm1", "--avoid", "node2")
    havirt(cib, "place", "vm1", "--avoid", "node3")
    before = cib.read_bytes()
    out = havirt(cib, "place", "vm1", "--avoid", "node1", rc=2)["output"]
    assert "Pacemaker would stop vm1" in out and "--force" in out
    assert cib.read_bytes() == before
    assert havirt(cib, "place", "vm1", "--avoid", "node1", "--force")["added"]


def test_clear_moves_removes_leftover_temporary_constraints(cib: Path) -> None:
    xml = (
        '<constraints><rsc_location id="havirt-move-vm1" rsc="vm1" node="node2" '
        'score="INFINITY"/></constraints>'
    )
    tool(cib, "cibadmin", "--modify", "--allow-create", "--scope", "constraints", "--xml-text", xml)
    assert havirt(cib, "place", "--clear-moves") == {"removed": ["havirt-move-vm1"]}
    assert "havirt-move" not in cib.read_text()


def test_maintenance_on_then_off_dry_run_predicts_nothing_to_do(cib: Path) -> None:
    on = havirt(cib, "cluster", "maintenance", "on")
    assert on["changed"] and Pacemaker(cib_file=str(cib)).status().maintenance_mode
    standby = havirt(cib, "node", "standby", "node1", rc=2)["output"]
    assert "maintenance mode" in standby and "havirt cluster maintenance off" in standby
    off = havirt(cib, "cluster", "maintenance", "off", "--dry-run")
    assert off["changed"] and off["actions"] == []
    assert Pacemaker(cib_file=str(cib)).status().maintenance_mode  # dry run
