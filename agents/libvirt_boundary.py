"""The only module that imports libvirt.

One connection per agent run. Every call runs in a worker thread and is
bounded by the operation's deadline: libvirt-python releases the GIL while it
waits for libvirtd, so a hung daemon costs us a stuck thread (abandoned, the
agent exits with os._exit) instead of a hung agent. libvirt's integer states
and reasons are translated to names here, so nothing else needs the constants.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import libvirt
from havirt.ocf.environment import Deadline

from .domain_state import DomainState

T = TypeVar("T")

# libvirt prints every error to stderr by default; we report them ourselves.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

_STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}


def _reason_names(prefix: str) -> dict[int, str]:
    return {
        getattr(libvirt, n): n[len(prefix) :].lower()
        for n in dir(libvirt)
        if n.startswith(prefix) and not n.endswith("_LAST")
    }


_REASONS = {
    libvirt.VIR_DOMAIN_NOSTATE: _reason_names("VIR_DOMAIN_NOSTATE_"),
    libvirt.VIR_DOMAIN_RUNNING: _reason_names("VIR_DOMAIN_RUNNING_"),
    libvirt.VIR_DOMAIN_BLOCKED: _reason_names("VIR_DOMAIN_BLOCKED_"),
    libvirt.VIR_DOMAIN_PAUSED: _reason_names("VIR_DOMAIN_PAUSED_"),
    libvirt.VIR_DOMAIN_SHUTDOWN: _reason_names("VIR_DOMAIN_SHUTDOWN_"),
    libvirt.VIR_DOMAIN_SHUTOFF: _reason_names("VIR_DOMAIN_SHUTOFF_"),
    libvirt.VIR_DOMAIN_CRASHED: _reason_names("VIR_DOMAIN_CRASHED_"),
    libvirt.VIR_DOMAIN_PMSUSPENDED: _reason_names("VIR_DOMAIN_PMSUSPENDED_"),
}

SHUTDOWN_MODES = {
    "acpi": libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN,
    "agent": libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT,
    "initctl": libvirt.VIR_DOMAIN_SHUTDOWN_INITCTL,
    "signal": libvirt.VIR_DOMAIN_SHUTDOWN_SIGNAL,
    "paravirt": libvirt.VIR_DOMAIN_SHUTDOWN_PARAVIRT,
}

# virsh migrate's switches, as libvirt flags (for migrate_options).
MIGRATE_FLAGS = {
    "--live": libvirt.VIR_MIGRATE_LIVE,
    "--p2p": libvirt.VIR_MIGRATE_PEER2PEER,
    "--peer2peer": libvirt.VIR_MIGRATE_PEER2PEER,
    "--tunnelled": libvirt.VIR_MIGRATE_TUNNELLED,
    "--tunneled": libvirt.VIR_MIGRATE_TUNNELLED,
    "--persistent": libvirt.VIR_MIGRATE_PERSIST_DEST,
    "--undefinesource": libvirt.VIR_MIGRATE_UNDEFINE_SOURCE,
    "--suspend": libvirt.VIR_MIGRATE_PAUSED,
    "--copy-storage-all": libvirt.VIR_MIGRATE_NON_SHARED_DISK,
    "--copy-storage-inc": libvirt.VIR_MIGRATE_NON_SHARED_INC,
    "--copy-storage-synchronous-writes": libvirt.VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES,
    "--change-protection": libvirt.VIR_MIGRATE_CHANGE_PROTECTION,
    "--unsafe": libvirt.VIR_MIGRATE_UNSAFE,
    "--compressed": libvirt.VIR_MIGRATE_COMPRESSED,
    "--auto-converge": libvirt.VIR_MIGRATE_AUTO_CONVERGE,
    "--rdma-pin-all": libvirt.VIR_MIGRATE_RDMA_PIN_ALL,
    "--abort-on-error": libvirt.VIR_MIGRATE_ABORT_ON_ERROR,
    "--postcopy": libvirt.VIR_MIGRATE_POSTCOPY,
    "--tls": libvirt.VIR_MIGRATE_TLS,
    "--parallel": libvirt.VIR_MIGRATE_PARALLEL,
}
FLAG_LIVE = libvirt.VIR_MIGRATE_LIVE
FLAG_P2P = libvirt.VIR_MIGRATE_PEER2PEER
PARAM_URI = libvirt.VIR_MIGRATE_PARAM_URI
PARAM_BANDWIDTH = libvirt.VIR_MIGRATE_PARAM_BANDWIDTH


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

    def work() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=work, name=f"libvirt:{what}", daemon=True)
    worker.start()
    # Even with the deadline spent, let an answering daemon answer.
    worker.join(max(seconds, 0.1))
    if worker.is_alive():
        raise HypervisorTimeout(f"libvirt did not answer '{what}' within {seconds:.1f}s")
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, libvirt.libvirtError):
            raise _translate(exc, what) from exc
        raise exc
    return box["value"]


_UNREACHABLE_CODES = {
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_AUTH_FAILED,
    libvirt.VIR_ERR_INVALID_CONN,
}


def _translate(exc: libvirt.libvirtError, what: str) -> HypervisorError:
    code = exc.get_error_code()
    message = (exc.get_error_message() or str(exc)).strip()
    if code in _UNREACHABLE_CODES or "Cannot recv data" in message or "End of file" in message:
        return HypervisorUnavailable(f"{what}: {message}", code)
    return HypervisorError(f"{what}: {message}", code)


NO_DOMAIN = libvirt.VIR_ERR_NO_DOMAIN
OPERATION_INVALID = libvirt.VIR_ERR_OPERATION_INVALID


class JobProgress(NamedTuple):
    active: bool
    elapsed_ms: int = 0
    data_total: int = 0
    data_processed: int = 0
    data_remaining: int = 0
    downtime_ms: int | None = None


class Domain:
    """One guest, seen through one connection. Every method is deadline-bounded."""

    def __init__(self, hv: Hypervisor, dom: Any) -> None:
        self._hv = hv
        self._dom = dom
        self.name: str = dom.name()

    @property
    def uuid(self) -> str:
        return self._dom.UUIDString()

    def state(self) -> DomainState:
        state, reason = self._hv.call(self._dom.state, "state")
        state_name = _STATE_NAMES.get(state, f"state{state}")
        reason_name = _REASONS.get(state, {}).get(reason, f"reason{reason}")
        return DomainState(state_name, reason_name)

    def is_persistent(self) -> bool:
        return bool(self._hv.call(self._dom.isPersistent, "isPersistent"))

    def xml(self, inactive: bool = False, secure: bool = True) -> str:
        flags = (libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0) | (
            libvirt.VIR_DOMAIN_XML_SECURE if secure else 0
        )
        return self._hv.call(lambda: self._dom.XMLDesc(flags), "XMLDesc")

    def vcpus_and_memory(self) -> tuple[int, int]:
        """(vCPUs, maximum memory in KiB)."""
        info = self._hv.call(self._dom.info, "info")
        return int(info[3]), int(info[1])

    def shutdown(self, modes: list[str]) -> None:
        flags = 0
        for mode in modes:
            flags |= SHUTDOWN_MODES[mode]
        self._hv.call(lambda: self._dom.shutdownFlags(flags), "shutdown")

    def destroy(self, graceful: bool = False) -> None:
        flags = libvirt.VIR_DOMAIN_DESTROY_GRACEFUL if graceful else 0
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

    def job_progress(self) -> JobProgress:
        stats = self._hv.call(self._dom.jobStats, "jobStats")
        active = stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) not in (
            libvirt.VIR_DOMAIN_JOB_NONE,
            libvirt.VIR_DOMAIN_JOB_COMPLETED,
            libvirt.VIR_DOMAIN_JOB_FAILED,
            libvirt.VIR_DOMAIN_JOB_CANCELLED,
        )
        return JobProgress(
            active=active,
            elapsed_ms=int(stats.get("time_elapsed", 0)),
            data_total=int(stats.get("data_total", 0)),
            data_processed=int(stats.get("data_processed", 0)),
            data_remaining=int(stats.get("data_remaining", 0)),
            downtime_ms=stats.get("downtime"),
        )

    def abort_job(self) -> None:
        self._hv.call(self._dom.abortJob, "abortJob")

    def migrate(
        self, dest_uri: str, migrate_uri: str | None, flags: int, bandwidth: int, seconds: float
    ) -> None:
        """Live-migrate; peer-to-peer when ``flags`` has P2P, else through a second connection."""
        params: dict[str, Any] = {}
        if migrate_uri:
            params[PARAM_URI] = migrate_uri
        if bandwidth:
            params[PARAM_BANDWIDTH] = bandwidth
        if flags & FLAG_P2P:
            _bounded(lambda: self._dom.migrateToURI3(dest_uri, params, flags), seconds, "migrate")
            return
        dconn = _bounded(lambda: libvirt.open(dest_uri), seconds, f"connect {dest_uri}")
        try:
            _bounded(lambda: self._dom.migrate3(dconn, params, flags), seconds, "migrate")
        finally:
            try:
                dconn.close()
            except libvirt.libvirtError:
                pass

    def agent_ping(self, seconds: int) -> None:
        import json

        import libvirt_qemu

        command = json.dumps({"execute": "guest-ping"})
        self._hv.call(
            lambda: libvirt_qemu.qemuAgentCommand(self._dom, command, seconds, 0), "guest-ping"
        )


class Hypervisor:
    """A lazily opened connection whose every call is bounded by ``deadline``."""

    def __init__(self, uri: str | None, deadline: Deadline, budget: float | None = None) -> None:
        self.uri = uri or None
        self.deadline = deadline
        # Calls may use the deadline minus this reserve, so the agent still has
        # time to act on the answer (fall back to /proc, destroy, ...).
        self.reserve = budget or 0.0
        self._conn: Any = None

    def call(self, fn: Callable[[], T], what: str) -> T:
        self.connect()
        return _bounded(fn, self.deadline.remaining() - self.reserve, what)

    def connect(self) -> None:
        if self._conn is not None:
            return
        uri = self.uri
        self._conn = _bounded(
            lambda: libvirt.open(uri), self.deadline.remaining() - self.reserve, "connect"
        )

    @property
    def actual_uri(self) -> str:
        self.connect()
        return self.call(self._conn.getURI, "getURI")

    def hostname(self) -> str:
        self.connect()
        return self.call(self._conn.getHostname, "getHostname")

    def lookup(self, name: str | None = None, uuid: str | None = None) -> Domain | None:
        """The domain with this UUID (preferred) or name; None when libvirt does not know it."""
        self.connect()
        conn = self._conn
        for key, finder in ((uuid, conn.lookupByUUIDString), (name, conn.lookupByName)):
            if not key:
                continue
            try:
                dom = self.call(lambda f=finder, k=key: f(k), "lookup")
            except HypervisorError as exc:
                if exc.code == NO_DOMAIN:
                    continue
                raise
            return Domain(self, dom)
        return None

    def create(self, xml: str) -> Domain:
        return Domain(self, self.call(lambda: self._conn.createXML(xml, 0), "create"))

    def define(self, xml: str) -> Domain:
        return Domain(self, self.call(lambda: self._conn.defineXML(xml), "define"))

    def restore(self, path: str) -> None:
        self.call(lambda: self._conn.restore(path), "restore")

    def ensure_pool_active(self, name: str) -> bool:
        """Start the storage pool if inactive; True when it had to be started."""
        pool = self.call(lambda: self._conn.storagePoolLookupByName(name), "pool lookup")
        if self.call(pool.isActive, "pool isActive"):
            return False
        self.call(lambda: pool.create(0), f"start pool {name}")
        return True

    def ensure_network_active(self, name: str) -> bool:
        net = self.call(lambda: self._conn.networkLookupByName(name), "network lookup")
        if self.call(net.isActive, "network isActive"):
            return False
        self.call(net.create, f"start network {name}")
        return True

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                _bounded(conn.close, 1.0, "close")
            except HypervisorError:
                pass
