"""Test guests living in a lab's shared directory.

:func:`create_guest` writes ``<shared>/guests/<name>/{domain.xml,disk.qcow2,
console.log}``; the XML refers to the node-side paths, so any node can
define it (``virsh define`` with :attr:`LabGuest.node_xml_path`).
:meth:`LabGuest.remove` destroys and undefines it on every node and deletes
its files.
"""

from __future__ import annotations

import re
import shutil
import signal
import time
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from havirt.tools.lab import nsutil
from havirt.tools.lab.guest_image import (
    GuestAssets,
    build_guest_assets,
    create_disk,
    domain_xml,
    guest_cmdline,
)
from havirt.tools.lab.guest_init import READY_MARKER
from havirt.tools.lab.lab import Lab
from havirt.tools.lab.node import LibvirtNode
from havirt.tools.lab.proc import LabError

GUEST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class LabGuest:
    """A test guest's files; node-side paths are what libvirt sees."""

    lab: Lab
    name: str
    uuid: str
    dir: Path
    xml_path: Path
    disk: Path
    console_log: Path

    @property
    def node_xml_path(self) -> str:
        return self.lab.node_path(self.xml_path)

    @property
    def node_disk(self) -> str:
        return self.lab.node_path(self.disk)

    @property
    def node_console_log(self) -> str:
        return self.lab.node_path(self.console_log)

    # ------------------------------------------------------------ console

    def console_text(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def console_size(self) -> int:
        """Current length of the console log: pass as ``since`` to wait for new output."""
        try:
            return self.console_log.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_console(
        self, marker: str = READY_MARKER, timeout: float = 60.0, since: int = 0
    ) -> str:
        """Wait for a console line containing ``marker`` (after byte ``since``); return it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.console_log.open("rb") as log:
                    log.seek(since)
                    text = log.read().decode(errors="replace")
            except FileNotFoundError:
                text = ""
            for line in text.splitlines():
                if marker in line:
                    return line.strip()
            if time.monotonic() >= deadline:
                tail = "\n".join(text.splitlines()[-5:])
                raise LabError(
                    f"{self.name}: no {marker!r} on the console after {timeout:.0f} s; "
                    f"last lines:\n{tail}"
                )
            time.sleep(0.1)

    # ------------------------------------------------------------ libvirt shortcuts

    def define(self, node: LibvirtNode) -> None:
        node.virsh("define", self.node_xml_path)

    def start(self, node: LibvirtNode) -> None:
        node.virsh("start", self.name)

    def state(self, node: LibvirtNode) -> str:
        """``virsh domstate`` on ``node`` ("running", "shut off"...; "" if unknown there)."""
        result = node.virsh("domstate", self.name, check=False, timeout=15)
        return result.stdout.strip() if result.ok else ""

    def wait_state(self, node: LibvirtNode, state: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while (current := self.state(node)) != state:
            if time.monotonic() >= deadline:
                raise LabError(f"{self.name} on {node.name} is {current!r}, not {state!r}")
            time.sleep(0.2)

    def qemu_pids(self) -> dict[str, list[int]]:
        """This guest's QEMU processes per node (nodes without one left out)."""
        found = {n.name: n.qemu_pids(self.name) for n in self.lab.nodes.values()}
        return {name: pids for name, pids in found.items() if pids}

    # ------------------------------------------------------------ removal

    def remove(self) -> None:
        """Kill its QEMU and undefine it on every node, then delete its files."""
        for node in self.lab.nodes.values():
            if node._holder_pid is None or node.holder_pid not in node.pids():
                continue  # node (or lab) is down
            # SIGKILL first: `virsh destroy` alone waits ~1.5 s for QEMU to honour SIGTERM.
            pids = node.qemu_pids(self.name)
            nsutil.signal_pids(pids, signal.SIGKILL)
            nsutil.wait_gone(pids, 5)
            node.resume_libvirtd()
            node.power_on()  # no-op unless a test stopped the daemons
            node.virsh("destroy", self.name, check=False, timeout=15)
            node.virsh("undefine", self.name, check=False, timeout=15)
        shutil.rmtree(self.dir, ignore_errors=True)


def create_guest(
    lab: Lab,
    name: str | None = None,
    *,
    assets: GuestAssets | None = None,
    ignore_acpi: bool = False,
    ignore_shutdown: bool = False,
    agent_channel: bool = True,
    agent_responds: bool = True,
    memory_mib: int = 128,
    disk_mib: int = 64,
    extra_cmdline: Sequence[str] = (),
) -> LabGuest:
    """Write a guest's XML, disk and (empty) console log into the lab's shared dir.

    Nothing is defined: call ``guest.define(node)`` / ``node.virsh("define", ...)``.
    """
    name = name or f"guest-{uuidlib.uuid4().hex[:8]}"
    if not GUEST_NAME_RE.match(name):
        raise ValueError(f"guest name {name!r} must match {GUEST_NAME_RE.pattern}")
    assets = assets or build_guest_assets()
    gdir = lab.shared_dir / "guests" / name
    if gdir.exists():
        raise LabError(f"guest {name} already exists in {gdir}")
    gdir.mkdir(parents=True)
    guest = LabGuest(
        lab=lab,
        name=name,
        uuid=str(uuidlib.uuid4()),
        dir=gdir,
        xml_path=gdir / "domain.xml",
        disk=gdir / "disk.qcow2",
        console_log=gdir / "console.log",
    )
    create_disk(guest.disk, disk_mib)
    guest.console_log.touch()
    cmdline = guest_cmdline(
        name,
        ignore_acpi=ignore_acpi,
        ignore_shutdown=ignore_shutdown,
        agent_responds=agent_responds,
        extra=extra_cmdline,
    )
    guest.xml_path.parent.mkdir(parents=True, exist_ok=True)
    xml = domain_xml(
        name=name,
        uuid=guest.uuid,
        assets=assets,
        disk=guest.node_disk,
        console_log=guest.node_console_log,
        cmdline=cmdline,
        memory_mib=memory_mib,
        agent_channel=agent_channel,
    )
    guest.xml_path.write_text(xml)
    return guest
