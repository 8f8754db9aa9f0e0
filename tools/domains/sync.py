"""``havirt domain sync``: make every node's persistent definition of a guest the store's
current revision again.

Per node, over the same SSH sessions as validate (the session seam: ``run(command,
timeout) -> CommandResult``):

1. read the node's persistent guests and their inactive XML (one virsh batch);
2. for each stored guest the node defines and that is not in step
   (:func:`havirt.tools.domains.drift.judge`): keep the node's XML in
   ``/var/lib/havirt/definitions/NAME.TIMESTAMP.xml`` on the node (as the guest agent
   does before it replaces a definition; no backup, no change), define the store's XML,
   and read back what libvirt made of it;
3. stamp that definition in its ``<metadata>`` with the revision and the digest of
   libvirt's text, read it back and judge it again: only "in step" counts as done.

Nothing is undefined and no definition is created where a node has none (havirt runs
guests transient: Pacemaker's agent creates them from the store). A guest the store does
not know is reported and left alone. The clock (for the backup's name) is the caller's.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from havirt.ocf.runner import CommandResult
from havirt.tools.domains.drift import STAMP_KEY, STAMP_NS, Stamp, Stored, judge, node_digest
from havirt.tools.errors import BadRequest
from havirt.tools.validate import facts as F
from havirt.tools.validate.engine import Connector
from havirt.tools.validate.framing import (
    PATH,
    bounded,
    new_boundary,
    sh_command,
    split_marked,
    virsh_batch,
    virsh_word,
)
from havirt.tools.validate.probe import Session
from havirt.tools.validate.targets import Target

URI = "qemu:///system"
BACKUP_DIR = "/var/lib/havirt/definitions"  # the guest agent's, on each node

IN_STEP = "in step"
SYNCED = "synced"
WOULD_SYNC = "would sync"
UNKNOWN = "unknown to the store"
FAILED = "failed"
UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Row:
    """What sync found, and did, for one guest on one node."""

    node: str
    guest: str  # "" for a whole node (unreachable)
    state: str  # one of the states above
    detail: str = ""  # how it differed, why it failed
    backup: str | None = None  # where the node's former XML is kept


@dataclass
class SyncReport:
    dry_run: bool
    rows: list[Row] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.state not in (FAILED, UNREACHABLE) for row in self.rows)

    def to_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "ok": self.ok, "rows": [asdict(r) for r in self.rows]}


def read_definitions(session: Session, timeout: float) -> dict[str, str]:
    """The node's persistent guests and their inactive XML; raises ValueError when
    libvirt does not answer."""
    listed = _virsh(session, [("list", "list --all --persistent --name")], timeout)
    if "list" not in listed:
        raise ValueError("libvirt did not list the node's guests")
    names = F.names(listed["list"])
    if not names:
        return {}
    commands = [(f"dom{i}", f"dumpxml --inactive {virsh_word(n)}") for i, n in enumerate(names)]
    dumps = _virsh(session, commands, timeout * 2)
    return {n: dumps[f"dom{i}"].strip() for i, n in enumerate(names) if dumps.get(f"dom{i}")}


def _script(body: str) -> str:
    """``body`` run by sh with a known PATH and locale (as validate's scripts)."""
    return sh_command(f"PATH=$PATH:{PATH}; export PATH; LC_ALL=C; export LC_ALL\n{body}")


def _virsh(session: Session, commands: Sequence[tuple[str, str]], timeout: float) -> dict[str, str]:
    boundary = new_boundary()
    batch = shlex.quote(virsh_batch(boundary, commands))
    result = session.run(_script(bounded(f"virsh -c {URI} {batch}", timeout)), timeout + 5)
    return split_marked(boundary, result.stdout)


def _define_script(guest: str, xml: str, backup: str, timeout: float) -> str:
    """Back up the node's XML, define the store's, print what libvirt made of it; the exit
    code says which step failed (10 backup, 11 define, 12 read back)."""
    end = new_boundary()  # the here-document's delimiter; quoted, so nothing is expanded
    virsh = bounded(f"virsh -c {URI}", timeout)
    name = shlex.quote(guest)
    return (
        f"mkdir -p {BACKUP_DIR} && {virsh} dumpxml --inactive {name} > {shlex.quote(backup)}"
        " || exit 10\n"
        f"{virsh} define /dev/stdin >/dev/null <<'{end}' || exit 11\n{xml}\n{end}\n"
        f"{virsh} dumpxml --inactive {name} || exit 12\n"
    )


def _stamp_script(guest: str, stamp: Stamp, timeout: float) -> str:
    virsh = bounded(f"virsh -c {URI}", timeout)
    name = shlex.quote(guest)
    return (
        f"{virsh} metadata {name} --config --uri {STAMP_NS} --key {STAMP_KEY} "
        f"--set {shlex.quote(stamp.element())} >/dev/null || exit 13\n"
        f"{virsh} dumpxml --inactive {name} || exit 12\n"
    )


_STEP = {10: "could not keep its XML", 11: "libvirt refused the definition", 13: "not stamped"}


def _failure(result: CommandResult) -> str:
    """What went wrong, in one line (not the script, which holds the whole XML)."""
    step = _STEP.get(result.returncode, "could not read it back")
    if result.timed_out:
        return f"{step}: timed out"
    said = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return f"{step}: {said[-1]}" if said else f"{step} (exit {result.returncode})"


class Syncer:
    """Brings one node's definitions in step through ``session``."""

    def __init__(
        self, session: Session, node: str, timeout: float, now: Callable[[], float]
    ) -> None:
        self.session = session
        self.node = node
        self.timeout = timeout
        self.now = now

    def sync(self, stored: Stored) -> Row:
        stamp_time = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.now()))
        backup = f"{BACKUP_DIR}/{stored.name}.{stamp_time}.xml"
        script = _define_script(stored.name, stored.text, backup, self.timeout)
        defined = self.session.run(_script(script), self.timeout * 3 + 10)
        if not defined.ok:
            kept = backup if defined.returncode != 10 else None
            return Row(self.node, stored.name, FAILED, _failure(defined), kept)
        try:
            stamp = Stamp(stored.revision, stored.sha256, node_digest(defined.stdout, "it"))
        except ValueError as exc:
            return Row(self.node, stored.name, FAILED, f"libvirt's XML: {exc}", backup)
        stamped = self.session.run(
            _script(_stamp_script(stored.name, stamp, self.timeout)), self.timeout * 2 + 10
        )
        if not stamped.ok:
            return Row(self.node, stored.name, FAILED, _failure(stamped), backup)
        try:
            left = judge(stored, stamped.stdout, f"{stored.name} on {self.node}")
        except ValueError as exc:
            left = str(exc)
        if left is not None:
            return Row(self.node, stored.name, FAILED, f"after sync it still {left}", backup)
        return Row(self.node, stored.name, SYNCED, f"revision {stored.revision}", backup)


def sync(
    targets: Sequence[Target],
    connector: Connector,
    stored: Mapping[str, Stored],
    guests: Iterable[str] = (),
    *,
    dry_run: bool = False,
    connect_errors: tuple[type[BaseException], ...] = (),
    timeout: float = 20.0,
    now: Callable[[], float] = time.time,
) -> SyncReport:
    """Sync ``guests`` (none named: every guest of the store) on every target."""
    chosen = sorted(set(guests)) or sorted(stored)
    unknown = [g for g in chosen if g not in stored]
    if unknown:
        raise BadRequest(
            f"the definition store does not know {', '.join(unknown)}",
            "name guests of the store (havirt domain history NAME), or import them first",
        )
    report = SyncReport(dry_run)
    for target in targets:
        try:
            session = connector.connect(target)
        except connect_errors as exc:
            message = getattr(exc, "message", None) or str(exc)
            report.rows.append(Row(target.name, "", UNREACHABLE, message))
            continue
        try:
            report.rows += _sync_node(session, target.name, stored, chosen, dry_run, timeout, now)
        finally:
            close = getattr(session, "close", None)
            if close:
                close()
    return report


def _sync_node(
    session: Session,
    node: str,
    stored: Mapping[str, Stored],
    chosen: list[str],
    dry_run: bool,
    timeout: float,
    now: Callable[[], float],
) -> list[Row]:
    try:
        held = read_definitions(session, timeout)
    except ValueError as exc:
        return [Row(node, "", UNREACHABLE, str(exc))]
    rows = [Row(node, g, UNKNOWN) for g in sorted(held) if g not in stored]
    syncer = Syncer(session, node, timeout, now)
    for guest in chosen:
        if guest not in held:
            continue  # no persistent definition here: nothing to differ
        try:
            differs = judge(stored[guest], held[guest], f"{guest} on {node}")
        except ValueError as exc:
            differs = f"is unreadable ({exc})"
        if differs is None:
            rows.append(Row(node, guest, IN_STEP))
        elif dry_run:
            rows.append(Row(node, guest, WOULD_SYNC, differs))
        else:
            rows.append(syncer.sync(stored[guest]))
    return rows
