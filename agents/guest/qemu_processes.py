"""Find a guest's QEMU process from /proc, without asking libvirt.

This is the safety net for a probe or monitor when libvirtd is down or hung:
the agent must never say "not running" while a QEMU process of the guest
exists. Only processes in this host's network namespace count, so that
several simulated hosts on one machine (the lab) do not see each other's
guests; a process whose namespace cannot be read counts (err on "running").
"""

from __future__ import annotations

import os

from havirt.ocf.record import Record

PROC = "/proc"


class QemuProcess(Record):
    pid: int
    name: str | None
    uuid: str | None


def _own_netns(proc: str) -> str | None:
    try:
        return os.readlink(f"{proc}/self/ns/net")
    except OSError:
        return None


def parse_cmdline(argv: list[str]) -> tuple[str | None, str | None] | None:
    """(name, uuid) from a QEMU command line, or None when it is not QEMU."""
    if not argv:
        return None
    exe = os.path.basename(argv[0])
    if not (exe.startswith("qemu") or exe == "kvm"):
        return None
    name = uuid = None
    for i, arg in enumerate(argv[:-1]):
        if arg == "-name":
            value = argv[i + 1]
            # "-name guest=vm1,debug-threads=on" (libvirt) or "-name vm1"; ",," escapes a comma.
            first = value.replace(",,", "\0").split(",")[0].replace("\0", ",")
            name = first[len("guest=") :] if first.startswith("guest=") else first
        elif arg == "-uuid":
            uuid = argv[i + 1].lower()
    return name, uuid


def find(name: str | None = None, uuid: str | None = None, proc: str = PROC) -> list[QemuProcess]:
    """QEMU processes of the guest with this UUID or (when no UUID matches) this name."""
    own_ns = _own_netns(proc)
    found: list[QemuProcess] = []
    uuid = uuid.lower() if uuid else None
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        base = f"{proc}/{entry}"
        try:
            with open(f"{base}/cmdline", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        if not raw:
            continue  # kernel thread or zombie
        parsed = parse_cmdline([a.decode(errors="replace") for a in raw.split(b"\0") if a])
        if parsed is None:
            continue
        p_name, p_uuid = parsed
        if not ((uuid and p_uuid == uuid) or (name and p_name == name)):
            continue
        if own_ns is not None:
            try:
                if os.readlink(f"{base}/ns/net") != own_ns:
                    continue
            except OSError:
                pass  # cannot tell: count it
        found.append(QemuProcess(int(entry), p_name, p_uuid))
    return found
