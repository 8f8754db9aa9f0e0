"""The connection to libvirt: the only way the agents reach it.

One connection per agent run (:class:`Hypervisor`); what it hands out is in
objects.py, libvirt's errors and the deadline of each call in errors.py, libvirt's
flags and state names in names.py. Every call runs in a worker thread and is
bounded by the operation's deadline: libvirt releases the GIL while it waits
for libvirtd, so a hung daemon costs us a stuck thread (abandoned, the agent
exits with os._exit) instead of a hung agent.

Two ways in, both libvirt's public API: the state query that every monitor
makes goes through libvirt.so.0 directly (``c_api``, ctypes), everything
else through libvirt-python, imported only when an action needs it. libvirt's
integer states and reasons are translated to names here.
"""

from __future__ import annotations

from havirt.agents.libvirt import c_api
from havirt.agents.libvirt.errors import (
    NO_DOMAIN,
    NO_STORAGE_POOL,
    OPERATION_INVALID,
    RESOURCE_BUSY,
    HypervisorError,
    HypervisorTimeout,
    HypervisorUnavailable,
    bounded,
)
from havirt.agents.libvirt.names import (
    MIGRATE_FLAG_NAMES,
    SHUTDOWN_MODE_FLAGS,
    libvirt_module,
    migrate_flags,
    shutdown_flags,
    state_names,
)
from havirt.agents.libvirt.objects import (
    Domain,
    DomainInfo,
    JobProgress,
    MigrationJob,
    StoragePool,
)
from havirt.ocf.environment import Deadline

# The boundary's whole vocabulary, importable from here (the agents import it lazily,
# with one import line per use): its errors, libvirt's names, the objects.
__all__ = [
    "MIGRATE_FLAG_NAMES",
    "NO_DOMAIN",
    "NO_STORAGE_POOL",
    "OPERATION_INVALID",
    "RESOURCE_BUSY",
    "SHUTDOWN_MODE_FLAGS",
    "Credentials",
    "Domain",
    "DomainInfo",
    "Hypervisor",
    "HypervisorError",
    "HypervisorTimeout",
    "HypervisorUnavailable",
    "JobProgress",
    "MigrationJob",
    "StoragePool",
    "libvirt_module",
    "migrate_flags",
    "preload",
    "shutdown_flags",
    "state_names",
]

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")


def preload() -> None:
    """Load libvirt.so.0 for the C path ahead of the first connection (a command that
    asks several hosts can do it while it waits for something else)."""
    c_api.load()


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
        return bounded(fn, self._limited(limit), what)

    def call_c(self, fn: Callable[[], T], what: str, limit: float | None = None) -> T:
        return bounded(fn, self._limited(limit), what)

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
            self._conn = bounded(lambda: lv.open(uri), self._connect_budget(), "connect")
            return
        kinds = [
            lv.VIR_CRED_AUTHNAME,
            lv.VIR_CRED_PASSPHRASE,
            lv.VIR_CRED_NOECHOPROMPT,
            lv.VIR_CRED_ECHOPROMPT,
        ]
        auth = [kinds, creds.answer, None]
        try:
            self._conn = bounded(
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
        self._cconn = bounded(
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
                bounded(lambda: c_api.close(lib, cconn), 1.0, "close")
            except HypervisorError:
                pass
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                bounded(conn.close, 1.0, "close")
            except HypervisorError:
                pass
