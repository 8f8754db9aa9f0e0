"""What an agent reads from, or does to, the machine it runs on.

Besides libvirt (the agents' boundary module) and external commands (the
``CommandRunner``), an agent needs a few things of its host: whether a program
is installed, the clock, sleeping, signalling a process, whether a device node
exists, the node's own name, its syslog. They all go through one ``Host`` the
dispatcher builds (or is handed) and gives the agent in its ``ActionContext``, so a test
passes a fake one in instead of patching modules, and nothing reaches the real
machine behind its back. An agent that needs more of the host (the guest agent
looks for QEMU processes in /proc) declares a subclass as ``host_class``.
"""

from __future__ import annotations

import os
import time


class Host:
    """The real machine. Tests hand the dispatcher a fake with the same methods."""

    def which(self, program: str, path: str | None = None) -> str | None:
        """Where ``program`` is installed (on ``path``, else on PATH), or None."""
        import shutil  # on demand: the monitor path does not look for programs

        return shutil.which(program, path=path)

    def exists(self, path: str) -> bool:
        """Whether a host file or device node (e.g. /dev/kvm) exists."""
        return os.path.exists(path)

    def node_name(self) -> str:
        """This node's name as the kernel knows it (``uname -n``)."""
        return os.uname().nodename

    def kill(self, pid: int, sig: int) -> None:
        """Send ``sig`` to process ``pid`` (ProcessLookupError when it is gone)."""
        os.kill(pid, sig)

    def process_name(self, pid: int) -> str | None:
        """The command name of process ``pid`` (/proc/PID/comm), None when it is gone."""
        try:
            with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as handle:
                return handle.read().strip()
        except OSError:
            return None

    def process_started(self, pid: int) -> float | None:
        """When process ``pid`` started (seconds since the epoch), from /proc."""
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rpartition(")")[2].split()
            with open("/proc/stat", encoding="ascii") as handle:
                boot = next(int(ln.split()[1]) for ln in handle if ln.startswith("btime "))
            return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, StopIteration):
            return None

    def connect_unix(self, path: str, timeout: float) -> None:
        """Connect to the unix socket ``path`` and hang up: whether a daemon answers there.
        Raises OSError (FileNotFoundError: no socket; ConnectionRefusedError: nobody
        listens)."""
        import socket  # only the actions that ask a daemon pay for it

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(max(0.1, timeout))
        try:
            sock.connect(path)
        finally:
            sock.close()

    # -- the system log -----------------------------------------------------
    # Where the action's logger (``havirt.ocf.log.OcfLogger``) sends its messages when
    # Pacemaker passes a syslog facility (a test's fake host records them, if it must).
    def openlog(self, ident: str, facility: int) -> None:
        """Messages from now on are ``ident[pid]``'s, under ``facility``."""
        import syslog  # cheap C module, only loaded when syslog is used

        syslog.openlog(ident, syslog.LOG_PID, facility)

    def syslog(self, priority: int, message: str) -> None:
        import syslog

        syslog.syslog(priority, message)

    # -- the clock ----------------------------------------------------------
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        """Seconds since the epoch (for timestamps, never for measuring durations)."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
