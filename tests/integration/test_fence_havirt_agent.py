"""fence_havirt against real libvirt daemons, on a real QEMU guest that stands for a cluster node.

The lab's node1 plays the outer hypervisor and runs the guest; the installed agent
(written by the product's installer) runs as a process, with its options on stdin as
Pacemaker passes them or on the command line:

- inside node2, reaching node1's libvirtd over the network (``qemu+tcp://ADDR/system``,
  the lab daemons listen on TCP without authentication), as a cluster node would;
- on the host, through node1's unix socket (``uri_host``), where the test can watch
  every process's command line while the agent runs.

Fencing through a running Pacemaker (``stonith_admin --reboot``) needs the multi-node
cluster lab and is tested there.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from havirt.tools.lab import Lab, LabGuest
from havirt.tools.lab.proc import Result, run

pytestmark = pytest.mark.integration

OK, ERROR, OFF = 0, 1, 2
MakeGuest = Callable[..., LabGuest]


@pytest.fixture(scope="session")
def agent(installed_agents: dict[str, str]) -> str:
    return installed_agents["fence_havirt"]


class Fenced:
    """One run of the agent: exit code, output, and how long it took."""

    def __init__(self, result: Result, seconds: float) -> None:
        self.rc = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.seconds = seconds

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def __repr__(self) -> str:
        return f"<rc={self.rc} {self.seconds:.1f}s out={self.stdout!r} err={self.stderr[-800:]!r}>"


def stdin_of(**options: str) -> str:
    """Options as pacemaker-fenced writes them, with what it always adds."""
    lines = [f"{name}={value}" for name, value in options.items()]
    return "\n".join([*lines, "nodename=node-x", "nodeid=2"]) + "\n"


def fence_from(lab: Lab, where: str, agent: str, *args: str, stdin: str | None = None) -> Fenced:
    """Run the agent inside lab node ``where``, or on the host when ``where`` is "host"."""
    start = time.monotonic()
    argv = [agent, *args]
    if where == "host":
        result = run(argv, input=stdin or "", timeout=120)
    else:
        result = lab.nodes[where].exec(argv, input=stdin or "", timeout=120)
    return Fenced(result, time.monotonic() - start)


def boot(guest: LabGuest, lab: Lab, node: str = "node1") -> list[int]:
    """Define and start the guest on ``node``; its QEMU pids."""
    guest.define(lab.nodes[node])
    guest.start(lab.nodes[node])
    pids = lab.nodes[node].qemu_pids(guest.name)
    assert len(pids) == 1, pids
    return pids


# -- a node fenced from another node, over the network ---------------------------------------


def test_reboot_off_status_on_from_another_node_over_tcp(
    lab: Lab,
    agent: str,
    make_guest: MakeGuest,
    lifecycle_events: Callable[[LabGuest], Any],  # -> conftest.EventLog
    timings: dict[str, float],
) -> None:
    node1 = lab.nodes["node1"]
    guest = make_guest()
    first_pid = boot(guest, lab)
    log = lifecycle_events(guest)
    uri = node1.uri_tcp

    run = fence_from(lab, "node2", agent, stdin=stdin_of(action="status", plug=guest.name, uri=uri))
    timings["fence_havirt status over qemu+tcp"] = run.seconds
    assert (run.rc, run.lines) == (OK, ["Status: ON"]), run

    run = fence_from(lab, "node2", agent, stdin=stdin_of(action="reboot", plug=guest.name, uri=uri))
    timings["fence_havirt reboot over qemu+tcp"] = run.seconds
    assert (run.rc, run.lines) == (OK, ["Success: Rebooted"]), run
    assert guest.state(node1) == "running"
    second_pid = node1.qemu_pids(guest.name)
    assert len(second_pid) == 1 and second_pid != first_pid  # a new QEMU: a power cycle
    # libvirt itself saw a hard power-off, then a fresh boot: off came before on.
    assert log.power_events(guest) == ["Stopped Destroyed", "Started Booted"]

    run = fence_from(lab, "node2", agent, stdin=stdin_of(action="off", plug=guest.uuid, uri=uri))
    timings["fence_havirt off over qemu+tcp"] = run.seconds
    assert (run.rc, run.lines) == (OK, ["Success: Powered OFF"]), run
    assert guest.state(node1) == "shut off"
    assert node1.qemu_pids(guest.name) == []

    run = fence_from(lab, "node2", agent, "-o", "status", "-n", guest.name, f"--uri={uri}")
    assert (run.rc, run.lines) == (OFF, ["Status: OFF"]), run
    run = fence_from(lab, "node2", agent, "-o", "off", "-n", guest.name, f"--uri={uri}")
    assert (run.rc, run.lines) == (OK, ["Success: Already OFF"]), run

    run = fence_from(lab, "node2", agent, "--action=on", f"--plug={guest.name}", f"--uri={uri}")
    assert (run.rc, run.lines) == (OK, ["Success: Powered ON"]), run
    assert guest.state(node1) == "running"
    assert len(node1.qemu_pids(guest.name)) == 1
    assert log.power_events(guest) == [
        "Stopped Destroyed",
        "Started Booted",
        "Stopped Destroyed",
        "Started Booted",
    ]


def test_list_list_status_and_monitor_over_tcp(
    lab: Lab, agent: str, make_guest: MakeGuest, timings: dict[str, float]
) -> None:
    node1 = lab.nodes["node1"]
    running, stopped = make_guest(), make_guest()
    boot(running, lab)
    stopped.define(node1)
    uri = node1.uri_tcp

    run = fence_from(lab, "node2", agent, stdin=stdin_of(action="list", uri=uri))
    assert run.rc == OK, run
    assert f"{running.name},{running.uuid}" in run.lines
    assert f"{stopped.name},{stopped.uuid}" in run.lines
    run = fence_from(lab, "node2", agent, "-o", "list-status", "-C", ";", f"--uri={uri}")
    assert f"{running.name};{running.uuid};ON" in run.lines, run
    assert f"{stopped.name};{stopped.uuid};OFF" in run.lines, run
    run = fence_from(lab, "node2", agent, stdin=stdin_of(action="monitor", uri=uri))
    timings["fence_havirt monitor over qemu+tcp"] = run.seconds
    assert (run.rc, run.stdout) == (OK, ""), run


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["an address nobody has", "a port nobody listens on"])
def test_an_unreachable_hypervisor_fails_quickly_with_a_clear_message(
    lab: Lab, agent: str, where: str
) -> None:
    if where == "an address nobody has":
        uri = f"qemu+tcp://{lab.subnet[250]}/system"
    else:
        uri = f"qemu+tcp://{lab.nodes['node1'].address}:1/system"
    run = fence_from(lab, "node2", agent, stdin=stdin_of(action="reboot", plug="node-x", uri=uri))
    assert run.rc == ERROR, run
    assert f"ERROR: cannot reach libvirt at {uri}: " in run.stderr, run
    assert run.lines == []
    # connecting is bounded by login_timeout (5 s) even when no host answers at all
    assert run.seconds < 5 + 3, run


def test_an_unknown_plug_fails_and_leaves_every_guest_alone(
    lab: Lab, agent: str, make_guest: MakeGuest
) -> None:
    node1 = lab.nodes["node1"]
    guest = make_guest()
    pids = boot(guest, lab)
    uri = node1.uri_tcp
    run = fence_from(lab, "node2", agent, stdin=stdin_of(action="off", plug="no-such-vm", uri=uri))
    assert run.rc == ERROR, run
    assert f"the hypervisor at {uri} has no domain named 'no-such-vm'" in run.stderr
    assert node1.qemu_pids(guest.name) == pids


def test_a_failing_password_script_fails_before_connecting(
    lab: Lab, agent: str, tmp_path: Path
) -> None:
    script = tmp_path / "pw"
    script.write_text("#!/bin/sh\necho 'the vault is sealed' >&2\nexit 3\n")
    script.chmod(0o700)
    uri = lab.nodes["node1"].uri_host
    run = fence_from(
        lab, "host", agent, stdin=stdin_of(action="off", plug="x", uri=uri, password_script=script)
    )
    assert run.rc == ERROR, run
    assert f"password_script {script} exited 3: the vault is sealed" in run.stderr
    run = fence_from(lab, "host", agent, "-o", "status", "-n", "x", f"--uri={uri}", "-p", "pw")
    assert run.rc == ERROR and "must not be given on the command line" in run.stderr


# -- the password stays secret, with a real daemon on the other end ----------------------------


def scan_proc_for(secret: bytes, own: int) -> tuple[set[int], list[str]]:
    """Every process's command line and environment: (pids seen, where the secret was)."""
    seen, found = set(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{entry}/{part}", "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            seen.add(int(entry))
            if secret in data and int(entry) != own:
                found.append(f"/proc/{entry}/{part}")
    return seen, found


def test_a_password_never_shows_in_ps_or_in_the_logs(
    lab: Lab, agent: str, make_guest: MakeGuest, tmp_path: Path
) -> None:
    node1 = lab.nodes["node1"]
    guest = make_guest()
    first_pid = boot(guest, lab)
    secret = f"pw-{os.getpid()}-{time.monotonic_ns()}"
    script = tmp_path / "password-script"
    # The script lives a moment, so the scan below sees it (and its arguments) for sure.
    script.write_text(f"#!/bin/sh\nsleep 1\nprintf '%s\\n' '{secret}'\n")
    script.chmod(0o700)
    debug_file = tmp_path / "fence.log"
    stdin = stdin_of(
        action="reboot",
        plug=guest.name,
        uri=node1.uri_host,
        password_script=str(script),
        username="fence",
        verbose="1",
        debug_file=str(debug_file),
    )
    options = tmp_path / "options"
    options.write_text(stdin)
    with options.open() as source:
        proc = subprocess.Popen(
            [agent], stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    script_seen, leaks = False, []
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        seen, found = scan_proc_for(secret.encode(), own=os.getpid())
        leaks += found
        script_seen = script_seen or any(
            str(script).encode() in _cmdline(pid) for pid in seen if pid != os.getpid()
        )
        time.sleep(0.02)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == OK, err
    assert out == "Success: Rebooted\n"
    assert script_seen, "the scan never saw the password script run"
    assert leaks == []
    logged = err + debug_file.read_text()
    assert "password_script=" in logged and "verified: " in logged
    assert secret not in logged
    assert node1.qemu_pids(guest.name) != first_pid

    # password= on stdin, as Pacemaker passes a password attribute: never on a command line
    stdin = stdin_of(action="status", plug=guest.name, uri=node1.uri_host, password=secret)
    run = fence_from(lab, "host", agent, stdin=stdin)
    assert (run.rc, run.lines) == (OK, ["Status: ON"]), run
    assert secret not in run.stderr


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""
