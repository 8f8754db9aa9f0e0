"""The guard that keeps unit tests off the host they run on.

A unit test gets everything the product would read from the machine through a
seam it passes in (``havirt.ocf.host.Host`` as ``ctx.host`` for agents and the
fencing framework: program finder, clock, signals, /proc, mounts, sockets; a
``CommandRunner`` for commands; a connector or an explicit ``clock`` for the
tools; paths under ``tmp_path`` for files). While a unit test (its fixtures
included) runs, this guard makes every other way to the host fail loudly, on
every machine, not only on one that happens to lack a tool:

* through a Python audit hook (it sees calls however the function was
  imported): opening or listing a file outside the checkout, the Python
  installation and pytest's temporary directory (so /proc, /dev, /sys, /etc,
  /run, /usr/sbin, /usr/lib/ocf ...); starting any process (``subprocess``,
  ``os.exec*``, ``os.system``, ``os.posix_spawn``, ``fork``); signalling a
  process; the network (connect, bind, name look-ups, the host name); loading
  a shared library with ctypes;
* by replacing ``shutil.which`` and ``os.stat``/``lstat``/``access``/``readlink``
  (behind ``os.path.exists``, ``isdir``, pathlib ...) with versions that refuse
  host paths, and ``time.time``/``monotonic``/``perf_counter``/``sleep`` and
  ``os.uname`` with versions that refuse callers in the product's own code (agents/, ocf/,
  tools/).

Each violation raises :class:`HostAccess`, a ``BaseException`` so that no
``except Exception``/``except OSError`` in the product can swallow it, and is
also recorded: the test fails at teardown even when the access happened in a
thread or was caught anyway.

What it cannot see: C code reading files (libvirt, lxml's catalogues), and a
real clock function bound before the test started (``clock=time.monotonic`` as
a default argument, ``from time import monotonic``). So the product looks the
real clock up when it is called (``clock or time.monotonic``), never binds it
as a default. Reading the environment (os.environ) is not refused: the OCF
protocol is environment variables, and tests pass their own.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The product's own code: a real clock read from here is a missing seam.
PRODUCT_DIRS = tuple(str(REPO / name) + os.sep for name in ("agents", "ocf", "tools"))

HINT = "unit tests must not read the host: pass a fake through the seam"

# Audit events that are host access whatever their arguments.
FORBIDDEN_EVENTS = {
    "subprocess.Popen": "starts a process",
    "os.system": "runs a shell command",
    "os.exec": "executes a program",
    "os.posix_spawn": "spawns a process",
    "os.spawn": "spawns a process",
    "os.fork": "forks",
    "os.forkpty": "forks",
    "pty.spawn": "spawns a process",
    "os.kill": "signals a process",
    "os.killpg": "signals a process group",
    "signal.pthread_kill": "signals a thread",
    "socket.connect": "connects to the network",
    "socket.bind": "binds a socket",
    "socket.sendto": "sends on the network",
    "socket.sendmsg": "sends on the network",
    "socket.getaddrinfo": "looks up a name",
    "socket.gethostbyname": "looks up a name",
    "socket.gethostbyaddr": "looks up an address",
    "socket.getnameinfo": "looks up an address",
    "socket.gethostname": "reads the host name",
    "socket.sethostname": "sets the host name",
    "ctypes.dlopen": "loads a shared library of the host",
}
PATH_EVENTS = ("open", "os.listdir", "os.scandir", "os.chdir", "os.mkdir", "os.remove")


class HostAccess(BaseException):
    """A unit test reached the host (a BaseException: product code cannot swallow it)."""


def _allowed_roots() -> tuple[str, ...]:
    roots = {str(REPO)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(sysconfig.get_paths()[key])
    for entry in sys.path:
        # Where Python and the installed packages live (not '' or '/': the current directory).
        if entry and os.path.isabs(entry) and entry != os.sep:
            roots.add(entry)
    return tuple(sorted(r.rstrip(os.sep) + os.sep for r in roots if r))


class Guard:
    def __init__(self) -> None:
        self.active = False
        self.violations: list[str] = []
        self.allowed = _allowed_roots()
        self.real_stat = os.stat
        self.real_lstat = os.lstat
        self.real_access = os.access
        self.real_readlink = os.readlink
        self.real_time = {n: getattr(time, n) for n in ("time", "monotonic", "perf_counter")}
        self.real_time.update(
            {n: getattr(time, n) for n in ("time_ns", "monotonic_ns", "perf_counter_ns")}
        )

    # -- deciding -----------------------------------------------------------
    def allow(self, folder: str) -> None:
        """Let tests use ``folder`` (pytest's base temporary directory: every tmp_path)."""
        extra = {folder.rstrip(os.sep) + os.sep, os.path.realpath(folder).rstrip(os.sep) + os.sep}
        self.allowed = tuple(sorted(set(self.allowed) | extra))

    def path_allowed(self, path: object) -> bool:
        if isinstance(path, int) or path is None:
            return True  # an open file descriptor, or the current directory's listing
        try:
            text = os.fsdecode(path)  # type: ignore[arg-type]
        except TypeError:
            return True
        full = os.path.abspath(text).rstrip(os.sep) + os.sep
        # An allowed place, or a folder on the way to one (realpath walks those).
        return full.startswith(self.allowed) or any(r.startswith(full) for r in self.allowed)

    def violation(self, what: str) -> None:
        message = f"{what}, from {_where()}: {HINT}"
        self.violations.append(message)
        raise HostAccess(message)

    # -- the audit hook -----------------------------------------------------
    def audit(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "ctypes.dlopen" and args and args[0] is None:
            return  # ctypes' own import opens the running process itself, not a host library
        if event in FORBIDDEN_EVENTS:
            self.active = False  # formatting the message must not trip the guard again
            try:
                shown = ", ".join(repr(a)[:80] for a in args)
            finally:
                self.active = True
            self.violation(f"{event}({shown}) {FORBIDDEN_EVENTS[event]}")
        elif event in PATH_EVENTS and args and not self.path_allowed(args[0]):
            self.violation(f"{event}({args[0]!r}) is outside the test's own files")
        elif event == "time.sleep" and _from_product(1):
            self.violation(f"time.sleep({args[0]!r}) from product code ({_caller(1)})")

    # -- replaced functions -------------------------------------------------
    def _path_checked(self, name: str, real):  # type: ignore[no-untyped-def]
        def checked(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            if self.active and not self.path_allowed(path) and not _library_lookup():
                self.violation(f"os.{name}({path!r}) is outside the test's own files")
            return real(path, *args, **kwargs)

        return checked

    def _uname_checked(self, real):  # type: ignore[no-untyped-def]
        def checked():  # type: ignore[no-untyped-def]
            if self.active and _from_product(1):
                self.violation(f"os.uname() from product code ({_caller(1)}) reads the node name")
            return real()

        return checked

    def _sleep_checked(self, real):  # type: ignore[no-untyped-def]
        # Python 3.12 audits time.sleep; 3.11 (Debian 12) does not: replaced as well.
        def checked(seconds):  # type: ignore[no-untyped-def]
            if self.active and _from_product(1):
                self.violation(f"time.sleep({seconds!r}) from product code ({_caller(1)})")
            return real(seconds)

        return checked

    def _clock_checked(self, name: str, real):  # type: ignore[no-untyped-def]
        def checked():  # type: ignore[no-untyped-def]
            if self.active and _from_product(1):
                self.violation(f"time.{name}() from product code ({_caller(1)})")
            return real()

        return checked

    def which(self, cmd, mode=os.F_OK | os.X_OK, path=None):  # type: ignore[no-untyped-def]
        self.violation(f"shutil.which({cmd!r}) looks for a program on this host")

    def patch(self, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        monkeypatch.setattr(shutil, "which", self.which)
        for name, real in (
            ("stat", self.real_stat),
            ("lstat", self.real_lstat),
            ("access", self.real_access),
            ("readlink", self.real_readlink),
        ):
            monkeypatch.setattr(os, name, self._path_checked(name, real))
        monkeypatch.setattr(os, "uname", self._uname_checked(os.uname))
        for name, real in self.real_time.items():
            monkeypatch.setattr(time, name, self._clock_checked(name, real))
        monkeypatch.setattr(time, "sleep", self._sleep_checked(time.sleep))


# Standard library modules that look for their own files on the host (not the test, not
# the product): gettext's message catalogues, through which click translates its help.
LIBRARY_LOOKUPS = (os.sep + "gettext.py",)


def _library_lookup() -> bool:
    frame = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code.co_filename.endswith(LIBRARY_LOOKUPS):
            return True
        frame = frame.f_back
    return False


def _where() -> str:
    """The innermost place in this checkout (product or test) that led to the access."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(str(REPO)) and name != __file__:
            return f"{os.path.relpath(name, REPO)}:{frame.f_lineno}"
        frame = frame.f_back
    return "outside the checkout"


def _caller(depth: int) -> str:
    frame = sys._getframe(depth + 1)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _from_product(depth: int) -> bool:
    """Whether the code ``depth`` frames above the caller is the product's own."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return False
    return frame.f_code.co_filename.startswith(PRODUCT_DIRS)


GUARD = Guard()
sys.addaudithook(GUARD.audit)
