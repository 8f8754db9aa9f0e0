"""``havirt place GUEST --prefer NODE | --avoid NODE | --apart GUEST2 | --clear``.

Lasting placement wishes, as Pacemaker constraints with ids havirt can find
again (``havirt-prefer-GUEST-NODE``, ``havirt-avoid-GUEST-NODE``,
``havirt-apart-A-B``; see constraints.py). Scores default to what pcs uses for
``prefers``/``avoids`` (INFINITY / -INFINITY); an INFINITY preference still lets
the guest fail over when its node is down. Anti-affinity is a colocation of
-INFINITY: the two guests never share a node (a softer ``--score`` lets them
share when there is no other way).

Before anything is written, the scheduler is asked on a copy of the CIB: a wish
that would stop a guest is refused unless forced, and the moves it would cause
are reported. Each change is one CIB transaction; a wish contradicting an
existing one of havirt's is refused with the id to clear.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.errors import BadRequest, Refused
from havirt.tools.pacemaker import parse_history
from havirt.tools.pacemaker.cib import origin_of, parse_config
from havirt.tools.placement.constraints import MOVE_PREFIX, to_text
from havirt.tools.placement.guest_move import GuestMove, GuestsFollowed
from havirt.tools.placement.model import layout_from
from havirt.tools.placement.predict import predict
from havirt.tools.placement.watch import watch
from havirt.tools.userinput import quote
from lxml import etree

INFINITY = "INFINITY"


@dataclass(frozen=True)
class PlacementConstraint:
    """A constraint naming a guest, as shown to the admin."""

    id: str
    kind: str  # prefer, avoid, apart, together, move (a temporary havirt move)
    score: str
    other: str  # the node, the other guest, or a rule as text
    by_havirt: bool

    def describe(self) -> str:
        origin = {
            "havirt-place": "havirt place",
            "havirt-move": "temporary (a havirt move)",
            "move": "left by a move: pcs resource clear",
            "ban": "left by a ban: pcs resource clear",
        }.get(origin_of(self.id) or "", "configuration")
        return f"{self.kind} {self.other} (score {self.score}; {self.id}, {origin})"


def constraints_of(cib_xml: str, guest: str) -> list[PlacementConstraint]:
    """Every location and (two-resource) colocation constraint naming ``guest``."""
    config = parse_config(cib_xml)
    out = []
    for loc in config.locations_of(guest):
        kind = "avoid" if loc.score.startswith("-") else "prefer"
        if loc.origin == "havirt-move":
            kind = "move"
        other = loc.node or (f"rule: {loc.rule}" if loc.rule else "-")
        ours = loc.origin in ("havirt-move", "havirt-place")
        out.append(PlacementConstraint(loc.id, kind, loc.score, other, ours))
    for col in config.colocations_of(guest):
        kind = "apart" if col.score.startswith("-") else "together"
        other = col.with_rsc if col.rsc == guest else col.rsc
        out.append(
            PlacementConstraint(col.id, kind, col.score, other, col.origin == "havirt-place")
        )
    return sorted(out, key=lambda c: c.id)


@dataclass
class PlaceReport(GuestsFollowed):
    guest: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    constraints: list[PlacementConstraint] = field(default_factory=list)  # afterwards
    moves: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # predicted
    guests: list[GuestMove] = field(default_factory=list)  # followed with wait
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["constraints"] = [asdict(c) for c in self.constraints]
        return data


@dataclass(frozen=True)
class Wish:
    """One placement wish for a guest: to prefer a node, to avoid one, or to be kept apart
    from another guest, with its score (None: pcs's default); ``clear`` removes it (with
    none of the three: every wish of havirt's for the guest). None at all: a listing."""

    prefer: str | None = None
    avoid: str | None = None
    apart: str | None = None
    score: str | None = None
    clear: bool = False

    @property
    def chosen(self) -> list[str]:
        return [x for x in (self.prefer, self.avoid, self.apart) if x]

    @property
    def changes(self) -> bool:
        """False: it only lists the guest's constraints."""
        return bool(self.chosen or self.clear)


def _new_constraint(guest: str, wish: Wish) -> etree._Element:
    prefer, avoid, apart, score = wish.prefer, wish.avoid, wish.apart, wish.score
    root = etree.Element("constraints")
    if prefer or avoid:
        node = prefer or avoid
        kind = "prefer" if prefer else "avoid"
        default = INFINITY if prefer else f"-{INFINITY}"
        etree.SubElement(
            root,
            "rsc_location",
            id=f"havirt-{kind}-{guest}-{node}",
            rsc=guest,
            node=node or "",
            score=score or default,
        )
    elif apart:
        first, second = sorted((guest, apart))
        col = etree.SubElement(root, "rsc_colocation", id=f"havirt-apart-{first}-{second}")
        col.set("rsc", first)
        col.set("with-rsc", second)
        col.set("score", score or f"-{INFINITY}")
    return root


SCORE_LIMIT = 1000000  # Pacemaker's INFINITY; larger scores are silently capped


def check_score(score: str | None, apart: bool) -> None:
    if score is None:
        return
    text = score.lstrip("+-")
    if (
        len(score) - len(text) > 1
        or (text not in (INFINITY, "inf") and not (text.isascii() and text.isdigit()))
        or (text.isdigit() and int(text) > SCORE_LIMIT)
    ):
        raise BadRequest(
            f"{quote(score)} is not a score",
            f"an integer from -{SCORE_LIMIT} to {SCORE_LIMIT} or (-)INFINITY, e.g. 50",
        )
    if apart and not score.startswith("-"):
        raise BadRequest(
            f"keeping guests apart needs a negative score, not {score}",
            "e.g. -100 (or no score for -INFINITY: never on the same node)",
        )


def place(
    env: ClusterEnv,
    guest: str,
    wish: Wish = Wish(),
    *,
    force: bool = False,
    dry_run: bool = False,
    wait: float | None = None,
) -> PlaceReport:
    """Add (or with ``clear`` remove) one placement wish; with none given, list them."""
    if len(wish.chosen) > 1:
        raise BadRequest("one wish at a time: to prefer a node, to avoid one, or to keep apart")
    check_score(wish.score, bool(wish.apart))
    pm = env.pacemaker
    status = pm.status()
    cib = pm.cib_xml()
    history = parse_history(cib)  # the whole CIB holds the status section: before any change
    layout = layout_from(status, cib)
    layout.require_guest(guest)
    for node in (wish.prefer, wish.avoid):
        if node:
            layout.require_host(node)
    if wish.apart:
        layout.require_guest(wish.apart)
        if wish.apart == guest:
            raise BadRequest("a guest cannot be kept apart from itself")
    report = PlaceReport(guest, dry_run=dry_run)
    existing = constraints_of(cib, guest)
    if wish.clear:
        wanted = _new_constraint(guest, wish)
        ids = (
            {c.get("id", "") for c in wanted}  # each has one: _new_constraint sets it
            if wish.chosen
            else {c.id for c in existing if c.by_havirt and not c.id.startswith(MOVE_PREFIX)}
        )
        report.removed = sorted(i for i in ids if any(c.id == i for c in existing))
        if report.removed and not dry_run:
            pm.delete_constraints(report.removed)
    elif wish.chosen:
        fragment = _new_constraint(guest, wish)
        new = fragment[0]
        _check_conflict(existing, new, guest)
        same = next((c for c in existing if c.id == new.get("id")), None)
        if same is None or same.score != new.get("score"):
            prediction = predict(
                pm, [g.id for g in layout.guests], constraints=fragment, cib_xml=cib
            )
            if prediction.stopped() and not force:
                raise Refused(
                    f"{new.get('id')}: Pacemaker would stop {', '.join(prediction.stopped())} "
                    "(no node left that this allows); nothing was changed",
                    "use a softer --score, or --force to accept it",
                )
            report.moves = prediction.moved()
            report.added = [new.get("id", "")]
            if not dry_run:
                pm.add_constraints(to_text(fragment))  # a new score replaces the old one
    if not dry_run and (report.added or report.removed):
        cib = pm.cib_xml()
    report.constraints = constraints_of(cib, guest)
    if wait and report.moves and not dry_run:
        report.guests = [GuestMove(g, src, dst) for g, (src, dst) in report.moves.items()]
        for move in report.guests:
            env.progress(move)
        watch(env, report.guests, timeout=wait, baseline=status, history=history)
    return report


def _check_conflict(existing: list[PlacementConstraint], new: etree._Element, guest: str) -> None:
    """A prefer and an avoid of havirt's for the same guest and node contradict each other."""
    cid = new.get("id", "")
    for kind, other in (("prefer", "avoid"), ("avoid", "prefer")):
        if cid.startswith(f"havirt-{kind}-"):
            opposite = f"havirt-{other}-" + cid.removeprefix(f"havirt-{kind}-")
            if any(c.id == opposite for c in existing):
                node = new.get("node")
                raise BadRequest(
                    f"{guest} already has the opposite wish, to {other} {node} ({opposite}); "
                    "nothing was changed",
                    f"clear it first: havirt place {guest} --clear --{other} {node}",
                )
