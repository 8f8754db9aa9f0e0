"""Logging compatible with resource-agents' ``ocf_log``.

Messages go where an admin already looks for agent output: syslog (facility
``HA_LOGFACILITY`` when set and not ``none``), ``HA_LOGFILE`` and,
for debug messages, ``HA_DEBUGLOG``. When neither syslog nor a file is in use,
or stderr is a terminal, they go to stderr. Pacemaker sets ``HA_debug`` as a
string ("yes", "1", or a list of daemon names), so any value other than an
explicit no/0/false turns debug on.

Where the messages go is handed in: the stream that stands for stderr, and the
``Syslog`` they are sent to (the machine's, ``havirt.ocf.host.Host``, which the
dispatcher and the fencing framework pass; a test's recording fake). The log files are
the paths the environment names.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Protocol, TextIO

    class Syslog(Protocol):
        """Where syslog messages go (``Host`` sends them to the machine's syslog)."""

        def openlog(self, ident: str, facility: int) -> None:
            """Messages from now on are ``ident[pid]``'s, under ``facility``."""

        def syslog(self, priority: int, message: str) -> None: ...


LEVELS = ("debug", "info", "notice", "warn", "err", "crit")
_SYSLOG_PRIO = {"debug": 7, "info": 6, "notice": 5, "warn": 4, "err": 3, "crit": 2}
_FACILITIES = {
    "kern": 0,
    "user": 8,
    "mail": 16,
    "daemon": 24,
    "auth": 32,
    "syslog": 40,
    "lpr": 48,
    "news": 56,
    "uucp": 64,
    "cron": 72,
    "authpriv": 80,
    "ftp": 88,
    **{f"local{i}": 128 + 8 * i for i in range(8)},
}


def debug_enabled(value: str | None) -> bool:
    if value is None:
        return False
    return value.strip().lower() not in ("", "0", "no", "false", "off", "n")


class OcfLogger:
    def __init__(
        self, tag: str, environ: Mapping[str, str], stderr: TextIO, syslog: Syslog
    ) -> None:
        self.tag = tag
        self.debug_on = debug_enabled(environ.get("HA_debug"))
        self.logfile = environ.get("HA_LOGFILE") or None
        self.debuglog = environ.get("HA_DEBUGLOG") or None
        # Like ocf_log: syslog only when Pacemaker passes a facility (it does not when
        # the admin set PCMK_logfacility=none); stderr is logged by pacemaker-execd.
        facility = environ.get("HA_LOGFACILITY", "none").strip().lower()
        self.facility = None if facility in ("none", "") else _FACILITIES.get(facility, 24)
        self._stderr = stderr
        self._sink = syslog
        try:
            tty = self._stderr.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.to_stderr = tty or (self.facility is None and not self.logfile)
        self._syslog_open = False
        self.messages: list[tuple[str, str]] = []  # kept for tests and exit reasons

    # -- public API -------------------------------------------------------
    def debug(self, msg: str) -> None:
        self.log("debug", msg)

    def info(self, msg: str) -> None:
        self.log("info", msg)

    def warn(self, msg: str) -> None:
        self.log("warn", msg)

    def error(self, msg: str) -> None:
        self.log("err", msg)

    def log(self, level: str, msg: str) -> None:
        if level == "debug" and not self.debug_on:
            return
        self.messages.append((level, msg))
        label = {"err": "ERROR", "warn": "WARNING"}.get(level, level.upper())  # as ocf_log
        if self.facility is not None:
            self._syslog(level, f"{label}: {msg}")
        line = f"{self.tag}[{os.getpid()}]: {time.strftime('%Y/%m/%d_%H:%M:%S')} {label}: {msg}\n"
        if self.logfile and level != "debug":
            self._append(self.logfile, line)
        if self.debuglog and (level == "debug" or self.debuglog != self.logfile):
            self._append(self.debuglog, line)
        if self.to_stderr:
            self._stderr.write(f"{label}: {msg}\n")

    # -- sinks --------------------------------------------------------------
    def _syslog(self, level: str, text: str) -> None:
        if not self._syslog_open:
            self._sink.openlog(self.tag, self.facility or _FACILITIES["daemon"])
            self._syslog_open = True
        self._sink.syslog(_SYSLOG_PRIO[level], text)

    @staticmethod
    def _append(path: str, line: str) -> None:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(line)
        except OSError:
            pass  # a log file we cannot write must never fail an action
