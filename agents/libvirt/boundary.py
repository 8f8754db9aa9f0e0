"""The only module that talks to libvirt.

One connection per agent run. Every call runs in a worker thread and is
bounded by the operation's deadline: libvirt releases the GIL while it waits
for libvirtd, so a hung daemon costs us a stuck thread (abandoned, the agent
exits with os._exit) instead of a hung agent.

Two ways in, both libvirt's public API: the state query that every monitor
makes goes through libvirt.so.0 directly (``c_api``, ctypes), everything
else through libvirt-python, imported only when an action needs it. libvirt's
integer states and reasons are translated to names here.
"""

from __future__ import annotations

import _thread  # the threading module costs the monitor more than all its own work
import sys

from havirt.agents.guest.domain_state import DomainState
from havirt.agents.libvirt import c_api
from havirt.ocf.environment import Deadline
from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")

_STATE_NAMES = c_api.STATE_NAMES
_REASONS = c_api.REASON_NAMES

SHUTDOWN_MODE_FLAGS = {
    "acpi": "VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN",
    "agent": "VIR_DOMAIN_SHUTDOWN_GUEST_AGENT",
    "initctl": "VIR_DOMAIN_SHUTDOWN_INITCTL",
    "signal": "VIR_DOMAIN_SHUTDOWN_SIGNAL",
    "paravirt": "VIR_DOMAIN_SHUTDOWN_PARAVIRT",
}

# virsh migrate's switches, as libvirt flags (for migrate_options).
MIGRATE_FLAG_NAMES = {
    "--live": "VIR_MIGRATE_LIVE",
    "--p2p": "VIR_MIGRATE_PEER2PEER",
    "--peer2peer": "VIR_MIGRATE_PEER2PEER",
    "--tunnelled": "VIR_MIGRATE_TUNNELLED",
    "--tunneled": "VIR_MIGRATE_TUNNELLED",
    "--persistent": "VIR_MIGRATE_PERSIST_DEST",
    "--undefinesource": "VIR_MIGRATE_UNDEFINE_SOURCE",
    "--suspend": "VIR_MIGRATE_PAUSED",
    "--copy-storage-all": "VIR_MIGRATE_NON_SHARED_DISK",
    "--copy-storage-inc": "VIR_MIGRATE_NON_SHARED_INC",
    "--copy-storage-synchronous-writes": "VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES",
    "--change-protection": "VIR_MIGRATE_CHANGE_PROTECTION",
    "--unsafe": "VIR_MIGRATE_UNSAFE",
    "--compressed": "VIR_MIGRATE_COMPRESSED",
    "--auto-converge": "VIR_MIGRATE_AUTO_CONVERGE",
    "--rdma-pin-all": "VIR_MIGRATE_RDMA_PIN_ALL",
    "--abort-on-error": "VIR_MIGRATE_ABORT_ON_ERROR",
    "--postcopy": "VIR_MIGRATE_POSTCOPY",
    "--tls": "VIR_MIGRATE_TLS",
    "--parallel": "VIR_MIGRATE_PARALLEL",
}

NO_DOMAIN = c_api.ERR_NO_DOMAIN
OPERATION_INVALID = c_api.ERR_OPERATION_INVALID
NO_STORAGE_POOL = 49  # VIR_ERR_NO_STORAGE_POOL
RESOURCE_BUSY = c_api.ERR_RESOURCE_BUSY

_libvirt: Any = None


def libvirt_module() -> Any:
    """libvirt-python, imported on first use (the monitor path never needs it)."""
    global _libvirt
    if _libvirt is None:
        import libvirt

        # libvirt prints every error to stderr by default; we report them ourselves.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        _libvirt = libvirt
    return _libvirt


def preload() -> None:
    """Load libvirt.so.0 for the C path ahead of the first connection (a command that
    asks several hosts can do it while it waits for something else)."""
    c_api.load()


def migrate_flags(switches: tuple[str, ...] | list[str]) -> int:
    """The libvirt flags of a live migration with these virsh switches."""
    lv = libvirt_module()
    flags: int = lv.VIR_MIGRATE_LIVE
    for switch in switches:
        flags |= getattr(lv, MIGRATE_FLAG_NAMES[switch])
    return flags


def shutdown_flags(modes: list[str]) -> int:
    lv = libvirt_module()
    flags = 0
    for mode in modes:
        flags |= getattr(lv, SHUTDOWN_MODE_FLAGS[mode])
    return flags


def state_names(state: int, reason: int) -> DomainState:
    return DomainState(
        _STATE_NAMES.get(state, f"state{state}"),
        _REASONS.get(state, {}).get(reason, f"reason{reason}"),
    )


class HypervisorError(Exception):
    """A libvirt call failed; ``code`` is libvirt's error code (or None)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class HypervisorUnavailable(HypervisorError):
    """libvirtd could not be reached, or did not answer before the deadline."""


class HypervisorTimeout(HypervisorUnavailable):
    pass


def _bounded(call: Callable[[], T], seconds: float, what: str) -> T:
    """Run a libvirt call in a worker thread; give up after ``seconds``."""
    box: dict[str, Any] = {}

    done = _thread.allocate_lock()
    done.acquire()

    def work() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            done.release()

    _thread.start_new_thread(work, ())
    # Even with the deadline spent, let an answering daemon answer.
    if not done.acquire(timeout=max(seconds, 0.1)):
        raise HypervisorTimeout(f"libvirt did not answer '{what}' within {seconds:.1f}s")
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, c_api.CallFailed):
            raise _classify(exc.code, str(exc), what) from exc
        lv = sys.modules.get("libvirt")  # loaded by whoever made the failing call
        if lv is not None and isinstance(exc, lv.libvirtError):
            message = (exc.get_error_message() or str(exc)).strip()
            raise _classify(exc.get_error_code(), message, what) from exc
        raise exc
    value: T = box["value"]
    return value


_UNREACHABLE_CODES = {
    c_api.ERR_SYSTEM_ERROR,
    c_api.ERR_NO_CONNECT,
    c_api.ERR_RPC,
    c_api.ERR_AUTH_FAILED,
    c_api.ERR_INVALID_CONN,
}


def _classify(code: int | None, message: str, what: str) -> HypervisorError:
    if code in _UNREACHABLE_CODES or "Cannot recv data" in message or "End of file" in message:
        return HypervisorUnavailable(f"{what}: {message}", code)
    return HypervisorError(f"{what}: {message}", code)


class Credentials:
    """What libvirt may ask for while connecting (SASL, libssh): a user name and a password.

    Not a Record: its repr must never show the password (tracebacks, logs)."""

    __slots__ = ("password", "refused", "username")

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.username = username or None
        self.password = password
        self.refused: list[str] = []  # prompts we did not answer, for the error message

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=(hidden))"

    def answer(self, creds: list[list[Any]], _data: object = None) -> int:
        """libvirt's auth callback: fill each [type, prompt, challenge, default, result].

        Only a user name and a password are ever given; any other question (such as
        libssh's "accept this unknown host key?") is refused, so the connection fails."""
        lv = libvirt_module()
        for cred in creds:
            kind, prompt = cred[0], cred[1]
            if kind == lv.VIR_CRED_AUTHNAME:
                cred[4] = self.username or cred[3] or ""
            elif kind in (lv.VIR_CRED_PASSPHRASE, lv.VIR_CRED_NOECHOPROMPT):
                if self.password is None:
                    self.refused.append(f"a password ({prompt})")
                    return -1
                cred[4] = self.password
            else:
                self.refused.append(f"'{prompt}'")
                return -1
        return 0

    def explain(self, error: HypervisorError) -> HypervisorError:
        """The connection error, saying which question libvirt asked that we refused."""
        if not self.refused:
            return error
        asked = "; ".join(self.refused)
        return type(error)(
            f"{error} (libvirt asked for {asked}, which was refused: only a user name and "
            "a password are ever given, never a yes to an unknown host key)",
            error.code,
        )


class DomainInfo(Record):
    """One domain of a listing."""

    __slots__ = (
        "name",
        "uuid",
        "state",
        "persistent",
    )
    _defaults = {"persistent": None}
    name: str
    uuid: str
    state: DomainState
    persistent: bool | None  # defined (not transient); None when the listing did not ask


class JobProgress(Record):
    __slots__ = (
        "active",
        "elapsed_ms",
        "data_total",
        "data_processed",
        "data_remaining",
        "downtime_ms",
    )
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
        hv: Hypervisor,
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
        _bounded(dom.abortJob, seconds, "abortJob")

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
            _bounded(lambda: dom.migrateToURI3(dest_uri, params, flags), seconds, "migrate")
            return
        dconn = _bounded(lambda: lv.open(dest_uri), seconds, f"connect {dest_uri}")
        try:
            _bounded(lambda: dom.migrate3(dconn, params, flags), seconds, "migrate")
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

    def __init__(self, hv: Hypervisor, pool: Any) -> None:
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


class Hypervisor:
    """Lazily opened connections whose every call is bounded by ``deadline``."""

    def __init__(
        self,
        uri: str | None,
        deadline: Deadline,
        budget: float | None = None,
        credentials: Credentials | None = None,
        connect_timeout: float | None = None,
        libvirt_python: Any = None,
    ) -> None:
        self.uri = uri or None
        self.deadline = deadline
        # Calls may use the deadline minus this reserve, so the agent still has
        # time to act on the answer (fall back to /proc, destroy, ...).
        self.reserve = budget or 0.0
        # With credentials, connections go through virConnectOpenAuth (libvirt-python).
        self.credentials = credentials
        self.connect_timeout = connect_timeout
        # What opens libvirt-python's connections (its open and openAuth): the module
        # itself unless given (None: imported on the first connection).
        self.libvirt_python = libvirt_python
        self._conn: Any = None  # libvirt-python
        self._cconn: int | None = None  # libvirt.so.0 through ctypes
        self.clib: Any = None

    def _budget(self) -> float:
        return self.deadline.remaining() - self.reserve

    def call(self, fn: Callable[[], T], what: str, limit: float | None = None) -> T:
        """``fn()`` bounded by the deadline minus the reserve, and by ``limit`` seconds."""
        self.connect()
        return _bounded(fn, self._limited(limit), what)

    def call_c(self, fn: Callable[[], T], what: str, limit: float | None = None) -> T:
        return _bounded(fn, self._limited(limit), what)

    def _limited(self, limit: float | None) -> float:
        budget = self._budget()
        return budget if limit is None else min(budget, limit)

    def _connect_budget(self) -> float:
        budget = self._budget()
        return budget if self.connect_timeout is None else min(budget, self.connect_timeout)

    def connect(self) -> None:
        if self._conn is not None:
            return
        lv = libvirt_module() if self.libvirt_python is None else self.libvirt_python
        uri, creds = self.uri, self.credentials
        if creds is None:
            self._conn = _bounded(lambda: lv.open(uri), self._connect_budget(), "connect")
            return
        kinds = [
            lv.VIR_CRED_AUTHNAME,
            lv.VIR_CRED_PASSPHRASE,
            lv.VIR_CRED_NOECHOPROMPT,
            lv.VIR_CRED_ECHOPROMPT,
        ]
        auth = [kinds, creds.answer, None]
        try:
            self._conn = _bounded(
                lambda: lv.openAuth(uri, auth, 0), self._connect_budget(), "connect"
            )
        except HypervisorError as exc:
            raise creds.explain(exc) from exc

    def _connect_c(self) -> bool:
        """Open the ctypes connection; False when libvirt.so.0 cannot be loaded, or
        when credentials need libvirt-python's auth callback."""
        if self._cconn is not None:
            return True
        if self.credentials is not None:
            return False
        lib = c_api.load()
        if lib is None:
            return False
        uri = self.uri
        self._cconn = _bounded(
            lambda: c_api.open_connection(lib, uri), self._connect_budget(), "connect"
        )
        self.clib = lib
        return True

    @property
    def actual_uri(self) -> str:
        self.connect()
        uri: str = self.call(self._conn.getURI, "getURI")
        return uri

    def hostname(self) -> str:
        self.connect()
        hostname: str = self.call(self._conn.getHostname, "getHostname")
        return hostname

    def lookup(self, name: str | None = None, uuid: str | None = None) -> Domain | None:
        """The domain with this UUID (preferred) or name; None when libvirt does not know it."""
        if self._conn is None and self._connect_c():
            lib, cconn = self.clib, self._cconn
            assert cconn is not None  # _connect_c() opened it

            def find() -> tuple[int, str, str] | None:
                cdom = c_api.lookup(lib, cconn, uuid, name)
                if cdom is None:
                    return None
                return (cdom, *c_api.identity(lib, cdom))

            found = self.call_c(find, "lookup")
            if found is None:
                return None
            cdom, dom_name, dom_uuid = found
            return Domain(self, name=dom_name, uuid=dom_uuid, cdom=cdom)
        self.connect()
        conn = self._conn
        for key, finder in ((uuid, conn.lookupByUUIDString), (name, conn.lookupByName)):
            if not key:
                continue

            # Defaults bind this round's finder and key: a call given up on still runs.
            def lookup_by(f: Callable[[str], Any] = finder, k: str = key) -> Any:
                return f(k)

            try:
                dom = self.call(lookup_by, "lookup")
            except HypervisorError as exc:
                if exc.code == NO_DOMAIN:
                    continue
                raise
            return Domain(self, dom)
        return None

    def domains(self) -> list[DomainInfo]:
        """Every domain (running or defined) with its state, in one round trip."""
        self.connect()
        lv = libvirt_module()
        conn = self._conn
        records = self.call(
            lambda: conn.getAllDomainStats(lv.VIR_DOMAIN_STATS_STATE, 0), "list domains"
        )
        found = []
        for dom, stats in records:  # name and UUID are known locally: no further calls
            state = state_names(int(stats.get("state.state", 0)), int(stats.get("state.reason", 0)))
            found.append(DomainInfo(dom.name(), dom.UUIDString(), state))
        return found

    def listing(self) -> list[DomainInfo]:
        """Every domain with its state and whether it is persistent (defined): the active
        ones, and the inactive persistent ones as shut off. A handful of round trips
        whatever the number of guests, through libvirt.so's C API when it loads (no
        libvirt-python import: ``havirt domain list`` asks every node and must start fast)."""
        if self._conn is None and self._connect_c():
            lib, cconn = self.clib, self._cconn
            assert cconn is not None  # _connect_c() opened it
            rows = self.call_c(lambda: c_api.listing(lib, cconn), "list domains")
            return [
                DomainInfo(name, uuid, state_names(st, reason), persistent)
                for name, uuid, st, reason, persistent in rows
            ]
        self.connect()
        lv = libvirt_module()
        conn = self._conn

        def work() -> list[DomainInfo]:
            found: dict[str, DomainInfo] = {}
            for dom in conn.listAllDomains(lv.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                try:
                    st, reason = dom.state()
                except lv.libvirtError as exc:
                    if exc.get_error_code() == NO_DOMAIN:
                        continue  # gone since the list was made
                    raise
                found[dom.UUIDString()] = DomainInfo(
                    dom.name(), dom.UUIDString(), state_names(st, reason), False
                )
            for dom in conn.listAllDomains(lv.VIR_CONNECT_LIST_DOMAINS_PERSISTENT):
                uuid = dom.UUIDString()
                known = found.get(uuid)
                found[uuid] = (
                    known._replace(persistent=True)
                    if known
                    else DomainInfo(dom.name(), uuid, state_names(5, 0), True)
                )
            return list(found.values())

        return self.call(work, "list domains")

    def py_lookup_uuid(self, uuid: str) -> Any:
        """libvirt-python's object of a domain found through the ctypes path."""
        self.connect()
        return self.call(lambda: self._conn.lookupByUUIDString(uuid), "lookup")

    def create(self, xml: str) -> Domain:
        return Domain(self, self.call(lambda: self._conn.createXML(xml, 0), "create"))

    def define(self, xml: str) -> Domain:
        return Domain(self, self.call(lambda: self._conn.defineXML(xml), "define"))

    def restore(self, path: str) -> None:
        self.call(lambda: self._conn.restore(path), "restore")

    def ensure_pool_active(self, name: str) -> bool:
        """Start the storage pool if inactive; True when it had to be started."""
        pool = self.lookup_pool(name)
        if pool is None:
            raise HypervisorError(f"pool lookup: storage pool {name} not found", NO_STORAGE_POOL)
        if pool.is_active():
            return False
        pool.start()
        return True

    def lookup_pool(self, name: str) -> StoragePool | None:
        """The storage pool with this name; None when libvirt does not know it."""
        self.connect()
        try:
            pool = self.call(lambda: self._conn.storagePoolLookupByName(name), "pool lookup")
        except HypervisorError as exc:
            if exc.code == NO_STORAGE_POOL:
                return None
            raise
        return StoragePool(self, pool)

    def define_pool(self, xml: str) -> StoragePool:
        """Define (persistently) or redefine a storage pool; it stays inactive."""
        self.connect()
        return StoragePool(
            self, self.call(lambda: self._conn.storagePoolDefineXML(xml, 0), "pool define")
        )

    def running_domains(self) -> list[Domain]:
        """The guests running (or paused) on this host."""
        self.connect()
        flags = libvirt_module().VIR_CONNECT_LIST_DOMAINS_ACTIVE
        found = self.call(lambda: self._conn.listAllDomains(flags), "listAllDomains")
        return [Domain(self, dom) for dom in found]

    def ensure_network_active(self, name: str) -> bool:
        net = self.call(lambda: self._conn.networkLookupByName(name), "network lookup")
        if self.call(net.isActive, "network isActive"):
            return False
        self.call(net.create, f"start network {name}")
        return True

    def close(self) -> None:
        if self._cconn is not None:
            lib, cconn, self._cconn = self.clib, self._cconn, None
            try:
                _bounded(lambda: c_api.close(lib, cconn), 1.0, "close")
            except HypervisorError:
                pass
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                _bounded(conn.close, 1.0, "close")
            except HypervisorError:
                pass
