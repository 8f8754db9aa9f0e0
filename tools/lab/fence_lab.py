"""``fence_havirt_lab``: the lab's fence agent, for lab nodes only.

It powers a lab node off and on for real: "off" SIGKILLs every process of the
node (its QEMU guests, libvirtd, Corosync, Pacemaker), "on" starts its daemons
again. Pacemaker runs it inside a *surviving* node; the lab's state file under
/var/lib/havirt-lab is visible there (nodes share the host's file system but for
their private directories), and entering the target node's namespaces needs no
more than its namespace holder's PID.

The protocol (options on stdin or argv, actions, meta-data, verifying the power
state after every change, timeouts) is havirt's fencing framework
(:mod:`havirt.ocf.fencing`), as for ``fence_havirt``: this agent supplies only the
power callbacks. The plug is the node's name; ``lab`` names the lab.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from havirt.ocf.fencing import OFF, ON, FenceAgent, FenceContext, FenceError, FenceOption, Plug

if TYPE_CHECKING:
    from havirt.tools.lab.cluster import ClusterLab, ClusterNode

LAB_DIR = "/var/lib/havirt-lab"


def _lab_name(value: str) -> str | None:
    from havirt.tools.lab.lab import LAB_NAME_RE

    return None if LAB_NAME_RE.match(value) else f"'{value}' is no lab name (letters, digits)"


class FenceHavirtLab(FenceAgent):
    name = "fence_havirt_lab"
    shortdesc = "Fence agent for havirt's local test lab"
    longdesc = (
        "Powers a node of havirt's local lab off (kills all its processes, its guests "
        "included) and on (starts its daemons). For the lab only: it has no effect on real "
        "hosts. The plug is the node's name."
    )
    options = (
        FenceOption(
            "lab", "The lab's name (havirt lab up --lab NAME)", required=True, check=_lab_name
        ),
        FenceOption("lab_dir", "Where labs keep their state", default=LAB_DIR, metavar="path"),
    )

    def connect(self, ctx: FenceContext) -> ClusterLab:
        from havirt.tools.lab.cluster import ClusterLab
        from havirt.tools.lab.proc import LabError

        try:
            lab = ClusterLab.attach(ctx.options.lab, ctx.options.lab_dir, cache_dir=None)
        except LabError as exc:
            raise FenceError(str(exc)) from None
        if not lab.is_up():
            raise FenceError(f"lab {ctx.options.lab} is not up")
        return lab

    @staticmethod
    def _node(lab: ClusterLab, plug: str) -> ClusterNode:
        node = lab.nodes.get(plug)
        if node is None:
            raise FenceError(f"lab {lab.name} has no node {plug!r}; nodes: {', '.join(lab.nodes)}")
        return node

    def get_power_status(self, ctx: FenceContext, session: ClusterLab, plug: str) -> str:
        return ON if self._node(session, plug).is_powered_on() else OFF

    def set_power_status(
        self, ctx: FenceContext, session: ClusterLab, plug: str, state: str
    ) -> None:
        node = self._node(session, plug)
        if state == OFF:
            node.power_off()
        else:
            # A fence "on" is done when the power is on, not when the host has booted.
            node.power_on(wait=False)

    def list_plugs(self, ctx: FenceContext, session: ClusterLab) -> list[Plug]:
        return [
            Plug(name, "", ON if node.is_powered_on() else OFF)
            for name, node in session.nodes.items()
        ]


def main() -> None:
    from havirt.ocf.fencing import main as run

    run(FenceHavirtLab)


if __name__ == "__main__":
    main()
