"""When the VM lab's scenarios are collected, and when they run beside the rest of the
suite (tests/conftest.py): the rules (tests/vmlab_plan.py), without a machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from vmlab_plan import selects_vmlab_and_more, vmlab_or_suite, vmlab_why_not

TESTS = Path("/src/tests")
VMLAB = TESTS / "vmlab"


def why_not(
    wanted: str = "auto",
    root: bool = True,
    vagrant: bool = True,
    free: int | None = 20000,
    need: int = 7680,
    driver: str = "kvm",
) -> str:
    return vmlab_why_not(wanted, root, vagrant, lambda: free, lambda: need, lambda: driver)


def test_auto_collects_them_as_root_with_vagrant_the_memory_and_kvm() -> None:
    assert why_not() == ""
    assert why_not(free=None) == ""  # unknown: try


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"root": False}, "not root"),
        ({"vagrant": False}, "Vagrant is not installed"),
        ({"free": 4000}, "4000 MiB of memory available, the lab's machines need 7680 MiB"),
        ({"wanted": "0"}, "HAVIRT_VMLAB=0"),
        ({"driver": "qemu"}, "would run under TCG here"),
        ({"driver": "none"}, "would run under TCG here"),
    ],
    ids=["not-root", "no-vagrant", "short-of-memory", "off", "tcg", "bad-settings"],
)
def test_every_reason_to_leave_them_out_is_said(kwargs: dict[str, object], said: str) -> None:
    assert said in why_not(**kwargs)


def test_wanted_runs_them_whatever_the_machine() -> None:
    assert why_not("1", root=False, vagrant=False, free=1, driver="qemu") == ""


def test_the_machine_is_asked_only_when_it_matters() -> None:
    def boom() -> int:
        raise AssertionError("read the memory")

    def boom_driver() -> str:
        raise AssertionError("probed the machine")

    assert vmlab_why_not("0", True, True, boom, boom, boom_driver) == "HAVIRT_VMLAB=0"
    assert vmlab_why_not("auto", False, True, boom, boom, boom_driver).startswith("not root")


@pytest.mark.parametrize(
    ("paths", "beside"),
    [
        ([TESTS], True),  # the whole suite
        ([VMLAB], False),  # the scenarios alone
        ([VMLAB / "test_vm_scenarios.py"], False),
        ([TESTS / "unit"], False),  # no scenarios
        ([TESTS / "unit", VMLAB], True),
        ([TESTS / "e2e" / "test_scenarios.py", VMLAB / "test_vm_scenarios.py"], True),
        ([TESTS.parent], True),  # the checkout holds both
    ],
)
def test_they_go_beside_the_rest_only_when_the_run_holds_both(
    paths: list[Path], beside: bool
) -> None:
    assert selects_vmlab_and_more(paths, VMLAB) is beside


def test_the_scenarios_are_one_work_unit_and_the_rest_the_other() -> None:
    assert vmlab_or_suite("tests/vmlab/test_vm_scenarios.py::test_x", "tests/vmlab/") == "vmlab"
    assert vmlab_or_suite("tests/e2e/test_scenarios.py::test_x", "tests/vmlab/") == "suite"
    assert vmlab_or_suite("tests/vmlabs/test_y.py::test_x", "tests/vmlab/") == "suite"
