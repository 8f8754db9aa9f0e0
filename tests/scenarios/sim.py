"""A simulated Pacemaker cluster on a virtual clock, for the scenario folders.

The cluster is one CIB file. Everything havirt's commands do to it goes through
Pacemaker's real tools with ``CIB_file`` (crm_mon, cibadmin, crm_attribute,
crm_simulate for the predictions): :class:`SimPacemaker` is the real adapter with
three differences: ``wait()`` lets virtual time pass until the cluster settled,
``crm_simulate`` gets the virtual date (``--set-datetime``: constraint lifetimes),
and answers of the read-only tools are remembered per CIB content (the same file
gives the same answer; the suite would be slow otherwise).

What the cluster *does* is Pacemaker's own logic too: at each virtual second in
which the CIB changed since the cluster last had nothing to do, the pending
transition is executed with ``crm_simulate --simulate --xml-file CIB
--save-output CIB``, with injected events as crm_simulate's own options
(``--op-fail`` for an action that fails, ``--node-fail`` for a node that dies,
``--node-up`` for one that comes back). crm_simulate stamps the operations it
records with the real clock; they are restamped with the virtual one, so every
run is the same.

Commands run as threads, one at a time: each runs until it sleeps (``env.sleep``,
the lock's wait, ``wait()``), then the clock moves to the next thing due: another
command waking, a cluster tick, an injected event. So two admins interleave on the
virtual clock exactly as their sleeps say, and a run is deterministic.

Limits: a transition executes at once (every action of it in the same second,
with no execution time: a restart's outage is whole seconds between ticks, often
0.0 s); there are no pending actions for crm_mon to show; a node that dies is
fenced and its guests recovered in the same transition; ``crm_resource --refresh``
on a CIB file is a dry run (the recorded state is taken as the truth).

The nodes' libvirt (what ``domain start`` asks before it starts a guest) shows only
what a setup's ``libvirt`` lines say: domains running outside Pacemaker, or a node
whose libvirt cannot be read (:class:`SimLibvirt`); the guests Pacemaker runs are not
listed there. It runs no migration job (what ``domain migrate`` shows of libvirt's
progress): a live migration is over within its transition, crm_mon never shows a guest
migrating (tests/unit/tools/test_migration_job.py follows one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import shlex
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner
from havirt.ocf.runner import CommandResult, CommandRunner
from havirt.tools.cli.main import main
from havirt.tools.cli.world import ClusterWorld, waiting_printer
from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.cluster.lock import Holder, LockEnv, read_lock
from havirt.tools.pacemaker import ClusterStatus, Pacemaker, PacemakerTimeout, parse_status
from havirt.tools.pacemaker.cib import CibConfig, Primitive
from havirt.tools.records import GuestIdentity, LibvirtDomain, NodeScan
from havirt.tools.records.scan import MigrationJob
from lxml import etree

T0 = dt.datetime(2025, 3, 3, 9, 0, 0, tzinfo=dt.UTC)  # virtual second 0 (in the past:
# crm_simulate's real-clock stamps are told apart from virtual ones by being later)
TOOLS = ("crm_simulate", "cibadmin", "crm_attribute", "crm_mon", "crm_resource")
END = 3600.0  # a scenario still running at this virtual second is an error
TOOL_TIMEOUT = 60.0


class Vanished(BaseException):
    """Raised in a killed command's thread: it does nothing more, as after SIGKILL."""


def virtual_now(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _stamp(seconds: float) -> str:
    return f"{seconds:7.1f}"


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, seconds: float, who: str, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.lines.append(f"{_stamp(seconds)}  {who:<8} {line}".rstrip())

    def note(self, text: str) -> None:
        self.lines += text.splitlines()

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# -- the cluster ------------------------------------------------------------------------------


@dataclass
class Injection:
    """An event for the next transitions: crm_simulate options, and what the log says."""

    flags: list[str]
    text: str
    until: Callable[[etree._Element], bool] | None = None  # armed until the transition shows it


@dataclass
class SimLibvirt:
    """The nodes' libvirt as a scenario's setup describes it (the module doc says what
    it leaves out): per node, the domains running outside Pacemaker, or why it cannot
    be read."""

    running: dict[str, list[str]] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)

    def domains(self, status: ClusterStatus, config: CibConfig) -> dict[str, NodeScan]:
        scans = {}
        for node in status.nodes:
            uri = f"qemu+ssh://{node.name}/system"
            if not node.online:
                scans[node.name] = NodeScan(node.name, uri, asked=False)
            elif node.name in self.unreadable:
                scans[node.name] = NodeScan(node.name, uri, error=self.unreadable[node.name])
            else:
                found = self.running.get(node.name, [])
                domains = tuple(
                    LibvirtDomain(d, "", "running", "booted", persistent=False) for d in found
                )
                scans[node.name] = NodeScan(node.name, uri, domains=domains)
        return scans

    def identity(self, primitive: Primitive) -> GuestIdentity:
        return GuestIdentity(primitive.id, primitive.id)

    def job(
        self, status: ClusterStatus, config: CibConfig, node: str, domain: str
    ) -> MigrationJob | None:
        """No job: the simulated cluster migrates a guest within one transition, so
        crm_mon never shows it migrating (the module doc)."""
        return None

    def seen(self, template: str | None, timeout: float, all_nodes: bool) -> SimLibvirt:
        """The view a command gets, whatever its options."""
        return self


class Cluster:
    """The CIB file and the clock: executes transitions with crm_simulate (module doc)."""

    def __init__(self, cib: Path, log: Log) -> None:
        self.cib = cib
        self.log = log
        self.clock = 0.0
        self.runner = CommandRunner()
        self.quiet_hash: str | None = None  # the CIB content the cluster had nothing to do on
        self.injections: list[Injection] = []
        self.stalled_until = -1.0
        self.guests: set[str] = set()
        self.cache: dict[tuple[str, ...], CommandResult] = {}
        self.libvirt = SimLibvirt()

    # plumbing
    def digest(self) -> str:
        return hashlib.sha1(self.cib.read_bytes()).hexdigest()

    def tool(self, argv: Sequence[str], stdin: str | None = None) -> CommandResult:
        result = self.runner.run(
            list(argv), timeout=TOOL_TIMEOUT, stdin=stdin, env={"CIB_file": str(self.cib)}
        )
        if not result.ok:
            raise AssertionError(f"the simulation's own call failed: {result.describe()}")
        return result

    def query(self, argv: Sequence[str]) -> CommandResult:
        """``cibadmin --query [--scope S]`` on a CIB file prints the file (or a section of
        it) as it is: read here, it costs no process."""
        root = etree.parse(str(self.cib)).getroot()
        scope = argv[argv.index("--scope") + 1] if "--scope" in argv else None
        el = root if scope is None else next(root.iter(scope), None)
        if el is None:
            return CommandResult(tuple(argv), 105, "", f"scope {scope} not found", False)
        return CommandResult(tuple(argv), 0, etree.tostring(el, encoding="unicode"), "", False)

    def date(self) -> str:
        return virtual_now(self.clock).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def settled(self) -> bool:
        """Nothing to do: no change since the last transition found none, no event due."""
        return self.quiet_hash == self.digest() and not any(
            i.until is None for i in self.injections
        )

    # the transitions
    def tick(self) -> None:
        """Execute the pending transition (with the injected events) at the current second."""
        before = self._op_times()
        flags = [f for i in self.injections for f in i.flags]
        argv = ["crm_simulate", "--output-as", "xml", "--xml-file", str(self.cib), "--simulate"]
        argv += ["--save-output", str(self.cib), "--set-datetime", self.date(), *flags]
        out = etree.fromstring(self.tool(argv).stdout.encode())
        transition = out.find("transition")
        fired = []
        for injection in list(self.injections):
            if injection.until is None:
                self.injections.remove(injection)
            elif transition is not None and injection.until(transition):
                self.injections.remove(injection)
                fired.append(injection.text)
        self._restamp(before)
        said = self._describe(transition, fired)
        if said:
            self.log.add(self.clock, "cluster", said)
        # crm_simulate does not drop a cancelled recurring monitor from the status section
        # (in maintenance mode it cancels them at every run): cancelling changes nothing.
        # Nor does it drop the history of a deleted resource (the controller does: its
        # "delete" of the orphan's history): that changes nothing either.
        busy = transition is not None and any(
            el.tag == "fencing_action"
            or (el.tag == "rsc_action" and el.get("op") not in ("cancel", "delete"))
            for el in transition
        )
        self.quiet_hash = None if busy else self.digest()

    def settle(self) -> None:
        """Let the cluster finish what it does (the setup; not logged)."""
        for _ in range(20):
            if self.settled:
                return
            log, self.log = self.log, Log()
            try:
                self.tick()
            finally:
                self.log = log
        raise AssertionError("the cluster does not settle: see the setup")

    def _describe(self, transition: etree._Element | None, fired: list[str]) -> str:
        if transition is None:
            return ""
        words = []
        for el in transition:
            if el.tag == "fencing_action":
                words.append(f"fence {el.get('target')} ({el.get('op')})")
            elif el.tag == "rsc_action" and el.get("resource") in self.guests:
                if el.get("op") == "cancel" or (el.get("op") == "monitor" and el.get("interval")):
                    continue  # the recurring monitors start with every placement
                op = el.get("op")
                if op == "delete":  # the controller drops a deleted resource's history
                    words.append(f"forget {el.get('resource')}'s history on {el.get('node')}")
                    continue
                words.append(f"{op} {el.get('resource')} on {el.get('node')}")
        words += [f"{text} FAILED" for text in fired]
        return "; ".join(words)

    def _op_times(self) -> dict[tuple[str, ...], tuple[str | None, str | None]]:
        root = etree.parse(str(self.cib)).getroot()
        return {
            self._key(op): (op.get("last-rc-change"), op.get("last-run"))
            for op in root.iter("lrm_rsc_op")
        }

    @staticmethod
    def _key(op: etree._Element) -> tuple[str, ...]:
        rsc = op.getparent()
        state = rsc.getparent().getparent().getparent()
        return (
            state.get("uname", ""),
            rsc.get("id", ""),
            op.get("id", ""),
            op.get("call-id", ""),
            op.get("operation", ""),
            op.get("transition-magic", ""),
        )

    def _restamp(self, before: Mapping[tuple[str, ...], tuple[str | None, str | None]]) -> None:
        """Virtual times for what crm_simulate recorded with the real clock (module doc)."""
        tree = etree.parse(str(self.cib))
        now = str(int(virtual_now(self.clock).timestamp()))
        for op in tree.getroot().iter("lrm_rsc_op"):
            old = before.get(self._key(op))
            for i, name in enumerate(("last-rc-change", "last-run")):
                if op.get(name) is not None:
                    op.set(name, (old[i] or now) if old is not None else now)
        for nv in tree.getroot().iter("nvpair"):
            if (nv.get("name") or "").startswith("last-failure-"):
                value = nv.get("value") or "0"
                if value.isdigit() and int(value) > int(now):
                    nv.set("value", now)
        tree.write(str(self.cib), xml_declaration=False, encoding="utf-8")

    # events
    def inject(self, words: list[str]) -> str:
        """An event from a cmds file; returns what the log says of it."""
        text = " ".join(words)
        match words:
            case ["fail", guest, action, "on", node, *rest]:
                rc = rest[1] if rest[:1] == ["rc"] and len(rest) == 2 else "1"
                spec = f"{guest}_{action}_0@{node}={rc}"

                def seen(tr: etree._Element) -> bool:
                    return any(
                        el.get("resource") == guest
                        and el.get("op") == action
                        and el.get("node") == node
                        for el in tr.iter("rsc_action")
                    )

                self.injections.append(
                    Injection(["--op-fail", spec], f"{action} {guest} on {node}", seen)
                )
                return f"armed: the next {action} of {guest} on {node} fails (rc {rc})"
            case ["node", node, "dies"]:
                self.injections.append(Injection(["--node-fail", node], text))
                return f"{node} dies (crm_simulate --node-fail)"
            case ["node", node, "returns"]:
                self.injections.append(Injection(["--node-up", node], text))
                return f"{node} comes back (crm_simulate --node-up)"
            case ["cluster", "stalls", seconds]:
                self.stalled_until = self.clock + float(seconds)
                return f"the cluster executes nothing for {float(seconds):g} s"
        raise ValueError(f"unknown event: {text!r}")

    # the truth at the end
    def summary(self) -> str:
        status = parse_status(
            self.tool(["crm_mon", "--output-as", "xml", "--one-shot", "--inactive"]).stdout
        )
        cib = etree.parse(str(self.cib)).getroot()
        lines = []
        for node in status.nodes:
            state = "online" if node.online else "OFFLINE"
            state += " unclean" if node.unclean else ""
            state += " standby" if node.standby else ""
            guests = [g for g in sorted(self.guests) if node.name in status.where(g)]
            lines.append(f"  {node.name}: {state}; runs {' '.join(guests) or '-'}")
        kept = {p.get("id") for p in cib.iterfind("configuration/resources//primitive")}
        stopped = [g for g in sorted(self.guests) if not status.where(g) and g in kept]
        if stopped:
            lines.append(f"  stopped: {' '.join(stopped)}")
        removed = [g for g in sorted(self.guests) if g not in kept]
        if removed:
            lines.append(f"  removed (no resource): {' '.join(removed)}")
        for f in status.failed_actions:
            if f.resource in self.guests:
                lines.append(f"  failed action: {f.task} {f.resource} on {f.node} ({f.exitstatus})")
        for c in cib.iterfind("configuration/constraints/*"):
            cid = c.get("id", "")
            if cid.startswith(("havirt-", "cli-")):
                lines.append(f"  constraint: {cid}")
        for node in cib.iterfind("configuration/nodes/node"):
            for nv in node.iterfind("instance_attributes/nvpair"):
                if nv.get("name") != "standby":
                    lines.append(f"  {node.get('uname')} {nv.get('name')}={nv.get('value')!r}")
        for nv in cib.iterfind("configuration/crm_config/cluster_property_set/nvpair"):
            if nv.get("name") == "maintenance-mode":
                lines.append(f"  maintenance-mode={nv.get('value')}")
        for name, domains in sorted(self.libvirt.running.items()):
            lines.append(f"  {name} libvirt, outside Pacemaker: runs {' '.join(domains)}")
        for name, reason in sorted(self.libvirt.unreadable.items()):
            lines.append(f"  {name} libvirt: cannot be read ({reason})")
        lock = read_lock(_Store(self))
        if lock is None:
            lines.append("  lock: free")
        else:
            lines.append(f"  lock: {lock.describe(virtual_now(self.clock))}")
        return "\n".join(lines)


class _Store:
    """The cluster's CIB for the summary's lock reading."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def cib_xml(self, scope: str | None = None, *, timeout: float | None = None) -> str:
        argv = ["cibadmin", "--query"] + (["--scope", scope] if scope else [])
        return self.cluster.query(argv).stdout


# -- the adapter --------------------------------------------------------------------------


READ_ONLY = ("crm_mon", "crm_verify")


class SimRunner(CommandRunner):
    """Runs the tools for one command: not once it is killed; crm_simulate on the virtual
    date; the read-only tools' answers remembered per CIB content."""

    def __init__(self, cluster: Cluster, proc: Proc) -> None:
        super().__init__()
        self.cluster = cluster
        self.proc = proc

    def run(
        self,
        argv: Sequence[str],
        timeout: float,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        self.proc.check()
        argv = list(argv)
        if argv[:2] == ["cibadmin", "--query"]:
            return self.cluster.query(argv)
        if argv[0] == "crm_simulate":
            argv += ["--set-datetime", self.cluster.date()]
        reads = argv[0] in READ_ONLY or argv[:2] == ["cibadmin", "--query"]
        key = (self.cluster.digest(), *argv)
        if reads and key in self.cluster.cache:
            return self.cluster.cache[key]
        result = super().run(argv, timeout, stdin=stdin, env=env, cwd=cwd)
        if reads:
            self.cluster.cache[key] = result
        return result


class SimPacemaker(Pacemaker):
    """The real adapter on the cluster's CIB file, for one command (see the module doc)."""

    def __init__(self, cluster: Cluster, proc: Proc) -> None:
        super().__init__(SimRunner(cluster, proc), cib_file=str(cluster.cib))
        self.cluster = cluster
        self.proc = proc

    def wait(self, timeout: float) -> None:
        """crm_resource --wait: virtual time passes until the cluster has nothing to do."""
        seconds = max(1, int(timeout))
        start = self.cluster.clock
        while not self.cluster.settled:
            if self.cluster.clock - start >= seconds:
                raise PacemakerTimeout(
                    f"the cluster did not settle within {seconds} s",
                    hint="see crm_mon for what is still pending",
                )
            self.proc.sleep(1.0)


# -- the admins' commands -----------------------------------------------------------------


@dataclass
class Proc:
    """One havirt command of one admin, run in its own thread (see the module doc)."""

    sim: Simulation
    admin: str
    host: str
    pid: int
    args: list[str]
    wake: float | None = None
    finished: bool = False
    killed: bool = False
    interrupt: bool = False
    go: threading.Event = field(default_factory=threading.Event)
    shown: dict[str, int] = field(default_factory=lambda: {"err": 0, "out": 0})
    tokens: int = 0
    thread: threading.Thread | None = None

    # in the command's thread
    def check(self) -> None:
        if self.killed:
            raise Vanished

    def sleep(self, seconds: float) -> None:
        self.check()
        self.show_output()
        self.wake = self.sim.cluster.clock + max(0.0, seconds)
        streams = (sys.stdin, sys.stdout, sys.stderr)
        self.sim.back.set()
        self.go.wait()
        self.go.clear()
        sys.stdin, sys.stdout, sys.stderr = streams
        self.wake = None
        self.check()
        if self.interrupt:
            self.interrupt = False
            raise KeyboardInterrupt

    def show_output(self) -> None:
        """Log what the command printed since it last slept, at the current second."""
        for name, stream in (("err", sys.stderr), ("out", sys.stdout)):
            stream.flush()
            data = stream.buffer.getvalue().decode()  # type: ignore[attr-defined]
            self._show(name, data)

    def _show(self, name: str, data: str) -> None:
        new, self.shown[name] = data[self.shown[name] :], len(data)
        mark = "2>" if name == "err" else "1>"
        for line in new.splitlines():
            self.sim.log.add(self.sim.cluster.clock, self.admin, f"{mark} {line}")

    def env(self, quiet: bool) -> ClusterEnv:
        cluster = self.sim.cluster

        def now() -> dt.datetime:
            return virtual_now(cluster.clock)

        def token() -> str:
            self.tokens += 1
            return f"{self.admin}p{self.pid}t{self.tokens}"

        lock = LockEnv(
            me=Holder("", self.admin, self.host, self.pid, int(T0.timestamp())),
            now=now,
            monotonic=lambda: cluster.clock,
            sleep=self.sleep,
            alive=lambda pid, start: self.sim.alive(pid),
            new_token=token,
            waiting=waiting_printer(now, quiet),
        )
        return ClusterEnv(
            pacemaker=SimPacemaker(cluster, self),
            monotonic=lambda: cluster.clock,
            now=now,
            sleep=self.sleep,
            lock=lock,
        )

    def body(self) -> None:
        self.go.wait()
        self.go.clear()
        try:
            result = CliRunner().invoke(
                main,
                self.args,
                obj=ClusterWorld(self.env, libvirt=self.sim.cluster.libvirt.seen),
                catch_exceptions=True,
            )
        except Vanished:
            result = None
        if result is not None and not self.killed:
            self._show("err", result.stderr)
            self._show("out", result.stdout)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                exc = result.exception
                self.sim.log.add(self.sim.cluster.clock, self.admin, f"CRASH {exc!r}")
            self.sim.log.add(self.sim.cluster.clock, self.admin, f"exit {result.exit_code}")
        self.finished = True
        self.sim.back.set()


class Simulation:
    """A scenario's cluster, admins and events on one virtual clock."""

    def __init__(self, cib: Path) -> None:
        self.log = Log()
        self.cluster = Cluster(cib, self.log)
        self.procs: list[Proc] = []
        self.back = threading.Event()
        self.next_pid = 1001
        self.last_tick = -1.0
        self.cluster.guests = set(
            etree.parse(str(cib)).getroot().xpath("//primitive[@type='VirtualDomain']/@id")
        )

    def alive(self, pid: int) -> bool:
        return any(p.pid == pid and not p.finished and not p.killed for p in self.procs)

    def running(self, admin: str) -> Proc | None:
        return next((p for p in self.procs if p.admin == admin and not p.finished), None)

    def _resume(self, proc: Proc) -> None:
        self.back.clear()
        proc.go.set()
        self.back.wait()

    def _next_tick(self) -> float | None:
        """The cluster acts on the whole second after a change (an injected node event: at
        once), one transition a second, none while it stalls."""
        cluster = self.cluster
        if cluster.settled:
            return None
        second = max(math.floor(cluster.clock) + 1, math.ceil(cluster.stalled_until))
        return float(second)

    def run(self, timeline: Sequence[Event]) -> None:
        """Run a cmds file's events (in order of time, then of the file) with the commands
        they start, until every command ended and the cluster has nothing left to do.
        At one instant: the cluster's events, its transition, the admins' commands and
        signals, then the commands whose sleep ends."""
        events = sorted(timeline, key=lambda e: e.second)  # stable: the file's order
        streams = (sys.stdin, sys.stdout, sys.stderr)
        try:
            while True:
                waking = [p.wake for p in self.procs if not p.finished and p.wake is not None]
                tick = self._next_tick()
                due = waking + ([events[0].second] if events else [])
                due += [tick] if tick is not None else []
                if not due:
                    break
                when = min(due)
                if when > END:
                    raise AssertionError(f"the scenario still runs at {END:g} s")
                self.cluster.clock = when
                now = [e for e in events if e.second <= when]
                events = events[len(now) :]
                for e in now:
                    if e.who == "event":
                        self.log.add(when, "event", self.cluster.inject(e.text.split()))
                at_once = any(i.until is None for i in self.cluster.injections)
                if not self.cluster.settled and (at_once or (tick is not None and tick <= when)):
                    self.cluster.tick()
                    self.last_tick = when
                for e in now:
                    if e.who != "event":
                        self.command(e.who, e.text)
                for proc in sorted(
                    (p for p in self.procs if p.wake is not None and p.wake <= when),
                    key=lambda p: (p.wake or 0.0, p.pid),
                ):
                    if not proc.finished:
                        self._resume(proc)
        finally:
            sys.stdin, sys.stdout, sys.stderr = streams
            for proc in self.procs:
                if not proc.finished:
                    proc.killed = True
                    self._resume(proc)

    def command(self, who: str, text: str) -> None:
        admin, _, host = who.partition("@")
        clock = self.cluster.clock
        if text in ("ctrl-c", "killed"):
            proc = self.running(admin)
            if proc is None:
                raise ValueError(f"{admin} runs no command at {clock:g} s ({text})")
            if text == "killed":
                self.log.add(clock, admin, "killed (SIGKILL): nothing more of it runs")
                proc.killed = True
            else:
                self.log.add(clock, admin, "Ctrl-C")
                proc.interrupt = True
            self._resume(proc)
            return
        if self.running(admin) is not None:
            raise ValueError(f"{admin} still runs a command at {clock:g} s")
        host = host or DEFAULT_HOSTS.get(admin, "node1")
        proc = Proc(self, admin, host, self.next_pid, shlex.split(text))
        self.next_pid += 1
        self.procs.append(proc)
        self.log.add(clock, admin, f"$ havirt {text}   [{host}, pid {proc.pid}]")
        proc.thread = threading.Thread(target=proc.body, daemon=True)
        proc.thread.start()
        self._resume(proc)


@dataclass(frozen=True)
class Event:
    """One line of a cmds file: at ``second``, ``who`` (an admin, ``admin@host``, or
    ``event`` for the cluster) does ``text``."""

    second: float
    who: str
    text: str


def parse_cmds(text: str) -> list[Event]:
    """``SECOND ADMIN[@HOST]: COMMAND`` or ``SECOND EVENT`` per line; # comments."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        second, _, rest = line.partition(" ")
        who, colon, command = rest.partition(":")
        if colon and " " not in who.strip():
            out.append(Event(float(second), who.strip(), command.strip()))
        else:
            out.append(Event(float(second), "event", rest.strip().removeprefix("event ")))
        if not out[-1].text:
            raise ValueError(f"cmds line {number}: nothing to do: {raw!r}")
    return out


DEFAULT_HOSTS = {"admin1": "node1", "admin2": "node2", "admin3": "node3"}


# -- the initial state ----------------------------------------------------------------------


def _pairs(words: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for word in words:
        name, eq, value = word.partition("=")
        if not eq:
            raise ValueError(f"expected NAME=VALUE, not {word!r}")
        pairs.append((name, value))
    return pairs


def apply_setup(cluster: Cluster, text: str) -> None:
    """A setup file's changes to the lab's CIB, made with Pacemaker's tools, then settled
    (README.md lists the lines)."""
    placed: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = shlex.split(line)
        try:
            placed += _setup_line(cluster, words)
        except (ValueError, IndexError) as exc:
            raise ValueError(f"setup line {number} {raw!r}: {exc}") from None
        cluster.settle()
    if placed:
        match = " or ".join(f"@id='{cid}'" for cid in placed)
        cluster.tool(["cibadmin", "--delete-all", "--force", "--xpath", f"//rsc_location[{match}]"])
        cluster.settle()


def _setup_line(cluster: Cluster, words: list[str]) -> list[str]:
    match words:
        case ["node", node, "standby"]:
            cluster.tool(["crm_attribute", "--node", node, "--name", "standby", "--update", "on"])
        case ["node", node, "capacity", *pairs]:
            for name, value in _pairs(pairs):
                cluster.tool(
                    ["crm_attribute", "-z", "--node", node, "--name", name, "--update", value]
                )
        case ["node", node, "attribute", *pairs]:
            for name, value in _pairs(pairs):
                cluster.tool(["crm_attribute", "--node", node, "--name", name, "--update", value])
        case ["guest", guest, "size", *pairs]:
            for name, value in _pairs(pairs):
                cluster.tool(["crm_resource", "-r", guest, "-z", "-p", name, "-v", value])
        case ["guest", guest, "meta", *pairs]:
            for name, value in _pairs(pairs):
                cluster.tool(["crm_resource", "-r", guest, "--meta", "-p", name, "-v", value])
        case ["guest", guest, "like", model]:
            cib = etree.fromstring(cluster.tool(["cibadmin", "--query"]).stdout.encode())
            (primitive,) = cib.xpath(f"//primitive[@id='{model}']")
            text = etree.tostring(primitive, encoding="unicode").replace(model, guest)
            cluster.tool(["cibadmin", "--create", "--scope", "resources", "--xml-text", text])
            cluster.guests.add(guest)
        case ["run", *guests, "on", node]:
            ids = []
            for guest in guests:
                cid = f"setup-{guest}-{node}"
                xml = f'<rsc_location id="{cid}" rsc="{guest}" node="{node}" score="INFINITY"/>'
                cluster.tool(["cibadmin", "--create", "--scope", "constraints", "--xml-text", xml])
                ids.append(cid)
            return ids
        case ["property", *pairs]:
            for name, value in _pairs(pairs):
                cluster.tool(
                    ["crm_attribute", "--type", "crm_config", "--name", name, "--update", value]
                )
        case ["constraint", xml]:
            cluster.tool(["cibadmin", "--create", "--scope", "constraints", "--xml-text", xml])
        case ["libvirt", node, "runs", *domains] if domains:
            cluster.libvirt.running.setdefault(node, []).extend(domains)
        case ["libvirt", node, "unreadable", reason]:
            cluster.libvirt.unreadable[node] = reason
        case ["quorum", "off"]:
            tree = etree.parse(str(cluster.cib))
            tree.getroot().set("have-quorum", "0")
            tree.write(str(cluster.cib), encoding="utf-8")
        case _:
            raise ValueError("unknown setup line")
    return []


def run_folder(folder: Path, lab_cib: Path, work: Path) -> str:
    """Run one scenario folder on a copy of the lab's CIB; return its log."""
    work.mkdir(parents=True, exist_ok=True)
    cib = work / "cib.xml"
    initial = folder / "cib.xml"
    cib.write_bytes(initial.read_bytes() if initial.exists() else lab_cib.read_bytes())
    sim = Simulation(cib)
    cluster = sim.cluster
    cluster.clock = -600.0  # the history before the scenario
    cluster._restamp({})
    setup = folder / "setup"
    if setup.exists():
        apply_setup(cluster, setup.read_text())
        cluster.settle()
    else:
        cluster.quiet_hash = cluster.digest()  # the lab's CIB is settled
    cluster.clock = 0.0
    sim.log.note("== the cluster at the start\n" + cluster.summary() + "\n== what happens")
    sim.run(parse_cmds((folder / "cmds").read_text()))
    sim.log.note("== the cluster at the end\n" + cluster.summary())
    return sim.log.text()
