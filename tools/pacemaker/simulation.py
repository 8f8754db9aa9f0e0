"""What the scheduler would do, as ``crm_simulate --output-as xml`` says: the planned
actions and the status before (and after) them. Pure parsing, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from havirt.tools.pacemaker.errors import PacemakerError
from havirt.tools.pacemaker.status import ClusterStatus, status_from
from havirt.tools.userinput import parse_xml


@dataclass(frozen=True)
class PlannedAction:
    """One action of a transition crm_simulate computed."""

    action: str  # start, stop, migrate, move, recover, promote, ...
    resource: str
    node: str | None = None  # for start/stop/...
    source: str | None = None  # for migrate/move
    dest: str | None = None
    reason: str | None = None
    blocked: bool = False  # it cannot run yet (the reason says what it waits for)


@dataclass(frozen=True)
class Simulation:
    actions: tuple[PlannedAction, ...]
    before: ClusterStatus
    after: ClusterStatus | None  # with --simulate only


def parse_simulation(xml: str) -> Simulation:
    root = parse_xml(xml, "crm_simulate's result")
    actions = tuple(
        PlannedAction(
            action=a.get("action", ""),
            resource=a.get("resource", ""),
            node=a.get("node"),
            source=a.get("source"),
            dest=a.get("dest"),
            reason=a.get("reason"),
            blocked=a.get("blocked") == "true",
        )
        for a in root.iterfind("actions/rsc_action")
    )
    status = root.find("cluster_status")
    if status is None:  # was an AttributeError deep in status_from
        raise PacemakerError("crm_simulate's result has no cluster_status")
    before = status_from(status, None)
    revised = root.find("revised_cluster_status")
    after = status_from(revised, None) if revised is not None else None
    return Simulation(actions, before, after)
