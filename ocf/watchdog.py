"""A last-resort timer that answers for an agent whose action hangs.

Shared by the OCF dispatcher and the fencing framework: each says what to write
and which code to exit with; a lock decides the race between the action
finishing and the timer firing, so a finished action's answer is never
overwritten.

The timer answers ``answer_margin(total)`` before Pacemaker's timeout, because
Pacemaker kills an agent that overruns without reading anything it wrote.
"""

from __future__ import annotations

import _thread  # not threading: its import costs every monitor
import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")


# How long before Pacemaker's own timeout the watchdog answers for us: at least a
# second, more for long actions (interpreter start-up already ate into the timeout).
MIN_MARGIN = 1.0
SHARE = 0.05


def answer_margin(total: float) -> float:
    """Seconds before an action's timeout of ``total`` seconds at which the watchdog answers."""
    return max(MIN_MARGIN, total * SHARE)


def run_bounded(step: Callable[[], T], seconds: float) -> tuple[bool, T | BaseException | None]:
    """Run ``step`` in a thread of its own; wait at most ``seconds`` for it.

    (True, its result or the exception it raised) when it ended in time, else
    (False, None): the thread is abandoned (the process is about to exit anyway)."""
    box: list[T | BaseException] = []
    done = _thread.allocate_lock()
    done.acquire()

    def work() -> None:
        try:
            box.append(step())
        except BaseException as exc:  # handed to the waiting thread
            box.append(exc)
        finally:
            done.release()

    _thread.start_new_thread(work, ())
    if not done.acquire(timeout=max(seconds, 0.01)):
        return False, None
    return True, box[0]


class Watchdog:
    """Calls ``answer()`` and exits the process with ``code`` after ``delay`` seconds,
    unless :meth:`disarm` came first. ``exit_process`` is how it exits (``os._exit``;
    a test passes a fake)."""

    def __init__(
        self,
        delay: float,
        answer: Callable[[], None],
        code: int,
        exit_process: Callable[[int], object] | None = None,
    ) -> None:
        self._lock = _thread.allocate_lock()
        self._disarmed = _thread.allocate_lock()
        self._disarmed.acquire()
        self._armed = True
        self._answer = answer
        self._code = code
        self._exit = os._exit if exit_process is None else exit_process
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
            # The commands still running (a hung monitor script, a mount helper) go
            # with us: nothing the agent started may outlive its answer.
            from havirt.ocf.runner import kill_running

            kill_running()
            # os._exit: a call stuck in a worker thread must not keep the process alive.
            self._exit(self._code)

    def disarm(self) -> None:
        with self._lock:
            if not self._armed:
                return
            self._armed = False
        self._disarmed.release()
