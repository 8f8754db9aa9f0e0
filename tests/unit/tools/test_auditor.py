"""The auditor's rule for telling a migration from a double start (no lab needed)."""

from __future__ import annotations

from havirt.tools.lab.auditor import QemuCopy, judge


def copy(node: str, pid: int, started: int, incoming: bool = False) -> QemuCopy:
    return QemuCopy(node, pid, started, incoming)


def test_one_copy_is_fine() -> None:
    assert judge("vm1", [copy("node1", 10, 100)]) is None


def test_a_younger_incoming_copy_is_a_migration() -> None:
    assert judge("vm1", [copy("node1", 10, 100), copy("node2", 20, 200, incoming=True)]) is None


def test_a_guest_that_arrived_by_migration_can_migrate_again() -> None:
    copies = [copy("node2", 20, 200, incoming=True), copy("node3", 30, 300, incoming=True)]
    assert judge("vm1", copies) is None


def test_a_younger_copy_without_incoming_is_a_double_start() -> None:
    reason = judge("vm1", [copy("node1", 10, 100), copy("node2", 20, 200)])
    assert reason is not None and "started again while it runs" in reason
    assert "node1" in reason and "node2" in reason


def test_a_fresh_start_next_to_a_migrated_guest_is_a_double_start() -> None:
    # node2's copy came by migration long ago; node3's is a new start: not a migration.
    copies = [copy("node2", 20, 200, incoming=True), copy("node3", 30, 300)]
    assert judge("vm1", copies) is not None


def test_three_copies_are_always_wrong() -> None:
    copies = [copy("n1", 1, 1), copy("n2", 2, 2, True), copy("n3", 3, 3, True)]
    reason = judge("vm1", copies)
    assert reason is not None and "runs 3 times" in reason


def test_two_copies_on_one_node_are_a_double_start() -> None:
    assert judge("vm1", [copy("node1", 10, 100), copy("node1", 11, 101)]) is not None
