"""Fakes for the seams of ocf:havirt:VirtualDomain, shared by the agent tests.

Importable as ``vd_fakes`` (pytest puts this folder on ``sys.path``). The
fakes replace only the agent's seams, all handed to the dispatcher in the agent's
environment (``AgentHarness.agent_env``: the agent's own ``env_class`` built with
fakes): the libvirt boundary (``Hypervisor`` / ``Domain``, through the hypervisor
factory), the ``CommandRunner``, and the host (``FakeHost``: installed programs, the
clock the agent sleeps and measures deadlines with, signals, and the /proc scan for
QEMU). No test patches a product module.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import time as real_time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

from havirt.agents.guest.domain_state import DomainState
from havirt.agents.guest.qemu_processes import QemuProcess
from havirt.agents.libvirt.boundary import (
    NO_DOMAIN,
    OPERATION_INVALID,
    HypervisorError,
    HypervisorTimeout,
    HypervisorUnavailable,
    JobProgress,
)
from havirt.ocf import dispatcher
from havirt.ocf.agent_env import AgentEnv
from havirt.ocf.runner import CommandResult

REASON_PREFIX = "ocf-exit-reason:"
UUID = "6f1b8c2e-52a4-4d3e-9a0b-0123456789ab"
OTHER_UUID = "0b6c7f54-1111-4222-8333-444455556666"


def domain_xml(name: str = "vm1", uuid: str | None = UUID, *, guest_agent: bool = True) -> str:
    uuid_el = f"<uuid>{uuid}</uuid>" if uuid else ""
    channel = (
        "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
        if guest_agent
        else ""
    )
    return (
        f"<domain type='kvm'><name>{name}</name>{uuid_el}"
        "<memory unit='GiB'>1</memory><vcpu placement='static'>2</vcpu>"
        "<devices>"
        "<disk type='file' device='disk'><source file='/var/lib/libvirt/images/vm1.qcow2'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<interface type='network'><source network='default'/></interface>"
        f"{channel}</devices></domain>"
    )


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


class FakeDomain:
    """A guest as the agent sees it through ``libvirt_boundary.Domain``."""

    def __init__(
        self,
        hv: FakeHypervisor,
        name: str,
        uuid: str,
        state: tuple[str, str] = ("running", "booted"),
        persistent: bool = False,
        xml: str | None = None,
    ) -> None:
        self.hv = hv
        self.name = name
        self.uuid = uuid
        self._state = DomainState(*state)
        self.persistent = persistent
        self.inactive_xml = xml or domain_xml(name, uuid)
        self.vcpus = 2
        self.memory_kib = 1024 * 1024
        # What a graceful shutdown request does: "stop" the guest, "ignore" it, or
        # "refuse" it (libvirt answers with an error).
        self.on_shutdown = "stop"
        self.state_error: HypervisorError | None = None
        self.migrate_error: HypervisorError | None = None
        self.ping_error: HypervisorError | None = None
        self.speed_error: HypervisorError | None = None
        self.gone = False  # undefined/removed from libvirt
        # A migration (on the hypervisor's clock): how long it takes (None: it never
        # ends on its own), how long libvirt takes to end it once aborted (None: never),
        # whether abortJob never answers, how long each jobStats takes.
        self.migration_takes: float | None = 0.0
        self.abort_takes: float | None = 1.0
        self.abort_hangs = False
        self.progress_takes = 0.0
        self.job: FakeMigrationJob | None = None
        self.abort_times: list[float] = []  # the clock at each abortJob

    # bookkeeping
    def _call(self, what: str, *args) -> None:
        self.hv._check()
        self.hv.calls.append((what, self.name, *args))

    def set_state(self, state: str, reason: str) -> None:
        self._state = DomainState(state, reason)

    def _ended(self, reason: str) -> None:
        """The guest stopped: its QEMU process goes; a transient guest leaves libvirt."""
        self.hv.procs.remove_guest(self.name, self.uuid)
        if self.persistent:
            self._state = DomainState("shutoff", reason)
        else:
            self.hv.remove(self)

    @property
    def active(self) -> bool:
        return self._state.state != "shutoff"

    # the boundary's Domain API
    def state(self, limit: float | None = None) -> DomainState:
        self._call("state")
        if self.state_error is not None:
            raise self.state_error
        if self.gone:
            raise HypervisorError("state: Domain not found", NO_DOMAIN)
        return self._state

    def is_persistent(self) -> bool:
        self._call("is_persistent")
        return self.persistent

    def xml(self, inactive: bool = False, secure: bool = True) -> str:
        self._call("xml", inactive)
        return self.inactive_xml

    def vcpus_and_memory(self) -> tuple[int, int]:
        self._call("vcpus_and_memory")
        return self.vcpus, self.memory_kib

    def shutdown(self, modes: list[str]) -> None:
        self._call("shutdown", list(modes))
        if not self.active or self._state.state == "crashed":
            raise HypervisorError(
                "shutdown: Requested operation is not valid: domain is not running",
                OPERATION_INVALID,
            )
        if self.on_shutdown == "refuse":
            raise HypervisorError("shutdown: Guest agent is not responding", 86)
        if self.on_shutdown == "stop":
            self._ended("shutdown")

    def destroy(self, graceful: bool = False) -> None:
        self._call("destroy")
        if not self.active:
            raise HypervisorError(
                "destroy: Requested operation is not valid: domain is not running",
                OPERATION_INVALID,
            )
        self._ended("destroyed")

    def undefine(self) -> None:
        self._call("undefine")
        if self.active:
            self.persistent = False
        else:
            self.hv.remove(self)

    def start(self) -> None:
        self._call("start")
        self._state = DomainState("running", "booted")
        self.hv.procs.add(self.hv.next_pid(), self.name, self.uuid)

    def save(self, path: str) -> None:
        self._call("save", path)
        if self.hv.save_error is not None:
            raise self.hv.save_error
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("saved RAM")
        self._ended("saved")

    def set_migration_speed(self, mib_per_s: int) -> None:
        self._call("set_migration_speed", mib_per_s)
        if self.speed_error is not None:
            raise self.speed_error

    def set_migration_downtime(self, ms: int) -> None:
        self._call("set_migration_downtime", ms)

    def job_progress(self, limit: float | None = None) -> JobProgress:
        self._call("job_progress", limit)
        job = self.job
        if self.progress_takes:
            self.hv.clock.sleep(min(self.progress_takes, limit or self.progress_takes))
            if limit is not None and self.progress_takes > limit:
                raise HypervisorTimeout(f"libvirt did not answer 'jobStats' within {limit:.1f}s")
        return JobProgress(active=job is not None and not job.finished)

    def abort_job(self, seconds: float) -> None:
        self._call("abort_job", seconds)
        self.abort_times.append(self.hv.clock.now)
        if self.abort_hangs:
            self.hv.clock.sleep(seconds)
            raise HypervisorTimeout(f"libvirt did not answer 'abortJob' within {seconds:.1f}s")
        if self.job is None or self.job.finished:
            raise HypervisorError(
                "abortJob: Requested operation is not valid: no job is active on the domain",
                OPERATION_INVALID,
            )
        self.job.abort()

    def start_migration(
        self, dest_uri: str, migrate_uri: str | None, flags: int, bandwidth: int, seconds: float
    ) -> FakeMigrationJob:
        self._call("migrate", dest_uri, migrate_uri, flags, bandwidth)
        self.job = FakeMigrationJob(self, self.migration_takes, self.abort_takes)
        return self.job

    def agent_ping(self, seconds: int) -> None:
        self._call("agent_ping", seconds)
        if self.ping_error is not None:
            raise self.ping_error


class FakeMigrationJob:
    """A migration as ``libvirt_boundary.MigrationJob``, on the fake clock: waiting moves
    the clock on; it ends ``takes`` seconds after it started or ``abort_takes`` after
    an abort, whichever comes first."""

    def __init__(self, dom: FakeDomain, takes: float | None, abort_takes: float | None) -> None:
        self.dom = dom
        self.clock = dom.hv.clock
        self.ends_at = None if takes is None else self.clock.now + takes
        self.abort_takes = abort_takes
        self.aborted = False
        self.finished = False
        self.error: HypervisorError | None = None
        self.waits: list[float] = []

    def abort(self) -> None:
        self.aborted = True
        if self.abort_takes is not None:
            end = self.clock.now + self.abort_takes
            self.ends_at = end if self.ends_at is None else min(self.ends_at, end)

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        if self.finished:
            return True
        if self.ends_at is not None and self.ends_at <= self.clock.now + seconds:
            self.clock.now = max(self.clock.now, self.ends_at)
            self._finish()
            return True
        self.clock.now += max(0.0, seconds)
        return False

    def _finish(self) -> None:
        self.finished = True
        if self.aborted:
            self.error = HypervisorError(
                "migrate: operation aborted: migration out job: canceled by client", 78
            )
        elif self.dom.migrate_error is not None:
            self.error = self.dom.migrate_error
        else:
            self.dom._ended("migrated")


class FakeHypervisor:
    """One libvirt daemon (and the connection to it) as ``libvirt_boundary.Hypervisor``."""

    def __init__(self, procs: FakeProcs) -> None:
        self.procs = procs
        self.domains: list[FakeDomain] = []
        self.calls: list[tuple] = []
        self.unavailable: str | None = None  # set: every call raises HypervisorUnavailable
        self.actual_uri = "qemu:///system"
        self.uri: str | None = None
        self.reserve = 0.0  # time kept back from calls (the agent raises it before destroy)
        self.create_error: HypervisorError | None = None
        self.save_error: HypervisorError | None = None
        self.connects = 0
        self._pid = 4000
        # Hook run at every connect (e.g. to make libvirt come back after a while).
        self.on_connect: Callable[[FakeHypervisor], None] | None = None
        self.inactive_pools: set[str] = set()
        self.inactive_networks: set[str] = set()
        self.clock = FakeClock()  # the harness passes in its own

    def next_pid(self) -> int:
        self._pid += 1
        return self._pid

    def _check(self) -> None:
        if self.unavailable:
            raise HypervisorUnavailable(self.unavailable)

    def add(
        self,
        name: str = "vm1",
        uuid: str = UUID,
        state: tuple[str, str] = ("running", "booted"),
        *,
        persistent: bool = False,
        qemu: bool | None = None,
    ) -> FakeDomain:
        """Put a guest into libvirt; an active one gets a QEMU process unless qemu=False."""
        dom = FakeDomain(self, name, uuid, state, persistent)
        self.domains.append(dom)
        if qemu if qemu is not None else dom.active:
            self.procs.add(self.next_pid(), name, uuid)
        return dom

    def remove(self, dom: FakeDomain) -> None:
        if dom in self.domains:
            self.domains.remove(dom)
        dom.gone = True

    # the boundary's Hypervisor API
    def connect(self) -> None:
        self.connects += 1
        if self.on_connect is not None:
            self.on_connect(self)
        self._check()

    def lookup(self, name: str | None = None, uuid: str | None = None) -> FakeDomain | None:
        self._check()
        self.calls.append(("lookup", name, uuid))
        if uuid:
            for dom in self.domains:
                if dom.uuid == uuid:
                    return dom
        if name:
            for dom in self.domains:
                if dom.name == name:
                    return dom
        return None

    def _parse(self, xml: str) -> tuple[str, str]:
        root = ET.fromstring(xml)
        return root.findtext("name") or "", root.findtext("uuid") or OTHER_UUID

    def create(self, xml: str) -> FakeDomain:
        self._check()
        self.calls.append(("create", xml))
        if self.create_error is not None:
            raise self.create_error
        name, uuid = self._parse(xml)
        return self.add(name, uuid, ("running", "booted"))

    def define(self, xml: str) -> FakeDomain:
        self._check()
        self.calls.append(("define", xml))
        name, uuid = self._parse(xml)
        return self.add(name, uuid, ("shutoff", "unknown"), persistent=True)

    def restore(self, path: str) -> None:
        self._check()
        self.calls.append(("restore", path))
        self.add("vm1", UUID, ("running", "restored"))

    def ensure_pool_active(self, name: str) -> bool:
        self._check()
        self.calls.append(("ensure_pool_active", name))
        if name in self.inactive_pools:
            self.inactive_pools.discard(name)
            return True
        return False

    def ensure_network_active(self, name: str) -> bool:
        self._check()
        self.calls.append(("ensure_network_active", name))
        if name in self.inactive_networks:
            self.inactive_networks.discard(name)
            return True
        return False

    def close(self) -> None:
        self.calls.append(("close",))

    def calls_of(self, what: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == what]


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
