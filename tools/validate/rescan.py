"""``havirt node rescan``: make nodes look at their iSCSI targets again (after a LUN was
added, grown or removed on the target) and report the LUNs each now sees.

Per node, over the same SSH sessions as validate (the session seam):

1. read the node's active storage pools and their XML (one round trip), keeping the
   iSCSI ones (``iscsi-direct``, ``iscsi``);
2. when every node answered and the pool asked for is known, ``virsh pool-refresh``
   each chosen pool and read its LUNs (:mod:`.lun_probe`, one round trip).

Asking for a pool no reached node has as an active iSCSI pool is a bad request, and
nothing is refreshed anywhere. A refresh only re-reads the target: no guest is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from havirt.tools.errors import BadRequest
from havirt.tools.validate import facts as F
from havirt.tools.validate import framing, lun_probe
from havirt.tools.validate.engine import Connector
from havirt.tools.validate.framing import Session
from havirt.tools.validate.targets import Target

REFRESHED = "refreshed"
NO_POOLS = "no iSCSI pools"
FAILED = "failed"
UNREACHABLE = "unreachable"

VIRSH = f"virsh -c {lun_probe.URI}"


def pools_snippet(timeout: float) -> str:
    """Each active pool's name after a ``$b pool NAME`` line, then its XML."""
    listing = framing.bounded(f"{VIRSH} pool-list --name", timeout)
    dump = framing.bounded(f'{VIRSH} pool-dumpxml "$p"', timeout)
    return (
        f"l=$({listing}) || exit\n"
        # virsh pads the names of --name with spaces
        'printf "%s\\n" "$l" | sed \'s/[[:space:]]*$//\' | while IFS= read -r p; do\n'
        '  [ -n "$p" ] || continue\n'
        '  printf "%s pool %s\\n" "$b" "$p"\n'
        f"  {dump}\n"
        "done"
    )


@dataclass(frozen=True)
class Row:
    """What rescan did for one pool on one node (pool "" for the whole node)."""

    node: str
    pool: str
    state: str
    detail: str = ""
    luns: tuple[F.Lun, ...] = ()


@dataclass
class RescanReport:
    rows: list[Row] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.state not in (FAILED, UNREACHABLE) for row in self.rows)

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "rows": [asdict(r) for r in self.rows]}


def choose(targets: Sequence[Target], names: Sequence[str], every: bool) -> list[Target]:
    """The targets named (or all of them with ``every``); BadRequest for an unknown name."""
    if every:
        return list(targets)
    known = {t.name: t for t in targets}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadRequest(
            f"unknown node {', '.join(unknown)}",
            f"name one of the cluster's nodes: {', '.join(known)}",
        )
    return [known[n] for n in dict.fromkeys(names)]


def read_active_pools(session: Session, timeout: float) -> list[F.Pool]:
    """The node's active iSCSI pools; ValueError when libvirt did not answer."""
    boundary = framing.new_boundary()
    script = framing.sections_script(boundary, [("pools", pools_snippet(timeout))])
    result = session.run(framing.sh_command(script), timeout=timeout * 4 + 10)
    section = framing.answer(framing.parse_sections(boundary, result.stdout).get("pools"))
    pools: dict[str, F.Pool] = {}
    parts = section.stdout.split(boundary + " pool ")[1:]
    for part in parts:
        name, _, xml = part.partition("\n")
        pools[name] = F.parse_pool(xml, True, False)
    return lun_probe.iscsi_pools(pools)


def rescan(
    targets: Sequence[Target],
    connector: Connector,
    pool: str | None = None,
    *,
    connect_errors: tuple[type[BaseException], ...] = (),
    timeout: float = 20.0,
) -> RescanReport:
    """Refresh the active iSCSI pools (only ``pool`` if given) of every target."""
    report = RescanReport()
    sessions: list[tuple[Target, Session, list[F.Pool]]] = []
    try:
        for target in targets:
            opened = _open(connector, target, connect_errors, timeout)
            if isinstance(opened, str):
                report.rows.append(Row(target.name, "", UNREACHABLE, opened))
            else:
                sessions.append((target, *opened))
        known = {p.name for _, _, pools in sessions for p in pools}
        if pool is not None and sessions and pool not in known:
            raise BadRequest(
                f"no node has an active iSCSI pool named {pool}",
                "name a pool of type iscsi-direct or iscsi that runs on the nodes "
                "(virsh pool-list --type iscsi-direct)",
            )
        for target, session, pools in sessions:
            report.rows += _rescan_node(session, target.name, pools, pool, timeout)
    finally:
        for _, session, _ in sessions:
            _close(session)
    return report


def _open(
    connector: Connector,
    target: Target,
    connect_errors: tuple[type[BaseException], ...],
    timeout: float,
) -> tuple[Session, list[F.Pool]] | str:
    """A session to ``target`` and its active iSCSI pools, or why there is none."""
    try:
        session = connector.connect(target)
    except connect_errors as exc:
        return getattr(exc, "message", None) or str(exc)
    try:
        return session, read_active_pools(session, timeout)
    except ValueError as exc:
        _close(session)
        return f"libvirt: {exc}"


def _rescan_node(
    session: Session, node: str, pools: list[F.Pool], only: str | None, timeout: float
) -> list[Row]:
    chosen = [p for p in pools if only is None or p.name == only]
    if only is not None and not chosen:
        return [Row(node, only, FAILED, f"pool {only} is not an active iSCSI pool here")]
    if not chosen:
        return [Row(node, "", NO_POOLS)]
    answers = lun_probe.read_luns(session, chosen, timeout, refresh=True)
    rows = []
    for p in chosen:
        luns = answers.get(p.name, "no answer")
        if isinstance(luns, str):
            rows.append(Row(node, p.name, FAILED, luns))
        else:
            rows.append(Row(node, p.name, REFRESHED, luns=tuple(luns[n] for n in sorted(luns))))
    return rows


def _close(session: Session) -> None:
    close = getattr(session, "close", None)
    if close:
        close()
