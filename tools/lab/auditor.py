"""An independent auditor of where guests really run in a lab.

It does not ask Pacemaker or libvirt: it samples every lab node's QEMU
processes straight from /proc, many times a second, in a background thread,
and records a violation the moment

* one guest runs on two nodes, or twice on one node (a *double start*), or
* a guest has no QEMU anywhere for longer than the scenario allows (*lost*).

Live migration legitimately shows two QEMU processes for a while: the
destination is started with ``-incoming`` after the source. A second copy is
therefore accepted only if it was started later than the first, with
``-incoming``, and only for :attr:`Auditor.max_migration` seconds. A copy
started later *without* ``-incoming`` while another runs is a double start,
whatever the cluster thinks.

Use as a context manager; :meth:`Auditor.check` raises :class:`AuditError`
with every violation, :meth:`Auditor.wait_for` polls a condition and fails
as soon as a violation is recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from havirt.agents.guest import qemu_processes
from havirt.tools.lab import nsutil
from havirt.tools.lab.lab import Lab
from havirt.tools.lab.proc import StartStop

T = TypeVar("T")


class AuditError(AssertionError):
    """The auditor saw something that must never happen."""


@dataclass(frozen=True)
class QemuCopy:
    node: str
    pid: int
    # when it started, to tell which copy came first: clock ticks since boot in one
    # kernel (namespace lab), milliseconds since the epoch across machines (VM lab)
    started: int
    incoming: bool  # started as a migration destination


@dataclass(frozen=True)
class Placement:
    """A change in where a guest runs: at ``at`` (monotonic seconds), its QEMU
    processes ``copies``, by pid."""

    at: float
    guest: str
    copies: tuple[QemuCopy, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(c.node for c in self.copies)


def scan(netns_by_node: Mapping[str, tuple[int, int]]) -> dict[str, list[QemuCopy]]:
    """Every QEMU process of the lab nodes, by guest name (one pass over /proc)."""
    # keyed by what ns_id gives, None (a process gone) included: that finds no node
    node_of: dict[tuple[int, int] | None, str] = {ns: node for node, ns in netns_by_node.items()}
    found: dict[str, list[QemuCopy]] = {}
    for pid in nsutil.all_pids():
        if not nsutil.process_comm(pid).startswith("qemu"):
            continue
        node = node_of.get(nsutil.ns_id(f"/proc/{pid}/ns/net"))
        argv = nsutil.process_cmdline(pid)
        parsed = qemu_processes.parse_cmdline(argv)
        started = nsutil.process_start_time(pid)
        if node is None or parsed is None or parsed[0] is None or started is None:
            continue
        copy = QemuCopy(node, pid, started, "-incoming" in argv)
        found.setdefault(parsed[0], []).append(copy)
    return found


def netns_ids(lab: Lab) -> dict[str, tuple[int, int]]:
    """Each up node's network namespace id (what :func:`scan` maps processes by)."""
    ids = {}
    for name, node in lab.nodes.items():
        ns = nsutil.ns_id(node._netns_ref())
        if ns is not None:
            ids[name] = ns
    return ids


def judge(guest: str, copies: list[QemuCopy]) -> str | None:
    """Why these copies of one guest are a double start (None if they are not)."""
    if len(copies) < 2:
        return None
    _first, *later = sorted(copies, key=lambda c: (c.started, c.pid))
    where = ", ".join(
        f"{c.node} (pid {c.pid}{', -incoming' if c.incoming else ''})" for c in copies
    )
    if len(later) > 1:
        return f"{guest} runs {len(copies)} times: {where}"
    if not later[0].incoming:
        return f"{guest} started again while it runs: {where}"
    return None  # a migration in progress, bounded by the caller


Scanner = Callable[[], dict[str, list[QemuCopy]]]
"""Where every guest's QEMU processes are now: :func:`scan` of a namespace lab's
nodes, or :class:`~havirt.tools.lab.remote_audit.RemoteScanner` of VMs."""


class Auditor(StartStop):
    """Samples the lab's QEMU processes and records violations (see the module doc).

    ``lab``: a namespace lab, whose nodes' processes are read from this kernel's
    /proc; or None with a ``scanner`` that finds them elsewhere (the VM lab's hosts).

    ``max_outage``: how long a guest may have no QEMU at all (None: any time; 0:
    never, as during a drain by live migration). Change it between phases of a
    scenario with :meth:`allow_outage`.
    """

    def __init__(
        self,
        lab: Lab | None,
        guests: Iterable[str],
        *,
        scanner: Scanner | None = None,
        interval: float = 0.05,
        max_outage: float | None = 0.0,
        max_migration: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lab = lab
        if scanner is None:
            if lab is None:
                raise ValueError("an auditor needs a lab or a scanner")
            the_lab = lab

            def scanner() -> dict[str, list[QemuCopy]]:
                return scan(netns_ids(the_lab))

        self.scanner = scanner
        self.guests = list(guests)
        self.interval = interval
        self.max_outage = max_outage
        self.max_migration = max_migration
        self.clock = clock
        self.violations: list[str] = []
        self.timeline: list[Placement] = []
        self.samples = 0
        self._current: dict[str, list[QemuCopy]] = {}
        self._missing_since: dict[str, float] = {}
        self._migrating_since: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        self.sample()  # the first picture before anything happens
        self._thread = threading.Thread(target=self._run, name="havirt-auditor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception as exc:  # the auditor must not die silently
                with self._lock:
                    self.violations.append(f"auditor failed: {exc!r}")
                return

    # ------------------------------------------------------------ sampling

    def sample(self) -> dict[str, list[QemuCopy]]:
        """Take one sample now (the thread does this every ``interval``)."""
        found = self.scanner()
        now = self.clock()
        with self._lock:
            self.samples += 1
            for guest in self.guests:
                copies = found.get(guest, [])
                self._note_placement(now, guest, copies)
                self._check_copies(now, guest, copies)
            self._current = found
        return found

    def _note_placement(self, now: float, guest: str, copies: list[QemuCopy]) -> None:
        ordered = tuple(sorted(copies, key=lambda c: c.pid))
        last = next((p for p in reversed(self.timeline) if p.guest == guest), None)
        if last is None or [c.pid for c in last.copies] != [c.pid for c in ordered]:
            self.timeline.append(Placement(now, guest, ordered))

    def _check_copies(self, now: float, guest: str, copies: list[QemuCopy]) -> None:
        reason = judge(guest, copies)
        if reason:
            self._violate(reason)
        if len(copies) >= 2 and reason is None:
            since = self._migrating_since.setdefault(guest, now)
            if now - since > self.max_migration:
                self._violate(f"{guest}: two copies for over {self.max_migration:.0f} s")
        else:
            self._migrating_since.pop(guest, None)
        if copies:
            self._missing_since.pop(guest, None)
            return
        since = self._missing_since.setdefault(guest, now)
        if self.max_outage is not None and now - since > self.max_outage:
            self._violate(f"{guest} lost: no QEMU on any node for {now - since:.1f} s")

    def _violate(self, message: str) -> None:
        if message.split(":")[0] not in {v.split(":")[0] for v in self.violations}:
            self.violations.append(message)

    # ------------------------------------------------------------ for tests

    def allow_outage(self, seconds: float | None) -> None:
        """From now on a guest may be without QEMU this long (None: any time)."""
        with self._lock:
            self.max_outage = seconds
            self._missing_since = {g: self.clock() for g in self._missing_since}

    def current(self) -> dict[str, list[QemuCopy]]:
        with self._lock:
            return {g: list(c) for g, c in self._current.items()}

    def where(self, guest: str) -> list[str]:
        return [c.node for c in self.current().get(guest, [])]

    def check(self) -> None:
        """Raise :class:`AuditError` if anything was seen that must never happen."""
        with self._lock:
            violations = list(self.violations)
        if violations:
            raise AuditError("auditor: " + "; ".join(violations))

    def wait_for(
        self,
        condition: Callable[[], T],
        timeout: float,
        what: str,
        poll: float = 0.1,
        explain: Callable[[], str] | None = None,
    ) -> T:
        """Poll ``condition`` until it returns something true; fail at once on a violation.

        ``explain`` says, when the wait times out, what the cluster looked like then
        (a failure that cannot be diagnosed afterwards is a failure twice)."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_explained(what, explain)
            result = condition()
            if result:
                return result
            if time.monotonic() >= deadline:
                self._check_explained(what, explain)
                message = f"timed out after {timeout:.0f} s waiting for {what}"
                raise AuditError(message + _explanation(explain))
            time.sleep(poll)

    def _check_explained(self, what: str, explain: Callable[[], str] | None) -> None:
        """:meth:`check`, with what the cluster looked like when a violation is seen
        (a lost guest's failed operations say why it was lost)."""
        try:
            self.check()
        except AuditError as exc:
            raise AuditError(f"{exc} (waiting for {what})" + _explanation(explain)) from None

    def first_seen(
        self, guest: str, after: float, on_other_than: str | None = None
    ) -> float | None:
        """When ``guest`` was first seen running after ``after`` (optionally on another node)."""
        for placement in self.timeline:
            if placement.guest != guest or placement.at < after or not placement.nodes:
                continue
            if on_other_than is None or any(n != on_other_than for n in placement.nodes):
                return placement.at
        return None


def _explanation(explain: Callable[[], str] | None) -> str:
    if explain is None:
        return ""
    try:
        return "\n" + explain()
    except Exception as exc:  # the explanation must not hide the failure
        return f"\n(no explanation: {exc!r})"


__all__ = [
    "AuditError",
    "Auditor",
    "Placement",
    "QemuCopy",
    "Scanner",
    "judge",
    "netns_ids",
    "scan",
]
