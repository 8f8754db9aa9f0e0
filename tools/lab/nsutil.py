"""Small helpers for network namespaces and the processes inside them.

A lab node has no PID namespace: its processes are the ones whose
``/proc/PID/ns/net`` is the node's network namespace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from havirt.agents.pool import mountinfo
from havirt.tools.lab.proc import LabError, Result, run

NETNS_DIR = Path("/run/netns")


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def ip(args: str) -> Result:
    """``ip ARGS`` (split on whitespace: only for lab-made names) or raise LabError."""
    return run(["ip", *args.split()], timeout=15, check=True)


def netns_list() -> list[str]:
    """Names of the named network namespaces (what ``ip netns list`` shows)."""
    result = run(["ip", "netns", "list"], timeout=15, check=True)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def netns_add(name: str) -> None:
    run(["ip", "netns", "add", name], timeout=15, check=True)


def netns_delete(name: str) -> None:
    """Delete a named netns; no error if it does not exist."""
    if name in netns_list():
        run(["ip", "netns", "delete", name], timeout=15, check=True)


def release_netns_dir() -> None:
    """Unmount /run/netns (which ``ip netns add`` makes a mount) once it is empty."""
    try:
        if any(NETNS_DIR.iterdir()):
            return
    except FileNotFoundError:
        return
    for _ in range(3):  # it can be stacked
        if str(NETNS_DIR) not in mount_points():
            return
        run(["umount", str(NETNS_DIR)], timeout=15)


def mount_points(path: str = mountinfo.MOUNTINFO) -> list[str]:
    """Mount points in our mount namespace (bind mounts of a directory onto itself too).

    Parsed by the pool agent's own reader (all of the kernel's escapes undone)."""
    return [mount.mount_point for mount in mountinfo.read(path)]


def ns_id(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of a namespace file, or None if it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def pids_in_netns(netns_file: str | Path) -> list[int]:
    """Live processes whose network namespace is ``netns_file`` (zombies excluded)."""
    wanted = ns_id(netns_file)
    if wanted is None:
        return []
    return [pid for pid in all_pids() if ns_id(f"/proc/{pid}/ns/net") == wanted]


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (tells a reused PID apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def process_comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def process_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` is alive (a zombie counts as gone); return survivors."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def kill_netns_processes(netns_file: str | Path, timeout: float = 15.0) -> None:
    """SIGKILL every process in the namespace until none is left."""
    deadline = time.monotonic() + timeout
    while pids := pids_in_netns(netns_file):
        if time.monotonic() >= deadline:
            raise LabError(f"processes {pids} in {netns_file} survive SIGKILL")
        signal_pids(pids, signal.SIGKILL)
        wait_gone(pids, 1.0)
