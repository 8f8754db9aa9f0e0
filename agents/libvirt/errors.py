"""libvirt's failures as havirt's errors, and the deadline every libvirt call runs under.

libvirt releases the GIL while it waits for libvirtd, so each call runs in a worker
thread and is abandoned (not waited for) when its time is up.
"""

from __future__ import annotations

import _thread  # the threading module costs the monitor more than all its own work
import sys

from havirt.agents.libvirt import c_api

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")

NO_DOMAIN = c_api.ERR_NO_DOMAIN
OPERATION_INVALID = c_api.ERR_OPERATION_INVALID
NO_STORAGE_POOL = 49  # VIR_ERR_NO_STORAGE_POOL
RESOURCE_BUSY = c_api.ERR_RESOURCE_BUSY


class HypervisorError(Exception):
    """A libvirt call failed; ``code`` is libvirt's error code (or None)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class HypervisorUnavailable(HypervisorError):
    """libvirtd could not be reached, or did not answer before the deadline."""


class HypervisorTimeout(HypervisorUnavailable):
    pass


def bounded(call: Callable[[], T], seconds: float, what: str) -> T:
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
            raise classify(exc.code, str(exc), what) from exc
        lv = sys.modules.get("libvirt")  # loaded by whoever made the failing call
        if lv is not None and isinstance(exc, lv.libvirtError):
            message = (exc.get_error_message() or str(exc)).strip()
            raise classify(exc.get_error_code(), message, what) from exc
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


def classify(code: int | None, message: str, what: str) -> HypervisorError:
    if code in _UNREACHABLE_CODES or "Cannot recv data" in message or "End of file" in message:
        return HypervisorUnavailable(f"{what}: {message}", code)
    return HypervisorError(f"{what}: {message}", code)
