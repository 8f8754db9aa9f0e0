"""A last-resort timer that answers for an agent whose action hangs.

Shared by the OCF dispatcher and the fencing framework: each says what to write
and which code to exit with; a lock decides the race between the action
finishing and the timer firing, so a finished action's answer is never
overwritten.
"""

from __future__ import annotations

import _thread  # not threading: its import costs every monitor
import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable


class Watchdog:
    """Calls ``answer()`` and exits the process with ``code`` after ``delay`` seconds,
    unless :meth:`disarm` came first."""

    def __init__(self, delay: float, answer: Callable[[], None], code: int) -> None:
        self._lock = _thread.allocate_lock()
        self._disarmed = _thread.allocate_lock()
        self._disarmed.acquire()
        self._armed = True
        self._answer = answer
        self._code = code
        self.delay = max(0.1, delay)
        _thread.start_new_thread(self._wait, ())

    def _wait(self) -> None:
        if not self._disarmed.acquire(timeout=self.delay):
            self._expire()

    def _expire(self) -> None:
        with self._lock:
            if not self._armed:
                return
            self._answer()
            # os._exit: a call stuck in a worker thread must not keep the process alive.
            os._exit(self._code)

    def disarm(self) -> None:
        with self._lock:
            if not self._armed:
                return
            self._armed = False
        self._disarmed.release()
