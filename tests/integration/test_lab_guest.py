"""The lab's test guest: boots for real, handles (or ignores) ACPI shutdown, has an agent."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from havirt.tools.lab import ACPI_IGNORED_MARKER, POWEROFF_MARKER, READY_MARKER, Lab, LabGuest
from havirt.tools.lab.node import LibvirtNode

pytestmark = pytest.mark.integration

MakeGuest = Callable[..., LabGuest]


def boot(guest: LabGuest, node: LibvirtNode, timings: dict[str, float] | None = None) -> str:
    """Define and start ``guest`` on ``node``; return its ready line."""
    start = time.monotonic()
    guest.define(node)
    guest.start(node)
    running = time.monotonic()
    line = guest.wait_console(READY_MARKER, timeout=60)
    if timings is not None:
        timings["guest define -> running"] = running - start
        timings["guest running -> ready marker"] = time.monotonic() - running
    return line


def test_guest_boots_to_the_ready_marker(
    lab: Lab, make_guest: MakeGuest, timings: dict[str, float]
) -> None:
    node1 = lab.nodes["node1"]
    guest = make_guest()
    line = boot(guest, node1, timings)
    assert f"name={guest.name}" in line
    assert "acpi=handle" in line and "agent=on" in line
    assert guest.state(node1) == "running"
    assert list(guest.qemu_pids()) == ["node1"]
    assert len(guest.qemu_pids()["node1"]) == 1


def test_acpi_shutdown_powers_the_guest_off(lab: Lab, make_guest: MakeGuest) -> None:
    node1 = lab.nodes["node1"]
    guest = make_guest()
    boot(guest, node1)
    start = time.monotonic()
    node1.virsh("shutdown", guest.name, "--mode", "acpi")
    guest.wait_state(node1, "shut off", timeout=30)
    assert time.monotonic() - start < 30
    assert f"{POWEROFF_MARKER} acpi" in guest.console_text()
    assert guest.qemu_pids() == {}


def test_guest_booted_with_ignore_acpi_stays_up(lab: Lab, make_guest: MakeGuest) -> None:
    node1 = lab.nodes["node1"]
    guest = make_guest(ignore_acpi=True)
    assert "acpi=ignore" in boot(guest, node1)
    mark = guest.console_size()
    node1.virsh("shutdown", guest.name, "--mode", "acpi")
    guest.wait_console(ACPI_IGNORED_MARKER, timeout=30, since=mark)
    time.sleep(2)
    assert guest.state(node1) == "running"
    assert POWEROFF_MARKER not in guest.console_text()


def test_guest_agent_answers_ping_and_sync(lab: Lab, make_guest: MakeGuest) -> None:
    node1 = lab.nodes["node1"]
    guest = make_guest()
    boot(guest, node1)

    def agent(command: dict[str, object]) -> object:
        out = node1.virsh("qemu-agent-command", guest.name, json.dumps(command), timeout=30)
        return json.loads(out.stdout)

    assert agent({"execute": "guest-ping"}) == {"return": {}}
    assert agent({"execute": "guest-sync", "arguments": {"id": 424242}}) == {"return": 424242}
    info = agent({"execute": "guest-info"})
    assert isinstance(info, dict)
    names = {c["name"] for c in info["return"]["supported_commands"]}
    assert {"guest-ping", "guest-sync", "guest-shutdown"} <= names
    node1.virsh("shutdown", guest.name, "--mode", "agent")
    guest.wait_state(node1, "shut off", timeout=30)
    assert f"{POWEROFF_MARKER} agent" in guest.console_text()


def test_silent_guest_agent_is_reported_not_connected(lab: Lab, make_guest: MakeGuest) -> None:
    node1 = lab.nodes["node1"]
    guest = make_guest(agent_responds=False)
    assert "agent=off" in boot(guest, node1)
    result = node1.virsh(
        "qemu-agent-command", guest.name, '{"execute":"guest-ping"}', "--timeout", "5",
        check=False, timeout=30,
    )  # fmt: skip
    assert not result.ok
    assert "agent" in result.stderr.lower()
