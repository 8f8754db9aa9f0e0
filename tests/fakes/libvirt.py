"""One fake libvirt daemon, as the agents see it through the boundary's Protocols
(``havirt.agents.libvirt.protocols``: ``Hypervisor``, ``Domain``, ``StoragePool``,
``MigrationJob``).

mypy checks these classes against the Protocols (the assignments at the end of this
module; tests/contract/test_typecheck.py runs mypy over tests/fakes), and
tests/contract/test_libvirt_fake_conformance.py runs the same tests on this fake and on
the real boundary opened on libvirt's test driver, so the fake answers as libvirt does:
the same states and reasons, the same errors with the same codes.

What the fake does not know (the host's QEMU processes, its mounts, its clock) it hands
to hooks a harness sets: ``on_process_started``/``on_process_ended`` when a guest's
QEMU process would start or end, ``on_pool_started``/``on_pool_stopped``/``on_pool_built``
when libvirt would mount, unmount or mkdir, and ``clock`` for migrations. Faults are
fields a test sets (``unavailable``, ``create_error``, ``on_shutdown``, ``on_destroy``,
...) or ``before`` hooks run at a call (they may raise, or change the fake), never
a method patched over.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

from havirt.agents.guest.domain_state import DomainState
from havirt.agents.libvirt.boundary import (
    NO_DOMAIN,
    NO_STORAGE_POOL,
    OPERATION_INVALID,
    DomainInfo,
    HypervisorError,
    HypervisorTimeout,
    HypervisorUnavailable,
    JobProgress,
)

if TYPE_CHECKING:
    from havirt.agents.libvirt import protocols

# libvirt's error codes the fake answers with, besides the boundary's own names
OPERATION_FAILED = 9  # VIR_ERR_OPERATION_FAILED
OPERATION_ABORTED = 78  # VIR_ERR_OPERATION_ABORTED
AGENT_UNRESPONSIVE = 86  # VIR_ERR_AGENT_UNRESPONSIVE

DEFAULT_UUID = "6f1b8c2e-52a4-4d3e-9a0b-0123456789ab"
# The UUID a domain or pool defined without one gets (libvirt makes up a random one).
GENERATED_UUID = "0b6c7f54-1111-4222-8333-444455556666"
GENERATED_POOL_UUID = "3c1e4f0a-7b2d-4e9a-8c5f-0123456789ab"


def domain_xml(
    name: str = "vm1", uuid: str | None = DEFAULT_UUID, *, guest_agent: bool = True
) -> str:
    """A KVM guest's definition, as ``virsh dumpxml`` would print a small one."""
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


_KIB = {"b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "m": 1024, "mib": 1024}
_KIB.update({"g": 1024**2, "gib": 1024**2, "kb": 1000 / 1024, "mb": 1000**2 / 1024})


def _vcpus_and_memory(xml: str) -> tuple[int, int]:
    """(vCPUs, maximum memory in KiB) of a definition, as libvirt reads them."""
    root = ET.fromstring(xml)
    vcpus = int(root.findtext("vcpu") or 1)
    memory = root.find("memory")
    if memory is None or not (memory.text or "").strip():
        return vcpus, 0
    unit = (memory.get("unit") or "KiB").lower()
    return vcpus, int(int(memory.text or 0) * _KIB[unit])


class Clock(Protocol):
    """The time a migration takes passes on this clock (a harness passes its own)."""

    now: float

    def sleep(self, seconds: float) -> None: ...


class StillClock:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def not_running(what: str) -> HypervisorError:
    return HypervisorError(
        f"{what}: Requested operation is not valid: domain is not running", OPERATION_INVALID
    )


class FakeDomain:
    """A guest of the fake libvirt, as ``protocols.Domain``."""

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
        self.vcpus, self.memory_kib = _vcpus_and_memory(self.inactive_xml)
        # What a graceful shutdown request does: "stop" the guest, "ignore" it, or
        # "refuse" it (libvirt answers with an error); what destroy does: "stop" the
        # guest, or "ignore" it (accepted, no effect: a QEMU that does not die).
        self.on_shutdown: Literal["stop", "ignore", "refuse"] = "stop"
        self.on_destroy: Literal["stop", "ignore"] = "stop"
        self.state_error: HypervisorError | None = None
        self.destroy_error: HypervisorError | None = None
        self.migrate_error: HypervisorError | None = None
        self.ping_error: HypervisorError | None = None
        self.speed_error: HypervisorError | None = None
        # Run at a call (by its name in ``calls``) with the domain and the call's
        # arguments, after it was recorded: may raise, or change the domain (a guest
        # that vanishes while being stopped, a job libvirt has not begun yet, ...).
        self.before: dict[str, Callable[..., None]] = {}
        # The states the next state queries find, one each (then the state stays).
        self.upcoming_states: list[tuple[str, str]] = []
        self.gone = False  # undefined/removed from libvirt: every call says "no domain"
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
    def _call(self, what: str, *args: object) -> None:
        self.hv._check()
        self.hv.calls.append((what, self.name, *args))
        if self.gone:
            raise HypervisorError(f"{what}: Domain not found", NO_DOMAIN)
        hook = self.before.get(what)
        if hook is not None:
            hook(self, *args)

    def set_state(self, state: str, reason: str) -> None:
        self._state = DomainState(state, reason)

    def _ended(self, reason: str) -> None:
        """The guest stopped: its QEMU process goes; a transient guest leaves libvirt."""
        self.hv.process_ended(self)
        if self.persistent:
            self._state = DomainState("shutoff", reason)
        else:
            self.hv.remove(self)

    @property
    def active(self) -> bool:
        return self._state.state != "shutoff"

    # protocols.Domain
    def state(self, limit: float | None = None) -> DomainState:
        self._call("state")
        if self.state_error is not None:
            raise self.state_error
        if self.upcoming_states:
            self._state = DomainState(*self.upcoming_states.pop(0))
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
            raise not_running("shutdown")
        if self.on_shutdown == "refuse":
            raise HypervisorError("shutdown: Guest agent is not responding", AGENT_UNRESPONSIVE)
        if self.on_shutdown == "stop":
            self._ended("shutdown")

    def destroy(self, graceful: bool = False) -> None:
        if graceful:
            self._call("destroy", "graceful")
        else:
            self._call("destroy")
        if self.destroy_error is not None:
            raise self.destroy_error
        if not self.active:
            raise not_running("destroy")
        if self.on_destroy == "stop":
            self._ended("destroyed")

    def undefine(self) -> None:
        self._call("undefine")
        if not self.persistent:
            raise HypervisorError(
                "undefine: Requested operation is not valid: cannot undefine transient domain",
                OPERATION_INVALID,
            )
        if self.active:
            self.persistent = False
        else:
            self.hv.remove(self)

    def start(self) -> None:
        self._call("start")
        if self.active:
            raise HypervisorError(
                "start: Requested operation is not valid: domain is already running",
                OPERATION_INVALID,
            )
        self._state = DomainState("running", "booted")
        self.hv.process_started(self)

    def save(self, path: str) -> None:
        self._call("save", path)
        if self.hv.save_error is not None:
            raise self.hv.save_error
        if not self.active:
            raise not_running("save")
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
    """A migration as ``protocols.MigrationJob``, on the hypervisor's clock: waiting
    moves the clock on; it ends ``takes`` seconds after it started or ``abort_takes``
    after an abort, whichever comes first. (libvirt's test driver cannot migrate: the
    conformance suite does not cover this class.)"""

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
                "migrate: operation aborted: migration out job: canceled by client",
                OPERATION_ABORTED,
            )
        elif self.dom.migrate_error is not None:
            self.error = self.dom.migrate_error
        else:
            self.dom._ended("migrated")


class FakePool:
    """A storage pool of the fake libvirt, as ``protocols.StoragePool``."""

    def __init__(self, hv: FakeHypervisor, xml: str, active: bool = False) -> None:
        self.hv = hv
        self.defined_xml = xml
        root = ET.fromstring(xml)
        self.name = root.findtext("name") or ""
        self.uuid = root.findtext("uuid") or GENERATED_POOL_UUID
        self.active = active
        self.autostart_on = False
        self.volumes: list[str] = []
        self.start_error: HypervisorError | None = None
        self.destroy_error: HypervisorError | None = None
        # libvirt's destroy leaves the filesystem mounted (an fs pool on an image file):
        # for the harness's on_pool_stopped hook.
        self.destroy_leaves_mount = False

    @property
    def type(self) -> str:
        return ET.fromstring(self.defined_xml).get("type") or ""

    @property
    def target(self) -> str:
        return ET.fromstring(self.defined_xml).findtext("target/path") or ""

    # protocols.StoragePool
    def is_active(self) -> bool:
        self.hv._call("isActive", self.name)
        return self.active

    def is_persistent(self) -> bool:
        return True

    def autostart(self) -> bool:
        self.hv._call("autostart", self.name)
        return self.autostart_on

    def xml(self, inactive: bool = False) -> str:
        self.hv._call("pool xml", self.name)
        return self.defined_xml

    def build(self) -> None:
        self.hv._call("build", self.name)
        if self.hv.on_pool_built is not None:
            self.hv.on_pool_built(self)

    def start(self) -> None:
        self.hv._call("start", self.name)
        if self.start_error is not None:
            raise self.start_error
        if self.active:
            raise HypervisorError(
                f"start pool {self.name}: Requested operation is not valid: "
                f"storage pool '{self.name}' is already active",
                OPERATION_INVALID,
            )
        self.active = True
        if self.hv.on_pool_started is not None:
            self.hv.on_pool_started(self)

    def destroy(self) -> None:
        self.hv._call("destroy pool", self.name)
        if self.destroy_error is not None:
            raise self.destroy_error
        if not self.active:
            raise HypervisorError(
                f"stop pool {self.name}: Requested operation is not valid: "
                f"storage pool '{self.name}' is not active",
                OPERATION_INVALID,
            )
        self.active = False
        if self.hv.on_pool_stopped is not None:
            self.hv.on_pool_stopped(self)

    def volume_paths(self) -> list[str]:
        self.hv._call("volume_paths", self.name)
        return list(self.volumes)


class FakeHypervisor:
    """One libvirt daemon (and the connection to it), as ``protocols.Hypervisor``.

    ``calls`` records every call: ``(what, domain or pool name, arguments...)`` for a
    domain's or a pool's, ``(what, arguments...)`` for the hypervisor's own."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.guests: list[FakeDomain] = []
        self.pools: dict[str, FakePool] = {}
        self.calls: list[tuple[object, ...]] = []
        # Set: every call fails as libvirt unreachable (a message, or the error itself).
        self.unavailable: str | HypervisorError | None = None
        self.actual_uri = "qemu:///system"
        self.uri: str | None = None
        self.reserve = 0.0  # time kept back from calls (the agent raises it before destroy)
        self.create_error: HypervisorError | None = None
        self.save_error: HypervisorError | None = None
        self.define_error: HypervisorError | None = None  # of define_pool
        self.connects = 0
        # Hook run at every connect (e.g. to make libvirt come back after a while).
        self.on_connect: Callable[[FakeHypervisor], None] | None = None
        # Hook run with the domain a create made (e.g. one that dies while starting).
        self.on_create: Callable[[FakeDomain], None] | None = None
        # What libvirt would do on the host: a guest's QEMU process starts or ends; a
        # pool's filesystem is mounted, unmounted, its directory made.
        self.on_process_started: Callable[[FakeDomain], None] | None = None
        self.on_process_ended: Callable[[FakeDomain], None] | None = None
        self.on_pool_started: Callable[[FakePool], None] | None = None
        self.on_pool_stopped: Callable[[FakePool], None] | None = None
        self.on_pool_built: Callable[[FakePool], None] | None = None
        self.inactive_networks: set[str] = set()
        self.clock: Clock = clock or StillClock()

    def _check(self) -> None:
        if isinstance(self.unavailable, HypervisorError):
            raise self.unavailable
        if self.unavailable:
            raise HypervisorUnavailable(self.unavailable)

    def _call(self, *what: object) -> None:
        self._check()
        self.calls.append(what)

    def calls_of(self, what: str) -> list[tuple[object, ...]]:
        return [c for c in self.calls if c[0] == what]

    def process_started(self, dom: FakeDomain) -> None:
        if self.on_process_started is not None:
            self.on_process_started(dom)

    def process_ended(self, dom: FakeDomain) -> None:
        if self.on_process_ended is not None:
            self.on_process_ended(dom)

    # set-up
    def add(
        self,
        name: str = "vm1",
        uuid: str = DEFAULT_UUID,
        state: tuple[str, str] = ("running", "booted"),
        *,
        persistent: bool = False,
        xml: str | None = None,
        qemu: bool | None = None,
    ) -> FakeDomain:
        """Put a guest into libvirt; an active one has a QEMU process unless qemu=False."""
        dom = FakeDomain(self, name, uuid, state, persistent, xml)
        self.guests.append(dom)
        if qemu if qemu is not None else dom.active:
            self.process_started(dom)
        return dom

    def add_pool(self, xml: str, active: bool = False) -> FakePool:
        pool = FakePool(self, xml, active)
        self.pools[pool.name] = pool
        return pool

    def remove(self, dom: FakeDomain) -> None:
        if dom in self.guests:
            self.guests.remove(dom)
        dom.gone = True

    def _find(self, name: str | None, uuid: str | None) -> FakeDomain | None:
        for dom in self.guests:
            if uuid and dom.uuid == uuid:
                return dom
        for dom in self.guests:
            if name and dom.name == name:
                return dom
        return None

    def _same_uuid(self, what: str, name: str, uuid: str | None) -> None:
        """libvirt refuses a definition whose name is another UUID's (a definition
        without a UUID gets a new one)."""
        known = self._find(name, None)
        if known is not None and known.uuid != uuid:
            raise HypervisorError(
                f"{what}: operation failed: domain '{name}' already exists with uuid {known.uuid}",
                OPERATION_FAILED,
            )

    @staticmethod
    def _identity(xml: str) -> tuple[str, str | None]:
        root = ET.fromstring(xml)
        return root.findtext("name") or "", root.findtext("uuid")

    # protocols.Hypervisor
    def connect(self) -> None:
        self.connects += 1
        self.calls.append(("connect",))
        if self.on_connect is not None:
            self.on_connect(self)
        self._check()

    def lookup(self, name: str | None = None, uuid: str | None = None) -> FakeDomain | None:
        self._call("lookup", name, uuid)
        return self._find(None, uuid) or self._find(name, None)

    def domains(self) -> list[DomainInfo]:
        self._call("domains")
        return [DomainInfo(d.name, d.uuid, d._state) for d in self.guests]

    def running_domains(self) -> list[FakeDomain]:
        self._call("running_domains")
        return [d for d in self.guests if d.active]

    def create(self, xml: str) -> FakeDomain:
        self._call("create", xml)
        if self.create_error is not None:
            raise self.create_error
        name, uuid = self._identity(xml)
        known = self._find(name, uuid)
        self._same_uuid("create", name, uuid)
        if known is not None and known.active:
            raise HypervisorError(
                f"create: Requested operation is not valid: domain '{name}' is already active",
                OPERATION_INVALID,
            )
        if known is not None:  # a defined guest, started with this definition
            known.set_state("running", "booted")
            self.process_started(known)
            dom = known
        else:
            dom = self.add(name, uuid or GENERATED_UUID, ("running", "booted"), xml=xml)
        if self.on_create is not None:
            self.on_create(dom)
        return dom

    def define(self, xml: str) -> FakeDomain:
        self._call("define", xml)
        name, uuid = self._identity(xml)
        self._same_uuid("define", name, uuid)
        known = self._find(name, uuid)
        if known is not None:
            known.inactive_xml, known.persistent = xml, True
            return known
        return self.add(
            name, uuid or GENERATED_UUID, ("shutoff", "unknown"), persistent=True, xml=xml
        )

    def restore(self, path: str) -> None:
        self._call("restore", path)
        self.add("vm1", DEFAULT_UUID, ("running", "restored"))

    def ensure_pool_active(self, name: str) -> bool:
        self._call("ensure_pool_active", name)
        pool = self.pools.get(name)
        if pool is None:
            raise HypervisorError(f"pool lookup: storage pool {name} not found", NO_STORAGE_POOL)
        if pool.active:
            return False
        pool.active = True
        if self.on_pool_started is not None:
            self.on_pool_started(pool)
        return True

    def ensure_network_active(self, name: str) -> bool:
        self._call("ensure_network_active", name)
        if name in self.inactive_networks:
            self.inactive_networks.discard(name)
            return True
        return False

    def lookup_pool(self, name: str) -> FakePool | None:
        self._call("lookup_pool", name)
        return self.pools.get(name)

    def define_pool(self, xml: str) -> FakePool:
        self._call("define_pool", xml)
        if self.define_error is not None:
            raise self.define_error
        root = ET.fromstring(xml)
        old = self.pools.get(root.findtext("name") or "")
        if old is not None and old.uuid != root.findtext("uuid"):
            raise HypervisorError(
                f"pool define: operation failed: pool '{old.name}' already exists with uuid "
                f"{old.uuid}",
                OPERATION_FAILED,
            )
        pool = FakePool(self, xml, active=old.active if old else False)
        self.pools[pool.name] = pool
        return pool

    def close(self) -> None:
        self.calls.append(("close",))


if TYPE_CHECKING:
    # mypy checks the fake against the boundary's Protocols here (one function each, so
    # that an error names the class that drifted, and its conflicting members).
    def _is_a_hypervisor(fake: FakeHypervisor) -> protocols.Hypervisor:
        return fake

    def _is_a_domain(fake: FakeDomain) -> protocols.Domain:
        return fake

    def _is_a_storage_pool(fake: FakePool) -> protocols.StoragePool:
        return fake

    def _is_a_migration_job(fake: FakeMigrationJob) -> protocols.MigrationJob:
        return fake
