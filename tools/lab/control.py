"""What ``havirt lab up|status|down|exec`` decide: library functions returning data.

They raise :class:`~havirt.tools.errors.HavirtError` with a hint, print nothing,
and leave the printing to the click commands in :mod:`havirt.tools.cli.main`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from havirt.tools.errors import BadRequest, HavirtError
from havirt.tools.lab.auditor import QemuCopy, netns_ids, scan
from havirt.tools.lab.cluster import ClusterLab, cluster_missing_requirements
from havirt.tools.lab.guest_image import build_guest_assets
from havirt.tools.lab.lab import DEFAULT_BASE_DIR, DEFAULT_CACHE_DIR, LAB_NAME_RE, Lab
from havirt.tools.lab.proc import LabError

DEFAULT_LAB = "havirt"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class NodeView:
    name: str
    address: str
    powered_on: bool
    online: bool
    standby: bool
    is_dc: bool
    enter: str  # how to run a command inside the node


@dataclass(frozen=True)
class GuestView:
    name: str
    role: str  # Pacemaker's view
    cluster_node: str | None
    qemu_nodes: tuple[str, ...]  # the hypervisors' reality (QEMU processes)


@dataclass
class LabView:
    name: str
    up: bool
    quorate: bool = False
    nodes: list[NodeView] = field(default_factory=list)
    guests: list[GuestView] = field(default_factory=list)
    seconds: float | None = None  # how long `up` took

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_name(name: str) -> None:
    if not LAB_NAME_RE.match(name):
        raise HavirtError(
            f"lab name {name!r} is not valid",
            f"use 1-20 lowercase letters or digits ({LAB_NAME_RE.pattern})",
        )


def refuse_unfit(what: str, problems: Sequence[str]) -> None:
    """HavirtError if ``problems`` (what this machine lacks) keep ``what`` from running."""
    if problems:
        raise HavirtError(
            f"{what} cannot run on this machine: " + "; ".join(problems),
            "run 'tools/bootstrap.sh setup' as root on Debian 12 (it installs the packages)",
        )


def _attach(name: str, base_dir: Path | str) -> ClusterLab | None:
    try:
        return ClusterLab.attach(name, base_dir, cache_dir=None)
    except LabError:
        return None


def up(
    name: str = DEFAULT_LAB,
    nodes: int = 3,
    guests: int = 3,
    *,
    base_dir: Path | str = DEFAULT_BASE_DIR,
    cache_dir: Path | str = DEFAULT_CACHE_DIR,
    progress: Progress = lambda message: None,
) -> LabView:
    """Bring a cluster lab up (or leave a healthy one as it is) and describe it."""
    _check_name(name)
    if not 2 <= nodes <= 8:
        raise BadRequest(f"a lab has 2 to 8 nodes, not {nodes}", "ask for 3 nodes")
    if not 0 <= guests <= 20:
        raise BadRequest(f"a lab has 0 to 20 guests, not {guests}", "ask for 3 guests")
    refuse_unfit("the lab", cluster_missing_requirements())
    existing = _attach(name, base_dir)
    if existing is not None and existing.is_up():
        view = status(name, base_dir=base_dir)
        if view.quorate and all(n.online for n in view.nodes):
            return view  # idempotent: a healthy lab stays as it is
        progress(f"lab {name} exists but is not healthy: rebuilding it")
    progress("building the guest image (cached after the first time)")
    assets = build_guest_assets(Path(cache_dir) / "guest")
    lab = ClusterLab(
        name,
        base_dir,
        nodes=[f"node{i}" for i in range(1, nodes + 1)],
        guests=guests,
        guest_assets=assets,
        cache_dir=cache_dir,
    )
    progress(f"starting {nodes} nodes (libvirtd, Corosync, Pacemaker) and {guests} guests")
    began = time.monotonic()
    try:
        lab.up(detached=True)
    except LabError as exc:
        raise HavirtError(f"lab {name} did not come up: {exc}", "see the nodes' logs") from None
    view = status(name, base_dir=base_dir)
    view.seconds = round(time.monotonic() - began, 2)
    return view


def status(name: str = DEFAULT_LAB, *, base_dir: Path | str = DEFAULT_BASE_DIR) -> LabView:
    """Where the lab stands: nodes (power, membership) and guests (Pacemaker vs QEMU)."""
    _check_name(name)
    lab = _attach(name, base_dir)
    if lab is None or not lab.is_up():
        return LabView(name, up=False)
    return view_of(name, lab, scan(netns_ids(lab)))


def view_of(name: str, lab: ClusterLab, qemu: dict[str, list[QemuCopy]]) -> LabView:
    """The view of a lab that is up, with ``qemu``: the guests' QEMU processes per
    guest as the auditor's scan found them (crm_mon may not answer: then the QEMU
    processes alone say which guests run)."""
    try:
        cluster = lab.status()
    except LabError:
        cluster = None
    view = LabView(name, up=True, quorate=bool(cluster and cluster.quorum))
    for node_name, node in lab.nodes.items():
        seen = cluster.node(node_name) if cluster else None
        view.nodes.append(
            NodeView(
                name=node_name,
                address=node.address,
                powered_on=node.is_powered_on(),
                online=bool(seen and seen.online),
                standby=bool(seen and seen.standby),
                is_dc=bool(seen and seen.is_dc),
                enter=f"havirt lab exec --lab {name} {node_name} -- COMMAND",
            )
        )
    known = (
        [r.id for r in cluster.resources if r.agent.endswith(":VirtualDomain")] if cluster else []
    )
    names = sorted(set(known) | set(qemu)) if cluster else sorted(qemu)
    for guest in names:
        rsc = cluster.resource(guest) if cluster else None
        view.guests.append(
            GuestView(
                name=guest,
                role=rsc.role if rsc else "unknown",
                cluster_node=rsc.nodes[0] if rsc and rsc.nodes else None,
                qemu_nodes=tuple(c.node for c in qemu.get(guest, [])),
            )
        )
    return view


def down(name: str = DEFAULT_LAB, *, base_dir: Path | str = DEFAULT_BASE_DIR) -> bool:
    """Take the lab down; True if there was one. Nothing of it is left behind."""
    _check_name(name)
    if not (Path(base_dir) / name).exists():
        return False
    lab = _attach(name, base_dir) or Lab(name, base_dir, cache_dir=None)
    lab.down()
    return True


def command_in(
    name: str, node: str, argv: Sequence[str], *, base_dir: Path | str = DEFAULT_BASE_DIR
) -> list[str]:
    """The argv that runs ``argv`` inside a lab node (its network, mount, UTS namespaces)."""
    _check_name(name)
    lab = _attach(name, base_dir)
    if lab is None or not lab.is_up():
        raise HavirtError(f"no lab {name!r} is up", "start one with 'havirt lab up'")
    if node not in lab.nodes:
        raise HavirtError(f"lab {name} has no node {node!r}", f"nodes: {', '.join(lab.nodes)}")
    if not argv:
        raise HavirtError("no command given", "e.g. havirt lab exec node1 -- crm_mon -1")
    return lab.nodes[node].command(list(argv))
