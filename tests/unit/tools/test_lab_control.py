"""``havirt lab status`` on a lab whose nodes are up but whose crm_mon fails (no lab needed)."""

from __future__ import annotations

from typing import Any

from havirt.tools.lab import control
from havirt.tools.lab.auditor import QemuCopy
from havirt.tools.lab.proc import LabError


class _Node:
    address = "192.0.2.11"

    def is_powered_on(self) -> bool:
        return True


class _LabWithoutCrmMon:
    nodes = {"node1": _Node()}

    def is_up(self) -> bool:
        return True

    def status(self) -> Any:
        raise LabError("crm_mon: connection to the cluster failed")


def test_status_without_pacemaker_lists_the_qemu_guests() -> None:
    # Found by the type checker: the resource list was read from a None cluster status.
    qemu = {"vm1": [QemuCopy("node1", 10, 100, False)]}
    view = control.view_of("t1", _LabWithoutCrmMon(), qemu)  # a lab whose crm_mon fails
    assert view.up and not view.quorate
    assert [(g.name, g.role, g.qemu_nodes) for g in view.guests] == [("vm1", "unknown", ("node1",))]
    assert [(n.name, n.online) for n in view.nodes] == [("node1", False)]
