from __future__ import annotations

import marshal
import os

from havirt.agents.guest import utilization
from havirt.agents.guest.resource_state import ResourceState
from havirt.ocf.runner import CommandResult
from vd_fakes import FakeRunner


def test_round_trip_across_instances(tmp_path):
    ResourceState(str(tmp_path), "VirtualDomain", "vm1").update(name="vm1", uuid="u")
    state = ResourceState(str(tmp_path), "VirtualDomain", "vm1")
    assert state.get("name") == "vm1" and state.get("uuid") == "u"
    assert state.get("missing", 5) == 5


def test_resource_names_are_made_safe_for_a_file_name(tmp_path):
    state = ResourceState(str(tmp_path), "VirtualDomain", "../../etc/passwd x")
    assert os.path.dirname(state.path) == str(tmp_path)
    state.update(name="x")
    assert os.listdir(tmp_path) == [os.path.basename(state.path)]


def test_a_corrupt_file_counts_as_empty(tmp_path):
    state = ResourceState(str(tmp_path), "VirtualDomain", "vm1")
    with open(state.path, "w") as handle:
        handle.write("{not marshal data")
    assert state.get("name") is None
    state.update(name="vm1")
    with open(state.path, "rb") as handle:
        assert marshal.load(handle) == {"name": "vm1"}


def test_an_unwritable_state_dir_costs_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    state = ResourceState(str(blocker / "sub"), "VirtualDomain", "vm1")
    state.update(name="vm1")  # must not raise
    assert state.get("name") == "vm1"


def test_update_without_changes_does_not_write(tmp_path):
    state = ResourceState(str(tmp_path), "VirtualDomain", "vm1")
    state.update(name="vm1")
    before = os.stat(state.path).st_mtime_ns
    os.utime(state.path, ns=(0, 0))
    state.update(name="vm1")
    assert os.stat(state.path).st_mtime_ns == 0 != before


def test_utilization_sync_reports_problems_and_keeps_what_was_written(tmp_path):
    runner = FakeRunner()
    runner.results["crm_resource"] = lambda argv: CommandResult(
        argv, 1 if "hv_memory" in argv else 0, "", "error: CIB not connected"
    )
    state = ResourceState(str(tmp_path), "VirtualDomain", "vm1")
    problems = utilization.sync(runner, state, "vm1", {"cpu": 2, "hv_memory": 1024}, 5.0)
    assert problems == [
        "utilization hv_memory: 'crm_resource --resource vm1 --utilization --set-parameter "
        "hv_memory --parameter-value 1024' exited 1: error: CIB not connected"
    ]
    assert ResourceState(str(tmp_path), "VirtualDomain", "vm1").get("utilization") == {"cpu": 2}
