"""When a guest counts as settled on a node: crm_mon lists a guest whose start is
still running as active on its node, in the role ``Starting`` (Pacemaker 2.1 with
record-pending) or with a ``pending`` attribute; neither is a guest that runs."""

from __future__ import annotations

import pytest
from havirt.tools.pacemaker import parse_status
from havirt.tools.placement.recovery import in_flight, settled_on
from records_fakes import Rsc, crm_mon_xml


@pytest.mark.parametrize(
    ("rsc", "action"),
    [
        (Rsc("vm1", ("node3",), role="Starting"), "Starting"),
        (Rsc("vm1", ("node3",), pending="Starting"), "Starting"),
        (Rsc("vm1", ("node3",), role="Stopping"), "Stopping"),
        (Rsc("vm1", ("node3",), role="Migrating"), "Migrating"),
    ],
)
def test_a_guest_with_an_action_in_flight_is_not_settled(rsc: Rsc, action: str) -> None:
    status = parse_status(crm_mon_xml([rsc]))
    assert in_flight(status, "vm1") == action
    assert settled_on(status, "vm1") is None


def test_a_started_guest_with_only_a_monitor_in_flight_is_settled() -> None:
    status = parse_status(crm_mon_xml([Rsc("vm1", ("node3",), pending="Monitoring")]))
    assert in_flight(status, "vm1") is None
    assert settled_on(status, "vm1") == "node3"
