"""Ask Pacemaker's own scheduler before changing anything: ``crm_simulate`` on a copy.

A copy of the live CIB (status included) gets the change in question (nodes in
standby, extra constraints), and ``crm_simulate --simulate`` says what the
cluster would do: which guests move where, which would stop. With
``then_remove``, the result is simulated once more without those (temporary)
constraints: when nothing moves then, the new placement is stable, which is how
``balance`` proves its plan will not oscillate once its constraints are gone.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from havirt.tools.pacemaker import PacemakerAdapter, PlannedAction, Simulation
from havirt.tools.pacemaker.cib import configuration
from havirt.tools.placement.constraints import (
    Move,
    insert_constraints,
    move_constraints,
    move_id,
    remove_constraints,
)
from havirt.tools.placement.moves import expiry
from havirt.tools.userinput import parse_xml
from lxml import etree

if TYPE_CHECKING:
    from havirt.tools.cluster.env import ClusterEnv
    from havirt.tools.placement.model import Layout


@dataclass(frozen=True)
class Prediction:
    before: Mapping[str, tuple[str, ...]]  # guest -> nodes it runs on now
    after: Mapping[str, tuple[str, ...]]  # guest -> nodes it would run on
    actions: tuple[PlannedAction, ...]
    # Actions after the temporary constraints are removed again (empty: it is stable).
    unsettling: tuple[PlannedAction, ...] = field(default=())

    def stopped(self) -> list[str]:
        """Guests that run now and would not run afterwards."""
        return sorted(g for g, nodes in self.before.items() if nodes and not self.after.get(g))

    def destination(self, guest: str) -> str | None:
        nodes = self.after.get(guest, ())
        return nodes[0] if len(nodes) == 1 else None

    def moved(self) -> dict[str, tuple[str | None, str | None]]:
        """guest -> (node now, node afterwards) for every guest whose node changes."""
        out: dict[str, tuple[str | None, str | None]] = {}
        for guest, now in self.before.items():
            later = self.after.get(guest, ())
            if now and later and set(now) != set(later):
                out[guest] = (now[0], later[0])
        return out

    def restarts(self) -> list[str]:
        """Guests the transition would stop and start (not migrate) elsewhere."""
        return sorted(
            {a.resource for a in self.actions if a.action in ("move", "recover", "restart")}
            & set(self.before)
        )


def _set_standby(cib: etree._Element, node: str, value: str) -> None:
    el = next((n for n in cib.iterfind("configuration/nodes/node") if n.get("uname") == node), None)
    if el is None:
        return
    attrs = el.find("instance_attributes")
    if attrs is None:
        attrs = etree.SubElement(el, "instance_attributes", id=f"nodes-{el.get('id')}")
    for nv in attrs.iterfind("nvpair"):
        if nv.get("name") == "standby":
            nv.set("value", value)
            return
    etree.SubElement(attrs, "nvpair", id=f"{attrs.get('id')}-standby", name="standby", value=value)


def _set_property(cib: etree._Element, name: str, value: str) -> None:
    crm_config = cib.find("configuration/crm_config")
    sets = crm_config.findall("cluster_property_set") if crm_config is not None else []
    for nv in (nv for s in sets for nv in s.iterfind("nvpair")):
        if nv.get("name") == name:
            nv.set("value", value)
            return
    if crm_config is None:
        crm_config = etree.SubElement(configuration(cib), "crm_config")
    target = (
        sets[0]
        if sets
        else etree.SubElement(crm_config, "cluster_property_set", id="cib-bootstrap-options")
    )
    etree.SubElement(target, "nvpair", id=f"{target.get('id')}-{name}", name=name, value=value)


def _placement(
    sim_status: Simulation | None, guests: Iterable[str], after: bool
) -> dict[str, tuple[str, ...]]:
    if sim_status is None:
        return {}
    status = sim_status.after if after else sim_status.before
    return {g: status.where(g) for g in guests} if status is not None else {}


def predict(
    pm: PacemakerAdapter,
    guests: Iterable[str],
    *,
    standby: Iterable[str] = (),
    active: Iterable[str] = (),
    properties: Mapping[str, str] | None = None,
    constraints: etree._Element | None = None,
    then_remove: Iterable[str] = (),
    cib_xml: str | None = None,
) -> Prediction:
    """What the scheduler would do for ``guests`` after the change (see the module doc)."""
    guests = list(guests)
    cib = parse_xml(cib_xml or pm.cib_xml(), "the CIB")
    for node in standby:
        _set_standby(cib, node, "on")
    for node in active:
        _set_standby(cib, node, "off")
    for name, value in (properties or {}).items():
        _set_property(cib, name, value)
    if constraints is not None:
        insert_constraints(cib, constraints)
    remove_after = list(then_remove)
    with tempfile.TemporaryDirectory(prefix="havirt-predict-") as tmp:
        given = Path(tmp) / "cib.xml"
        given.write_bytes(etree.tostring(cib))
        result = Path(tmp) / "result.xml"
        sim = pm.simulate(str(given), save_output=str(result) if remove_after else None)
        unsettling: tuple[PlannedAction, ...] = ()
        if remove_after:
            later = parse_xml(result.read_bytes(), "crm_simulate's saved CIB")
            remove_constraints(later, remove_after)
            settled = Path(tmp) / "settled.xml"
            settled.write_bytes(etree.tostring(later))
            again = pm.simulate(str(settled), run=False)
            unsettling = tuple(a for a in again.actions if a.resource in guests)
    return Prediction(
        before=_placement(sim, guests, after=False),
        after=_placement(sim, guests, after=True),
        actions=tuple(a for a in sim.actions if a.resource in guests),
        unsettling=unsettling,
    )


def predict_moves(
    env: ClusterEnv,
    layout: Layout,
    moves: Sequence[Move],
    *,
    timeout: float,
    active: Iterable[str] = (),
) -> Prediction:
    """What the scheduler would do with the guests of ``layout`` and the temporary
    ``havirt-move-*`` constraints of ``moves`` (made now for a wait of ``timeout``) in
    place (``active`` nodes out of standby), and whether the result holds once they are
    gone (``unsettling``)."""
    return predict(
        env.pacemaker,
        [g.id for g in layout.guests],
        active=active,
        constraints=move_constraints(moves, expiry(env.now(), timeout)),
        then_remove=[move_id(m.guest) for m in moves],
    )
