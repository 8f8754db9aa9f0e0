"""libvirt's public C API through ctypes, for the one hot path: "what state is it in?".

Pacemaker runs the guest agent's monitor every few seconds for every guest.
Importing libvirt-python costs ~25 ms (its large module and ``typing``); the
same libvirt.so.0 loaded with ctypes answers a state query in a fraction of
that. Only the stable public C API is used (virConnectOpen,
virDomainLookupByUUIDString/ByName, virDomainGetState, virDomainGetName,
virDomainGetUUIDString, virConnectListAllDomains, virGetLastError), never
libvirt's internal wire protocol. Used only by ``agents.libvirt.boundary``; everything
else goes through libvirt-python there. ``havirt domain list`` uses the listing
for the same reason: it asks every node, and should start as fast as a monitor.
"""

from __future__ import annotations

import ctypes

# virDomainState and the reasons of each state (libvirt's public enums).
STATE_NAMES = {
    0: "nostate",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutdown",
    5: "shutoff",
    6: "crashed",
    7: "pmsuspended",
}
REASON_NAMES: dict[int, dict[int, str]] = {
    0: {0: "unknown"},
    1: {
        0: "unknown",
        1: "booted",
        2: "migrated",
        3: "restored",
        4: "from_snapshot",
        5: "unpaused",
        6: "migration_canceled",
        7: "save_canceled",
        8: "wakeup",
        9: "crashed",
        10: "postcopy",
        11: "postcopy_failed",
    },
    2: {0: "unknown"},
    3: {
        0: "unknown",
        1: "user",
        2: "migration",
        3: "save",
        4: "dump",
        5: "ioerror",
        6: "watchdog",
        7: "from_snapshot",
        8: "shutting_down",
        9: "snapshot",
        10: "crashed",
        11: "starting_up",
        12: "postcopy",
        13: "postcopy_failed",
        14: "api_error",
    },
    4: {0: "unknown", 1: "user"},
    5: {
        0: "unknown",
        1: "shutdown",
        2: "destroyed",
        3: "crashed",
        4: "migrated",
        5: "saved",
        6: "failed",
        7: "from_snapshot",
        8: "daemon",
    },
    6: {0: "unknown", 1: "panicked"},
    7: {0: "unknown"},
}

# virErrorNumber values the boundary needs to tell apart.
ERR_NO_CONNECT = 5
ERR_INVALID_CONN = 6
ERR_SYSTEM_ERROR = 38
ERR_RPC = 39
ERR_NO_DOMAIN = 42
ERR_AUTH_FAILED = 45
ERR_OPERATION_INVALID = 55
ERR_RESOURCE_BUSY = 87  # e.g. a storage lease held by another host

_VIR_UUID_STRING_BUFLEN = 37

# virConnectListAllDomainsFlags (public, stable).
LIST_ACTIVE = 1
LIST_PERSISTENT = 4


class _VirErrorHead(ctypes.Structure):
    # The leading fields of virError (public, stable): int code, int domain, char *message.
    _fields_ = [("code", ctypes.c_int), ("domain", ctypes.c_int), ("message", ctypes.c_char_p)]


class _VirDomainInfo(ctypes.Structure):
    # virDomainInfo (public, stable).
    _fields_ = [
        ("state", ctypes.c_ubyte),
        ("maxMem", ctypes.c_ulong),
        ("memory", ctypes.c_ulong),
        ("nrVirtCpu", ctypes.c_ushort),
        ("cpuTime", ctypes.c_ulonglong),
    ]


class CallFailed(Exception):
    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


_lib: ctypes.CDLL | None = None
_ERROR_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_silence = _ERROR_FUNC(lambda _data, _err: None)  # kept referenced: libvirt calls it


def load() -> ctypes.CDLL | None:
    """libvirt.so.0 with the signatures declared; None when it cannot be loaded."""
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL("libvirt.so.0")
    except OSError:
        return None
    vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    signatures = {
        "virConnectOpen": ([cp], vp),
        "virConnectClose": ([vp], ci),
        "virDomainLookupByUUIDString": ([vp, cp], vp),
        "virDomainLookupByName": ([vp, cp], vp),
        "virDomainGetState": ([vp, ctypes.POINTER(ci), ctypes.POINTER(ci), ctypes.c_uint], ci),
        "virDomainGetName": ([vp], cp),
        "virDomainGetUUIDString": ([vp, cp], ci),
        "virDomainFree": ([vp], ci),
        "virDomainGetInfo": ([vp, ctypes.POINTER(_VirDomainInfo)], ci),
        "virConnectListAllDomains": ([vp, ctypes.POINTER(ctypes.POINTER(vp)), ctypes.c_uint], ci),
        "virGetLastError": ([], ctypes.POINTER(_VirErrorHead)),
        "virSetErrorFunc": ([vp, _ERROR_FUNC], None),
    }
    for name, (argtypes, restype) in signatures.items():
        func = getattr(lib, name)
        func.argtypes = argtypes
        func.restype = restype
    lib.virSetErrorFunc(None, _silence)  # libvirt would print every error to stderr
    _lib = lib
    return lib


def _failure(lib: ctypes.CDLL, what: str) -> CallFailed:
    # virGetLastError is per thread: call it in the thread of the failed call.
    err = lib.virGetLastError()
    if not err:
        return CallFailed(f"{what} failed", None)
    head = err.contents
    message = head.message.decode(errors="replace") if head.message else f"{what} failed"
    return CallFailed(message, head.code)


def open_connection(lib: ctypes.CDLL, uri: str | None) -> int:
    conn: int | None = lib.virConnectOpen(uri.encode() if uri else None)  # None: NULL
    if not conn:
        raise _failure(lib, "connect")
    return conn


def lookup(lib: ctypes.CDLL, conn: int, uuid: str | None, name: str | None) -> int | None:
    """A domain pointer by UUID (preferred) or name; None when libvirt does not know it."""
    for key, func in ((uuid, lib.virDomainLookupByUUIDString), (name, lib.virDomainLookupByName)):
        if not key:
            continue
        dom: int | None = func(conn, key.encode())  # None: NULL
        if dom:
            return dom
        failure = _failure(lib, "lookup")
        if failure.code != ERR_NO_DOMAIN:
            raise failure
    return None


def state(lib: ctypes.CDLL, dom: int) -> tuple[int, int]:
    st, reason = ctypes.c_int(), ctypes.c_int()
    if lib.virDomainGetState(dom, ctypes.byref(st), ctypes.byref(reason), 0) < 0:
        raise _failure(lib, "state")
    return st.value, reason.value


def identity(lib: ctypes.CDLL, dom: int) -> tuple[str, str]:
    """(name, UUID) of a domain pointer."""
    raw = lib.virDomainGetName(dom)
    if raw is None:
        raise _failure(lib, "name")
    buf = ctypes.create_string_buffer(_VIR_UUID_STRING_BUFLEN)
    if lib.virDomainGetUUIDString(dom, buf) < 0:
        raise _failure(lib, "uuid")
    return raw.decode(), buf.value.decode()


def vcpus_and_memory(lib: ctypes.CDLL, dom: int) -> tuple[int, int]:
    """(vCPUs, maximum memory in KiB), for utilization."""
    info = _VirDomainInfo()
    if lib.virDomainGetInfo(dom, ctypes.byref(info)) < 0:
        raise _failure(lib, "info")
    return int(info.nrVirtCpu), int(info.maxMem)


def list_all(lib: ctypes.CDLL, conn: int, flags: int) -> list[int]:
    """Pointers to the domains matching ``flags`` (LIST_ACTIVE, LIST_PERSISTENT, 0 = all),
    in one round trip; the caller frees each with :func:`free`."""
    array = ctypes.POINTER(ctypes.c_void_p)()
    count = lib.virConnectListAllDomains(conn, ctypes.byref(array), flags)
    if count < 0:
        raise _failure(lib, "list domains")
    try:
        return [array[i] for i in range(count)]
    finally:
        _libc_free(ctypes.cast(array, ctypes.c_void_p))


def listing(lib: ctypes.CDLL, conn: int) -> list[tuple[str, str, int, int, bool]]:
    """(name, UUID, state, reason, persistent) of every domain: the active ones with their
    state, the inactive persistent ones as shut off. Two lists and one state query per
    active domain; names and UUIDs are kept by the client library (no round trip)."""
    found: dict[str, tuple[str, str, int, int, bool]] = {}
    for dom in list_all(lib, conn, LIST_ACTIVE):
        try:
            name, uuid = identity(lib, dom)
            try:
                st, reason = state(lib, dom)
            except CallFailed as exc:
                if exc.code == ERR_NO_DOMAIN:
                    continue  # gone since the list was made
                raise
            found[uuid] = (name, uuid, st, reason, False)
        finally:
            free(lib, dom)
    for dom in list_all(lib, conn, LIST_PERSISTENT):
        try:
            name, uuid = identity(lib, dom)
        finally:
            free(lib, dom)
        active = found.get(uuid)
        found[uuid] = (*active[:4], True) if active else (name, uuid, 5, 0, True)
    return list(found.values())


def _libc_free(pointer: ctypes.c_void_p) -> None:
    # libvirt allocates the array with malloc and leaves freeing it to the caller.
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free.restype = None
    libc.free(pointer)


def free(lib: ctypes.CDLL, dom: int) -> None:
    lib.virDomainFree(dom)


def close(lib: ctypes.CDLL, conn: int) -> None:
    lib.virConnectClose(conn)
