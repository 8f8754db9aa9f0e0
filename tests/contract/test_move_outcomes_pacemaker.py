"""How a move is judged (live-migrated or restarted), on operation histories written
by Pacemaker itself: crm_simulate runs the scheduler's transition on a file-backed CIB
(CIB_file) of the lab inventory and records its operations in the status section as
the controller does (lrm_rsc_op entries: migrate_to/migrate_from, stop/start). The
real adapter reads them back (cibadmin, crm_mon), the watcher's judge decides.
(tests/unit/tools/test_move_outcomes.py holds the fakes to a real capture;
tests/e2e/test_maintenance_and_placement.py does it on the real cluster.)
"""

from __future__ import annotations

import time
from pathlib import Path

from havirt.tools.pacemaker import Pacemaker
from havirt.tools.placement.guest_move import LIVE_MIGRATED, RESTARTED, GuestMove
from havirt.tools.placement.judge import judge
from havirt.tools.placement.sightings import HistoryLog, Sightings
from test_placement_pacemaker import tool  # cib: tests/contract/conftest.py


def _before(pm: Pacemaker) -> tuple[HistoryLog, Sightings]:
    """What the watcher notes before anything moves: the history, where the guests run."""
    sightings = Sightings()
    sightings.see(pm.status(), ["vm1", "vm2", "vm3"], time.time())
    return HistoryLog(pm.history()), sightings


def _judged(pm: Pacemaker, log: HistoryLog, sightings: Sightings, guest: str) -> GuestMove:
    log.add(pm.history())
    move = GuestMove(guest, "node1", None, required=False, state="done")
    judge(move, pm.status(), log, sightings)
    return move


def _drain_node1(cib: Path) -> GuestMove:
    pm = Pacemaker(cib_file=str(cib))
    assert [r.id for r in pm.status().running_on("node1") if r.id.startswith("vm")] == ["vm1"]
    log, sightings = _before(pm)
    tool(cib, "crm_attribute", "--node", "node1", "--name", "standby", "--update", "on")
    Pacemaker().simulate(str(cib), save_output=str(cib))
    return _judged(pm, log, sightings, "vm1")


def test_a_drain_by_live_migration_is_judged_live_migrated(cib: Path) -> None:
    move = _drain_node1(cib)
    assert move.node in ("node2", "node3")
    assert (move.how, move.outage) == (LIVE_MIGRATED, 0.0)


def test_a_guest_that_may_not_migrate_is_judged_restarted(cib: Path) -> None:
    meta = ["crm_resource", "--resource", "vm1", "--meta", "--set-parameter", "allow-migrate"]
    tool(cib, *meta, "--parameter-value", "false")
    move = _drain_node1(cib)
    assert move.node in ("node2", "node3") and move.how == RESTARTED
    assert move.outage is not None and move.outage >= 0
    assert move.outage_note == "from its stop on node1" and not move.outage_approximate


def test_a_guest_of_a_failed_node_is_judged_restarted(cib: Path) -> None:
    pm = Pacemaker(cib_file=str(cib))
    log, sightings = _before(pm)
    Pacemaker().simulate(str(cib), save_output=str(cib), node_fail=["node1"])
    move = _judged(pm, log, sightings, "vm1")
    assert move.node in ("node2", "node3") and move.how == RESTARTED
