"""Live migration between two lab nodes over qemu+tcp://."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from havirt.tools.lab import READY_MARKER, Lab, LabGuest

pytestmark = pytest.mark.integration


def test_live_migration_there_and_back(
    lab: Lab, make_guest: Callable[..., LabGuest], timings: dict[str, float]
) -> None:
    node1, node2 = lab.nodes["node1"], lab.nodes["node2"]
    guest = make_guest()
    guest.define(node1)
    guest.start(node1)
    guest.wait_console(READY_MARKER, timeout=60)
    (pid_before,) = guest.qemu_pids()["node1"]

    # Peer-to-peer, run on the source; --unsafe: the shared dir is no known shared FS.
    start = time.monotonic()
    node1.virsh(
        "migrate", "--live", "--p2p", "--unsafe", "--persistent", "--undefinesource",
        guest.name, "qemu+tcp://node2/system", timeout=120,
    )  # fmt: skip
    timings["live migration node1 -> node2 (p2p)"] = time.monotonic() - start
    pids = guest.qemu_pids()
    assert list(pids) == ["node2"] and len(pids["node2"]) == 1
    assert pids["node2"][0] != pid_before
    assert guest.state(node2) == "running"
    assert guest.state(node1) == ""  # undefined on the source
    ping = node2.virsh("qemu-agent-command", guest.name, '{"execute":"guest-ping"}', timeout=30)
    assert json.loads(ping.stdout) == {"return": {}}

    # And back, driven by the client (not p2p) with both URIs.
    start = time.monotonic()
    node2.virsh(
        "migrate", "--live", "--unsafe", "--persistent", "--undefinesource",
        guest.name, node1.uri_tcp, timeout=120,
    )  # fmt: skip
    timings["live migration node2 -> node1 (direct)"] = time.monotonic() - start
    assert list(guest.qemu_pids()) == ["node1"]
    assert guest.state(node1) == "running"
    assert guest.state(node2) == ""
