"""``havirt cluster maintenance on|off``: Pacemaker's maintenance-mode, made safe to leave.

While the cluster is in maintenance mode Pacemaker starts, stops and monitors
nothing, so admins are free to work on guests by hand. Leaving it blindly is
where guests get hurt: Pacemaker acts on what it *recorded* before, and a guest
the admin moved or started meanwhile may be started a second time. ``off``
therefore re-probes every resource first (``crm_resource --refresh``, still in
maintenance mode: probes run, nothing is started or stopped), waits for the
probes, asks the scheduler on a copy of the CIB what leaving would do, and only
then sets ``maintenance-mode=false``. The predicted actions are reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.pacemaker import PacemakerAdapter
from havirt.tools.pacemaker.cib import parse_config
from havirt.tools.placement.guest_move import Follow
from havirt.tools.placement.predict import predict

DEFAULT_TIMEOUT = 120.0
FOLLOW = Follow(DEFAULT_TIMEOUT)  # wait up to 2 minutes for the probes of a refresh


@dataclass
class MaintenanceReport:
    on: bool  # the state asked for
    changed: bool
    refreshed: bool = False
    # What the scheduler does on leaving: "start vm1 on node2", "stop vm3 on node1", ...
    actions: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _guests(pm: PacemakerAdapter) -> list[str]:
    return [p.id for p in parse_config(pm.cib_xml("configuration")).guests]


def maintenance(
    env: ClusterEnv, on: bool, how: Follow = FOLLOW, *, refresh: bool = True
) -> MaintenanceReport:
    pm = env.pacemaker
    status = pm.status()
    dry_run = how.dry_run
    report = MaintenanceReport(on=on, changed=status.maintenance_mode != on, dry_run=dry_run)
    if on:
        if report.changed and not dry_run:
            pm.maintenance_mode(True)
        return report
    if report.changed and refresh and not dry_run:
        pm.refresh()
        pm.wait(how.timeout)  # the probes
        report.refreshed = True
    if report.changed:
        leaving = predict(pm, _guests(pm), properties={"maintenance-mode": "false"})
        report.actions = [
            f"{a.action} {a.resource} "
            + (f"{a.source} -> {a.dest}" if a.source or a.dest else f"on {a.node}")
            for a in leaving.actions
        ]
    if report.changed and not dry_run:
        pm.maintenance_mode(False)
    return report
