"""``havirt domain remove``: a guest's resource out of the cluster, its history kept.

The guest is stopped through Pacemaker first (target-role Stopped, followed until it
runs nowhere); only then are its primitive and every constraint naming it deleted,
in one CIB transaction. Its definition's history stays in the store unless purged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.errors import BadRequest, Refused
from havirt.tools.placement.domain import (
    STOPPED,
    TARGET_ROLE,
    follow,
    others_affected,
    predict_role,
    read_guest,
    require_managed,
)
from havirt.tools.placement.guest_move import DONE, REMOVE_WAIT, Follow, GuestMove
from havirt.tools.placement.moves import check_cluster_can_move
from havirt.tools.placement.watch import POLL_SECONDS
from havirt.tools.userinput import parse_xml
from lxml import etree

FOLLOW = Follow(REMOVE_WAIT)  # wait up to 2 minutes for the guest to stop


@dataclass
class RemoveReport:
    """What ``remove`` of one guest did (or would do)."""

    guest: str
    before: tuple[str, ...]  # the nodes it ran on
    constraints: list[str] = field(default_factory=list)  # ids deleted with it
    move: GuestMove | None = None  # its stop, followed
    removed: bool = False  # the resource and its constraints are gone
    purged: int | None = None  # revisions of its definition deleted from the store
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.dry_run or self.removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "guest": self.guest,
            "ok": self.ok,
            "before": list(self.before),
            "constraints": self.constraints,
            "move": self.move.to_dict() if self.move is not None else None,
            "removed": self.removed,
            "purged": self.purged,
            "notes": self.notes,
            "seconds": self.seconds,
            "dry_run": self.dry_run,
        }


def constraints_naming(cib: str, guest: str) -> list[str]:
    """The ids of the constraints (location, colocation, order, ticket; havirt's own
    among them) that name ``guest``. Refused when a resource set names it with other
    resources: deleting that constraint would drop a rule of theirs too."""
    root = parse_xml(cib, "the CIB")
    ids = []
    for c in root.iterfind("configuration/constraints/*"):
        named = {c.get(a) for a in ("rsc", "with-rsc", "first", "then")}
        refs = {r.get("id") for r in c.iterfind(".//resource_ref")}
        if guest not in named and guest not in refs:
            continue
        others = refs - {guest}
        if others:
            raise Refused(
                f"constraint {c.get('id')} names {guest} in a set with "
                f"{', '.join(sorted(str(o) for o in others))}; nothing was changed",
                f"take {guest} out of that set first (pcs constraint ... remove)",
            )
        ids.append(str(c.get("id")))
    return sorted(ids)


def _quoted(value: str) -> str:
    if "'" in value:
        raise BadRequest(
            f"{value!r} cannot be named in an XPath; nothing was changed",
            "remove it with pcs resource delete",
        )
    return f"'{value}'"


def remove(
    env: ClusterEnv,
    name: str,
    how: Follow = FOLLOW,
    *,
    purge: Callable[[str], int | None] | None = None,
    poll: float = POLL_SECONDS,
) -> RemoveReport:
    """Stop ``name`` (target-role Stopped), wait up to ``how.timeout`` seconds until it runs
    nowhere, then delete its resource and every constraint naming it in one CIB
    transaction. ``purge`` (called only once the resource is gone) deletes its
    definition history and says how many revisions it had (None: there was none).
    When it does not stop in time nothing is deleted and its target-role stays Stopped."""
    began = env.monotonic()
    cluster, guest = read_guest(env, name)
    _quoted(name)
    report = RemoveReport(name, guest.nodes, dry_run=how.dry_run)
    check_cluster_can_move(cluster.status, f"removing {name}")
    require_managed(guest, "stop")
    if name not in {p.get("id") for p in _top_primitives(cluster.cib)}:
        raise Refused(
            f"{name} is inside a group or clone: removing it would change that; "
            "nothing was changed",
            "take it out of the group or clone first",
        )
    report.constraints = constraints_naming(cluster.cib, name)
    if guest.nodes:
        report.notes = others_affected(predict_role(env, cluster, name, STOPPED), name)
        report.move = GuestMove(name, guest.node, None, required=False)
    if how.dry_run:
        return report
    if cluster.role(name) != STOPPED:
        env.pacemaker.set_resource_meta(name, TARGET_ROLE, STOPPED)
    if report.move is not None:
        follow(env, report.move, cluster.status, running=False, timeout=how.timeout, poll=poll)
        report.seconds = round(env.monotonic() - began, 2)
        if report.move.state != DONE:
            return report
    # read again: a constraint may have come since (the lock keeps out havirt only)
    ids = constraints_naming(env.pacemaker.cib_xml(), name)
    report.constraints = ids
    xpath = f"/cib/configuration/resources/primitive[@id={_quoted(name)}]"
    if ids:
        match = " or ".join(f"@id={_quoted(i)}" for i in ids)
        xpath += f" | /cib/configuration/constraints/*[{match}]"
    env.pacemaker.delete_where(xpath)
    report.removed = True
    if purge is not None:
        report.purged = purge(name)
    report.seconds = round(env.monotonic() - began, 2)
    return report


def _top_primitives(cib: str) -> list[etree._Element]:
    root = parse_xml(cib, "the CIB")
    return list(root.iterfind("configuration/resources/primitive"))
