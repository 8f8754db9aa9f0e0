"""Print this machine's QEMU processes, one JSON line per sample, forever.

The remote half of the VM lab's auditor (:mod:`havirt.tools.lab.remote_audit`): it is
sent to each KVM host VM over SSH and run there by the VM's own ``python3``
(``python3 - --interval 0.25 < proc_dump.py``), so it uses nothing but the standard
library and does not depend on the havirt installed in the VM. It only reads /proc;
the outer host parses the command lines (one parser, the agent's).

A line: ``{"boot": BOOT_ID, "at": UNIX_TIME, "procs": [[PID, START_MS, ARGV], ...]}``,
``START_MS`` the process's start in milliseconds since the epoch by this machine's
clock (comparable between machines whose clocks agree to a second or so; within one
machine exact), ``ARGV`` its command line.
"""

from __future__ import annotations

import json
import os
import sys
import time


def boot_time(proc: str = "/proc") -> float:
    """When this kernel booted (seconds since the epoch), from ``btime`` of /proc/stat."""
    with open(f"{proc}/stat", encoding="ascii") as stat:
        for line in stat:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise ValueError("no btime in /proc/stat")


def boot_id(proc: str = "/proc") -> str:
    try:
        with open(f"{proc}/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def qemu_procs(
    proc: str, booted: float, ticks: int, known: dict[tuple[int, int], list[str]] | None = None
) -> list[list[object]]:
    """``[pid, start_ms, argv]`` of every process whose name starts with "qemu".

    Only a QEMU process's command line is read, and only once: ``known`` (kept by the
    caller between samples) maps (pid, start) to it, and is left holding this sample's
    QEMU processes. Four samples a second on an emulated host: reading every process's
    command line each time cost a fifth of its vCPU."""
    found: list[list[object]] = []
    seen: dict[tuple[int, int], list[str]] = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        if not comm.startswith("qemu"):
            continue
        # fields after "(comm) ": state is field 3, starttime field 22
        start_ticks = int(stat[stat.rfind(")") + 2 :].split()[19])
        key = (int(entry), start_ticks)
        argv = known.get(key) if known is not None else None
        if argv is None:
            try:
                with open(f"{proc}/{entry}/cmdline", "rb") as f:
                    raw = f.read().rstrip(b"\0")
            except OSError:
                continue
            if not raw:
                continue  # a zombie, or not exec'd yet
            argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0")]
        seen[key] = argv
        start_ms = int((booted + start_ticks / ticks) * 1000)
        found.append([key[0], start_ms, argv])
    if known is not None:
        known.clear()
        known.update(seen)
    return found


def sample_line(
    proc: str,
    booted: float,
    ticks: int,
    boot: str,
    now: float,
    known: dict[tuple[int, int], list[str]] | None = None,
) -> str:
    procs = qemu_procs(proc, booted, ticks, known)
    return json.dumps({"boot": boot, "at": now, "procs": procs}, separators=(",", ":"))


def main(argv: list[str]) -> int:
    interval = 0.25
    if len(argv) == 2 and argv[0] == "--interval":
        interval = float(argv[1])
    booted, ticks, boot = boot_time(), os.sysconf("SC_CLK_TCK"), boot_id()
    known: dict[tuple[int, int], list[str]] = {}
    while True:
        sys.stdout.write(sample_line("/proc", booted, ticks, boot, time.time(), known) + "\n")
        sys.stdout.flush()
        time.sleep(interval)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(0)
