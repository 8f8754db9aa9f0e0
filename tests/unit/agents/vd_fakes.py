"""Fakes for the seams of ocf:havirt:VirtualDomain, shared by the agent tests.

Importable as ``vd_fakes`` (pytest puts this folder on ``sys.path``). The
fakes replace only the agent's seams, all handed to the dispatcher in the agent's
environment (``AgentHarness.agent_env``: the agent's own ``env_class`` built with
fakes): the libvirt boundary (the one fake libvirt of tests/fakes/libvirt.py, through
the hypervisor factory, wired here to the node's QEMU processes), the
``CommandRunner``, and the host (``FakeHost``: installed programs, the clock the agent
sleeps and measures deadlines with, signals, and the /proc scan for QEMU). No test
patches a product module.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import time as real_time
from collections.abc import Callable
from dataclasses import dataclass, field

from fakes.libvirt import DEFAULT_UUID, GENERATED_UUID, FakeHypervisor
from fakes.libvirt import domain_xml as domain_xml  # the tests' guest definition
from havirt.agents.guest.qemu_processes import QemuProcess
from havirt.ocf import dispatcher
from havirt.ocf.agent_env import AgentEnv
from havirt.ocf.runner import CommandResult

REASON_PREFIX = "ocf-exit-reason:"
UUID = DEFAULT_UUID  # the guest's (the fake libvirt's default)
OTHER_UUID = GENERATED_UUID  # another guest's (what the fake gives one defined without)


# -- clock ------------------------------------------------------------------------


class FakeClock:
    """Stands in for the ``time`` module inside the agent: sleeping advances the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        step = max(seconds, 0.001)  # a zero sleep must still move time on
        self.now += step
        self.slept += step

    def time(self) -> float:
        return 1_700_000_000.0 + self.now  # a fixed epoch: never the host's

    strftime = staticmethod(real_time.strftime)


class FakeHost:
    """The node as an agent sees it through ``ctx.host`` (see ``havirt.ocf.host.Host``).

    Every program is installed unless named in ``missing`` (a test of "tool missing"
    says so; no test depends on what this machine has); ``paths`` are the host files
    that exist (e.g. /dev/kvm); signals and QEMU processes go to ``procs``; daemons
    answer on the unix sockets in ``listening``; ``processes`` are other processes
    as /proc would show them (pid -> (command name, start time))."""

    def __init__(self, clock: FakeClock, procs: FakeProcs | None = None) -> None:
        self.clock = clock
        self.procs = procs
        self.missing: set[str] = set()
        self.lookups: list[tuple[str, str | None]] = []
        self.paths: set[str] = {"/dev/kvm"}
        self.mount_table: list = []  # what mounts() answers (the pool agent's tests)
        self.name = "node1"
        self.listening: set[str] = set()
        self.processes: dict[int, tuple[str, float]] = {}

    def which(self, program: str, path: str | None = None) -> str | None:
        self.lookups.append((program, path))
        return None if program in self.missing else f"/usr/sbin/{program}"

    def exists(self, path: str) -> bool:
        return path in self.paths

    def node_name(self) -> str:
        return self.name

    def kill(self, pid: int, sig: int) -> None:
        if self.procs is None:
            raise AssertionError(f"the agent signalled process {pid}, which no test set up")
        self.procs.kill(pid, sig)

    def process_name(self, pid: int) -> str | None:
        return self.processes[pid][0] if pid in self.processes else None

    def process_started(self, pid: int) -> float | None:
        return self.processes[pid][1] if pid in self.processes else None

    def connect_unix(self, path: str, timeout: float) -> None:
        if path in self.listening:
            return
        if os.path.exists(path):  # the socket file of a daemon that is gone
            raise ConnectionRefusedError(111, "Connection refused")
        raise FileNotFoundError(2, "No such file or directory")

    def qemu_processes(self, name: str | None, uuid: str | None) -> list[QemuProcess]:
        return [] if self.procs is None else self.procs.find(name, uuid)

    def mounts(self) -> list:
        return list(self.mount_table)

    def monotonic(self) -> float:
        return self.clock.monotonic()

    def time(self) -> float:
        return self.clock.time()

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)


# -- /proc -----------------------------------------------------------------------------


class FakeProcs:
    """The QEMU processes of this host, as ``qemu_processes.find`` would report them."""

    def __init__(self) -> None:
        self.procs: dict[int, QemuProcess] = {}
        # pid -> the signals it ignores (it dies on any other signal it is sent)
        self.ignores: dict[int, set[int]] = {}
        self.kills: list[tuple[int, int]] = []
        self.finds = 0
        self._pid = 4000

    def next_pid(self) -> int:
        self._pid += 1
        return self._pid

    def add(self, pid: int, name: str | None, uuid: str | None = None, ignores=()) -> None:
        self.procs[pid] = QemuProcess(pid, name, uuid.lower() if uuid else None)
        self.ignores[pid] = set(ignores)

    def remove_guest(self, name: str, uuid: str | None) -> None:
        for pid, proc in list(self.procs.items()):
            if (uuid and proc.uuid == uuid) or proc.name == name:
                del self.procs[pid]

    def find(self, name: str | None = None, uuid: str | None = None) -> list[QemuProcess]:
        self.finds += 1
        uuid = uuid.lower() if uuid else None
        return [
            p for p in self.procs.values() if (uuid and p.uuid == uuid) or (name and p.name == name)
        ]

    def kill(self, pid: int, sig: int) -> None:
        self.kills.append((pid, sig))
        if pid not in self.procs:
            raise ProcessLookupError(pid)
        if sig not in self.ignores.get(pid, set()):
            del self.procs[pid]


# -- libvirt ---------------------------------------------------------------------------


def node_libvirt(procs: FakeProcs, clock: FakeClock | None = None) -> FakeHypervisor:
    """The fake libvirt of a node whose QEMU processes are ``procs``: a guest that
    starts gets a process there, one that ends loses it."""
    hv = FakeHypervisor(clock)
    hv.on_process_started = lambda dom: procs.add(procs.next_pid(), dom.name, dom.uuid)
    hv.on_process_ended = lambda dom: procs.remove_guest(dom.name, dom.uuid)
    return hv


# -- commands ---------------------------------------------------------------------------


class FakeRunner:
    """A CommandRunner that records argv and answers from ``results`` (by program name).

    A Python script the agent runs as a child (``python -I -S SCRIPT ARGS``) is answered
    by ``scripts[SCRIPT](ARGS, timeout)`` when given there, and not recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.results: dict[str, int | Callable[[tuple[str, ...]], CommandResult]] = {}
        self.scripts: dict[str, Callable[[list[str], float], CommandResult]] = {}

    def run(self, argv, timeout, stdin=None, env=None, cwd=None) -> CommandResult:
        argv = tuple(argv)
        if argv[:3] == (sys.executable, "-I", "-S") and len(argv) > 3 and argv[3] in self.scripts:
            return self.scripts[argv[3]](list(argv[4:]), timeout)
        self.calls.append(argv)
        answer = self.results.get(argv[0], 0)
        if callable(answer):
            return answer(argv)
        return CommandResult(argv, answer, "", "" if answer == 0 else f"{argv[0]} failed")

    def programs(self) -> list[str]:
        return [a[0] for a in self.calls]


# -- running an action ------------------------------------------------------------------


@dataclass
class Outcome:
    rc: int
    stdout: str
    stderr: str
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str | None:
        return self.reasons[0] if self.reasons else None

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"Outcome(rc={self.rc}, reason={self.reason!r}, stderr={self.stderr!r})"


def run_agent(agent, action: str, environ: dict[str, str], agent_env: AgentEnv) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    rc = dispatcher.run(
        agent,
        ["VirtualDomain", action],
        environ=environ,
        stdout=out,
        stderr=err,
        agent_env=agent_env,
    )
    text = err.getvalue()
    reasons = [
        line[len(REASON_PREFIX) :] for line in text.splitlines() if line.startswith(REASON_PREFIX)
    ]
    return Outcome(rc, out.getvalue(), text, reasons)


def uri_host(uri: str | None) -> str | None:
    """The host a libvirt URI names (``qemu+ssh://root@node1:22/system``: node1)."""
    if not uri or "://" not in uri:
        return None
    authority = uri.split("://", 1)[1].split("/", 1)[0]
    return authority.rpartition("@")[2].partition(":")[0] or None


SIGTERM = signal.SIGTERM
SIGKILL = signal.SIGKILL


class AgentHarness:
    """What every agent's test harness shares: one node with a fake host (clock,
    programs, processes) and command runner, its HA_RSCTMP, the agent's libvirt seam
    answered by ``hv`` (other nodes' by ``remotes``: the real boundary is off limits),
    and running one action as pacemaker-execd would, with these fakes as the agent's
    environment. Subclasses add their own fakes and default parameters."""

    agent_class: type
    resource = "rsc"
    extra_env: dict[str, str] = {}

    def __init__(self, tmp_path, hv, procs=None) -> None:  # type: ignore[no-untyped-def]
        self.tmp = tmp_path
        self.hv = hv
        self.runner = FakeRunner()
        self.clock = FakeClock()
        self.host = FakeHost(self.clock, procs)
        self.rsctmp = tmp_path / "rsctmp"
        self.rsctmp.mkdir()
        self.backups = tmp_path / "definitions"
        self.reserves: list[float] = []  # the reserve of each connection to ``hv``
        # Other nodes' libvirt, by node name (a URI naming that host reaches it).
        self.remotes: dict[str, object] = {}
        self.remote_uris: list[str] = []  # the URIs of the connections to them

    def connect(self, uri: str | None, deadline, reserve: float = 0.0):  # type: ignore[no-untyped-def]
        """The agent's hypervisor factory: ``hv``, or another node's named in ``uri``."""
        remote = self.remotes.get(uri_host(uri))
        if remote is not None:
            assert uri is not None
            self.remote_uris.append(uri)
            remote.uri = uri  # type: ignore[attr-defined]
            return remote
        self.reserves.append(reserve)
        return self.hv

    def agent_env(self) -> AgentEnv:
        """The agent's world for one action: the fakes, through its own env_class."""
        return self.agent_class.env_class(  # type: ignore[no-any-return]
            self.host,
            self.runner,
            str(self.rsctmp),
            connect=self.connect,
            backup_dir=str(self.backups),
            **self.env_extra(),
        )

    def env_extra(self) -> dict[str, object]:
        """More of the agent's environment, as its env_class takes it."""
        return {}

    def default_reskeys(self) -> dict[str, str | None]:
        return {}

    def environ(
        self,
        *,
        interval: int = 0,
        timeout: int = 20000,
        extra: dict[str, str] | None = None,
        **reskeys: str | None,
    ) -> dict[str, str]:
        values = {**self.default_reskeys(), **reskeys}
        environ = {
            "HA_RSCTMP": str(self.rsctmp),
            "HA_LOGFACILITY": "none",
            "OCF_ROOT": "/usr/lib/ocf",
            "OCF_RESOURCE_INSTANCE": self.resource,
            "OCF_RESKEY_CRM_meta_timeout": str(timeout),
            "OCF_RESKEY_CRM_meta_interval": str(interval),
            **self.extra_env,
        }
        environ.update({f"OCF_RESKEY_{k}": v for k, v in values.items() if v is not None})
        environ.update(extra or {})
        return environ

    def run(
        self,
        action: str,
        *,
        interval: int | None = None,
        timeout: int = 20000,
        extra: dict[str, str] | None = None,
        agent: object | None = None,
        **reskeys: str | None,
    ) -> Outcome:
        """Run one action (by ``agent``, else a new ``agent_class``); ``monitor`` is a
        recurring monitor unless ``interval=0``."""
        if interval is None:
            interval = 10000 if action == "monitor" else 0
        environ = self.environ(interval=interval, timeout=timeout, extra=extra, **reskeys)
        return run_agent(agent or self.agent_class(), action, environ, self.agent_env())

    def probe(self, **kwargs) -> Outcome:  # type: ignore[no-untyped-def]
        return self.run("monitor", interval=0, **kwargs)
