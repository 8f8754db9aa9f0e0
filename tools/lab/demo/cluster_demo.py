"""The main demo: havirt in a real 3-node Pacemaker/Corosync cluster on this machine.

:func:`run_demo` brings up the lab cluster (``havirt lab``), shows ``crm_mon``,
puts the busiest node in standby and brings it back with its guests (the
admin's own ``havirt node standby`` / ``unstandby --return``, run inside a node),
crashes a node and follows fencing and recovery, and reports what an
independent auditor (QEMU processes on every node, sampled all along) saw. It
yields one :class:`~.demo_steps.Step` per step, like the agent demo, and prints
nothing; the lab is taken down at the end unless ``keep`` is set.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from havirt.tools.errors import HavirtError
from havirt.tools.lab import LabError, build_guest_assets
from havirt.tools.lab.auditor import AuditError, Auditor
from havirt.tools.lab.cluster import ClusterLab, cluster_missing_requirements
from havirt.tools.lab.demo.steps import DEMO_LAB, DemoEntry, Step, StepRunner, StepSpec
from havirt.tools.lab.lab import DEFAULT_BASE_DIR

WAIT = 120.0
__all__ = ["run_demo", "take_down"]


def take_down(lab_name: str = DEMO_LAB, base_dir: Path | str = DEFAULT_BASE_DIR) -> bool:
    """Take down a demo lab left up by ``keep``; False if there was none."""
    from havirt.tools.lab import control

    return control.down(lab_name, base_dir=base_dir)


class _ClusterDemo(StepRunner[ClusterLab]):
    STEPS = (
        StepSpec("image", "Build the guest image (cached)"),
        StepSpec(
            "up",
            "Bring up a 3-node cluster with fencing and 3 guests",
            timed="cluster up",
            note=(
                "configured by `havirt generate` from cluster-templates/lab.toml; fencing is on "
                "(fence_havirt_lab kills every process of a node, then starts its services)"
            ),
        ),
        StepSpec("crm_mon", "The cluster as crm_mon shows it"),
        StepSpec("standby", "Put the busiest node in standby"),
        StepSpec("unstandby", "Bring it back with its guests"),
        StepSpec(
            "crash",
            "Crash a node (every process killed at once)",
            timed="crash -> recovered",
            note=(
                "Pacemaker starts the guests elsewhere only after fencing confirmed the node off"
            ),
        ),
        StepSpec("rejoin", "The fenced node reboots and rejoins", timed="fenced node online"),
        StepSpec("audit", "What the independent auditor saw"),
    )
    ERRORS = (LabError, HavirtError, AuditError, OSError)
    FAILURE_HINT = "rerun with --keep to inspect the lab (havirt lab status, havirt lab exec)"

    # State between steps (set by the steps; StepRunner's constructor is the demo's).
    auditor: Auditor | None = None

    # ------------------------------------------------------------ helpers

    @property
    def the_auditor(self) -> Auditor:
        assert self.auditor is not None
        return self.auditor

    def placement(self) -> dict[str, list[str]]:
        by_node: dict[str, list[str]] = {n: [] for n in self.the_lab.nodes}
        for guest, copies in self.the_auditor.current().items():
            if guest in self.the_lab.guest_names and len(copies) == 1:
                by_node[copies[0].node].append(guest)
        return by_node

    def busiest(self) -> tuple[str, list[str]]:
        by_node = self.placement()
        node = max(by_node, key=lambda n: len(by_node[n]))
        return node, sorted(by_node[node])

    def settled_elsewhere(self, guests: list[str], node: str) -> bool:
        current = self.the_auditor.current()
        return all(len(current.get(g, [])) == 1 and current[g][0].node != node for g in guests)

    def wait(self, condition: Callable[[], object], what: str) -> float:
        began = self.clock()
        with self.ticking(what):
            self.the_auditor.wait_for(condition, WAIT, what)
        return self.clock() - began

    def admin(self, avoid: str) -> str:
        return next(n for n in self.the_lab.nodes if n != avoid)

    # ------------------------------------------------------------ steps

    def image(self, step: Step) -> None:
        with self.ticking("building the guest image"):
            self.assets = build_guest_assets(self.cache_dir / "guest")
        step.summary = f"kernel + busybox initramfs in {self.cache_dir / 'guest'}"

    def up(self, step: Step) -> None:
        self.lab = ClusterLab(
            self.lab_name,
            self.base_dir,
            guests=3,
            guest_assets=self.assets,
            cache_dir=self.cache_dir,
        )
        began = self.clock()
        with self.ticking("starting libvirtd, Corosync and Pacemaker on 3 nodes"):
            self.lab.up(detached=self.keep)
        step.seconds = self.clock() - began
        self.auditor = Auditor(self.lab, self.lab.guest_names)
        self.auditor.start()
        where = ", ".join(f"{n}: {', '.join(g) or '-'}" for n, g in self.placement().items())
        step.summary = f"3 nodes online with quorum, guests started ({where})"

    def crm_mon(self, step: Step) -> None:
        node = next(iter(self.the_lab.nodes.values()))
        text = node.exec(["crm_mon", "-1"], timeout=30, check=True).stdout
        step.facts["lines"] = [line for line in text.splitlines() if line.strip()]

    def havirt(self, node: str, *args: str) -> dict[str, Any]:
        """Run the havirt CLI inside a lab node, as an admin would; its --json result
        (also when it exits 1: not everything went as planned, and the report says what)."""
        havirt = str(Path(sys.executable).with_name("havirt"))
        result = self.the_lab.nodes[node].exec([havirt, *args, "--json"], timeout=300)
        if result.returncode not in (0, 1) or not result.stdout.lstrip().startswith("{"):
            raise HavirtError(f"havirt {' '.join(args)}: {result.describe()}")
        report: dict[str, Any] = json.loads(result.stdout)  # a JSON object: checked above
        return report

    def standby(self, step: Step) -> None:
        node, guests = self.busiest()
        began = self.clock()
        report = self.havirt(self.admin(node), "node", "standby", node)
        step.seconds = self.clock() - began
        current = self.the_auditor.current()
        moves = [
            f"{g['guest']} {g['source']} -> {g['node']} {g['how']} ({g['seconds']:.1f} s)"
            for g in report["guests"]
        ]
        restarted = [g for g in guests if not current[g][0].incoming]
        step.ok = report["ok"] and not restarted and all(current[g][0].node != node for g in guests)
        step.timed = f"havirt node standby ({len(guests)} guests)"
        step.facts.update(node=node, moves=moves)
        step.summary = f"havirt node standby {node}: {'; '.join(moves)}" + (
            f"; RESTARTED instead: {restarted}" if restarted else " (no restart, no outage)"
        )

    def unstandby(self, step: Step) -> None:
        node = self.placement_node_in_standby()
        began = self.clock()
        report = self.havirt(self.admin(node), "node", "unstandby", node, "--return")
        step.seconds = self.clock() - began
        current = self.the_auditor.current()
        returned = [g["guest"] for g in report["guests"]]
        step.ok = report["ok"] and all(
            current[g][0].node == node and current[g][0].incoming for g in returned
        )
        step.timed = "havirt node unstandby --return"
        step.summary = (
            f"havirt node unstandby {node} --return; live-migrated back: {', '.join(returned)}"
            " (the temporary constraints are gone again)"
        )

    def placement_node_in_standby(self) -> str:
        status = self.the_lab.status()
        return next(n.name for n in status.nodes if n.standby)

    def crash(self, step: Step) -> None:
        node, victims = self.busiest()
        healthy = {
            g: c[0].pid
            for g, c in self.the_auditor.current().items()
            if g in self.the_lab.guest_names and g not in victims
        }
        self.the_auditor.allow_outage(WAIT)
        began = self.clock()
        self.the_lab.nodes[node].power_off()
        self.wait(lambda: self.settled_elsewhere(victims, node), f"{node} crashed; recovering")
        step.seconds = self.clock() - began
        self.the_auditor.allow_outage(0)
        current = self.the_auditor.current()
        moved = [g for g, pid in healthy.items() if current[g][0].pid != pid]
        step.ok = not moved
        where = "; ".join(f"{g} now on {current[g][0].node}" for g in victims)
        step.facts["node"] = node
        step.summary = (
            f"{node} lost, fenced (rebooted by fence_havirt_lab), its guests restarted: {where}; "
            + (f"healthy guests moved: {moved}" if moved else "no healthy guest moved")
        )

    def rejoin(self, step: Step) -> None:
        with self.ticking("waiting for the fenced node to rejoin"):
            step.seconds = self.the_lab.wait_online(WAIT)
        step.summary = "all 3 nodes online again"

    def audit(self, step: Step) -> None:
        auditor = self.the_auditor
        auditor.check()  # an AuditError fails the step with its text (ERRORS)
        step.summary = (
            f"{auditor.samples} samples of every node's QEMU processes: "
            "no guest ever ran twice, none was lost"
        )

    # ------------------------------------------------------------ running

    def finish(self) -> Iterator[Step]:
        if self.keep and self.lab is not None:
            step = Step(key="keep", title="The lab stays up")
            step.facts["lines"] = [
                f"havirt lab status --lab {self.lab_name}",
                f"havirt lab exec --lab {self.lab_name} node1 -- crm_mon -1",
                f"havirt lab down --lab {self.lab_name}",
            ]
            yield step
            self.release()
            self.lab = None
        elif self.lab is not None:
            began = self.clock()
            self.abandon()
            yield Step(
                key="down",
                title="Tear the lab down",
                timed="lab down",
                seconds=round(self.clock() - began, 3),
            )

    def release(self) -> None:
        """Stop the auditor (before the lab goes down, or when it is kept up)."""
        if self.auditor is not None:
            self.auditor.stop()
            self.auditor = None


# The cluster demo (see the module doc and DemoEntry).
run_demo = DemoEntry(_ClusterDemo, cluster_missing_requirements)
