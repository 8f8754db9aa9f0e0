"""What a libvirt connection hands out: guests (:class:`Domain`), a running migration
(:class:`MigrationJob`), storage pools (:class:`StoragePool`), and the values they
report. Each reaches libvirt only through its connection (:class:`Connection`), so
every call is bounded by the operation's deadline.
"""

from __future__ import annotations

import _thread  # the threading module costs the monitor more than all its own work

from havirt.agents.guest.domain_state import DomainState
from havirt.agents.libvirt import c_api
from havirt.agents.libvirt.errors import bounded
from havirt.agents.libvirt.names import libvirt_module, shutdown_flags, state_names
from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol, TypeVar

    T = TypeVar("T")

    class Connection(Protocol):
        """What the objects use of their connection (boundary.Hypervisor)."""

        clib: Any  # libvirt.so.0 through ctypes, once loaded

        def call(self, fn: Callable[[], T], what: str, limit: float | None = None) -> T: ...
        def call_c(self, fn: Callable[[], T], what: str, limit: float | None = None) -> T: ...
        def py_lookup_uuid(self, uuid: str) -> Any: ...


class DomainInfo(Record):
    """One domain of a listing."""

    _defaults = {"persistent": None}
    name: str
    uuid: str
    state: DomainState
    persistent: bool | None  # defined (not transient); None when the listing did not ask


class JobProgress(Record):
    _defaults = {
        "elapsed_ms": 0,
        "data_total": 0,
        "data_processed": 0,
        "data_remaining": 0,
        "downtime_ms": None,
    }
    active: bool
    elapsed_ms: int
    data_total: int
    data_processed: int
    data_remaining: int
    downtime_ms: int | None


class Domain:
    """One guest, seen through one connection. Every method is deadline-bounded.

    Found through the C fast path it carries only a pointer for state queries;
    libvirt-python's object is looked up (by UUID) when an action needs it.
    """

    def __init__(
        self,
        hv: Connection,
        dom: Any = None,
        *,
        name: str = "",
        uuid: str = "",
        cdom: int | None = None,
    ) -> None:
        self._hv = hv
        self._pydom = dom
        self._cdom = cdom
        self.name: str = name or dom.name()
        self._uuid = uuid

    @property
    def uuid(self) -> str:
        if not self._uuid:
            self._uuid = self._dom.UUIDString()
        return self._uuid

    @property
    def _dom(self) -> Any:
        if self._pydom is None:
            self._pydom = self._hv.py_lookup_uuid(self._uuid)
        return self._pydom

    def state(self, limit: float | None = None) -> DomainState:
        if self._cdom is not None:
            lib, cdom = self._hv.clib, self._cdom
            state, reason = self._hv.call_c(lambda: c_api.state(lib, cdom), "state", limit)
        else:
            state, reason = self._hv.call(self._dom.state, "state", limit)
        return state_names(state, reason)

    def is_persistent(self) -> bool:
        return bool(self._hv.call(self._dom.isPersistent, "isPersistent"))

    def xml(self, inactive: bool = False, secure: bool = True) -> str:
        lv = libvirt_module()
        flags = (lv.VIR_DOMAIN_XML_INACTIVE if inactive else 0) | (
            lv.VIR_DOMAIN_XML_SECURE if secure else 0
        )
        xml: str = self._hv.call(lambda: self._dom.XMLDesc(flags), "XMLDesc")
        return xml

    def vcpus_and_memory(self) -> tuple[int, int]:
        """(vCPUs, maximum memory in KiB)."""
        if self._cdom is not None:
            lib, cdom = self._hv.clib, self._cdom
            return self._hv.call_c(lambda: c_api.vcpus_and_memory(lib, cdom), "info")
        info = self._hv.call(self._dom.info, "info")
        return int(info[3]), int(info[1])

    def shutdown(self, modes: list[str]) -> None:
        flags = shutdown_flags(modes)
        self._hv.call(lambda: self._dom.shutdownFlags(flags), "shutdown")

    def destroy(self, graceful: bool = False) -> None:
        flags = libvirt_module().VIR_DOMAIN_DESTROY_GRACEFUL if graceful else 0
        self._hv.call(lambda: self._dom.destroyFlags(flags), "destroy")

    def undefine(self) -> None:
        # No flags: libvirt refuses while a managed-save image or NVRAM exists,
        # so undefining never deletes guest data.
        self._hv.call(lambda: self._dom.undefineFlags(0), "undefine")

    def start(self) -> None:
        self._hv.call(self._dom.create, "start")

    def save(self, path: str) -> None:
        self._hv.call(lambda: self._dom.save(path), "save")

    def set_migration_speed(self, mib_per_s: int) -> None:
        self._hv.call(lambda: self._dom.migrateSetMaxSpeed(mib_per_s, 0), "migrateSetMaxSpeed")

    def set_migration_downtime(self, ms: int) -> None:
        self._hv.call(lambda: self._dom.migrateSetMaxDowntime(ms, 0), "migrateSetMaxDowntime")

    def job_progress(self, limit: float | None = None) -> JobProgress:
        lv = libvirt_module()
        stats = self._hv.call(self._dom.jobStats, "jobStats", limit)
        active = stats.get("type", lv.VIR_DOMAIN_JOB_NONE) not in (
            lv.VIR_DOMAIN_JOB_NONE,
            lv.VIR_DOMAIN_JOB_COMPLETED,
            lv.VIR_DOMAIN_JOB_FAILED,
            lv.VIR_DOMAIN_JOB_CANCELLED,
        )
        return JobProgress(
            active=active,
            elapsed_ms=int(stats.get("time_elapsed", 0)),
            data_total=int(stats.get("data_total", 0)),
            data_processed=int(stats.get("data_processed", 0)),
            data_remaining=int(stats.get("data_remaining", 0)),
            downtime_ms=stats.get("downtime"),
        )

    def abort_job(self, seconds: float) -> None:
        """Abort the domain's job, waiting at most ``seconds`` for libvirt's answer (not
        bounded by the connection's deadline: the watchdog aborts after it)."""
        dom = self._dom
        bounded(dom.abortJob, seconds, "abortJob")

    def migrate(
        self, dest_uri: str, migrate_uri: str | None, flags: int, bandwidth: int, seconds: float
    ) -> None:
        """Live-migrate; peer-to-peer when ``flags`` has P2P, else through a second connection."""
        lv = libvirt_module()
        params: dict[str, Any] = {}
        if migrate_uri:
            params[lv.VIR_MIGRATE_PARAM_URI] = migrate_uri
        if bandwidth:
            params[lv.VIR_MIGRATE_PARAM_BANDWIDTH] = bandwidth
        dom = self._dom
        if flags & lv.VIR_MIGRATE_PEER2PEER:
            bounded(lambda: dom.migrateToURI3(dest_uri, params, flags), seconds, "migrate")
            return
        dconn = bounded(lambda: lv.open(dest_uri), seconds, f"connect {dest_uri}")
        try:
            bounded(lambda: dom.migrate3(dconn, params, flags), seconds, "migrate")
        finally:
            try:
                dconn.close()
            except lv.libvirtError:
                pass

    def start_migration(
        self, dest_uri: str, migrate_uri: str | None, flags: int, bandwidth: int, seconds: float
    ) -> MigrationJob:
        """:meth:`migrate` in a thread of its own; follow it through the job returned."""
        return MigrationJob(lambda: self.migrate(dest_uri, migrate_uri, flags, bandwidth, seconds))

    def agent_ping(self, seconds: int) -> None:
        import json

        import libvirt_qemu

        command = json.dumps({"execute": "guest-ping"})
        self._hv.call(
            lambda: libvirt_qemu.qemuAgentCommand(self._dom, command, seconds, 0), "guest-ping"
        )


class MigrationJob:
    """A live migration running in a thread: libvirt's migrate call blocks until the
    migration ended (done, failed or aborted)."""

    def __init__(self, call: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self._done = _thread.allocate_lock()
        self._done.acquire()

        def work() -> None:
            try:
                call()
            except BaseException as exc:  # handed to whoever follows the job
                self.error = exc
            finally:
                self._done.release()

        _thread.start_new_thread(work, ())

    def wait(self, seconds: float) -> bool:
        """True once libvirt's call returned; waits at most ``seconds`` for that."""
        if self._done.acquire(timeout=max(0.0, seconds)):
            self._done.release()  # stays "done" for every later wait
            return True
        return False


class StoragePool:
    """One storage pool, seen through one connection. Every method is deadline-bounded.

    None of these calls makes libvirtd touch the pool's filesystem except ``start``,
    ``build`` and ``destroy`` (mount, mkdir, unmount)."""

    def __init__(self, hv: Connection, pool: Any) -> None:
        self._hv = hv
        self._pool = pool
        self.name: str = pool.name()  # kept by the client library: no call to libvirtd

    @property
    def uuid(self) -> str:
        uuid: str = self._pool.UUIDString()  # kept by the client library too
        return uuid

    def is_active(self) -> bool:
        return bool(self._hv.call(self._pool.isActive, "pool isActive"))

    def is_persistent(self) -> bool:
        return bool(self._hv.call(self._pool.isPersistent, "pool isPersistent"))

    def autostart(self) -> bool:
        return bool(self._hv.call(self._pool.autostart, "pool autostart"))

    def xml(self, inactive: bool = False) -> str:
        flags = libvirt_module().VIR_STORAGE_XML_INACTIVE if inactive else 0
        xml: str = self._hv.call(lambda: self._pool.XMLDesc(flags), "pool XMLDesc")
        return xml

    def build(self) -> None:
        """Create the target directory (no flags: never formats or overwrites anything)."""
        self._hv.call(lambda: self._pool.build(0), f"build pool {self.name}")

    def start(self) -> None:
        self._hv.call(lambda: self._pool.create(0), f"start pool {self.name}")

    def destroy(self) -> None:
        self._hv.call(self._pool.destroy, f"stop pool {self.name}")

    def volume_paths(self) -> list[str]:
        """Paths of the volumes libvirt knows in the pool (from its last refresh)."""
        pool = self._pool
        return self._hv.call(
            lambda: [vol.path() for vol in pool.listAllVolumes(0)], "pool listAllVolumes"
        )
