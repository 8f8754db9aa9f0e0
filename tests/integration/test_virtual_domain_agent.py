"""ocf:havirt:VirtualDomain against real libvirt daemons and real QEMU guests.

The agent executable runs inside a lab node (its own libvirtd, /run and
network), exactly as Pacemaker would run it there.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
from guest_agent_calls import (
    GENERIC,
    NOT_RUNNING,
    SUCCESS,
    AgentRun,
    run_agent,
    started,
    wait_until,
)
from havirt.tools.lab import Lab

pytestmark = pytest.mark.integration

# -- the protocol as resource-agents' own tester sees it ---------------------------------


def test_ocf_tester_passes_on_a_real_guest(lab: Lab, agent_path: str, make_guest) -> None:
    guest = make_guest()
    result = lab.nodes["node1"].exec(
        ["ocf-tester", "-n", guest.name, "-o", f"config={guest.node_xml_path}", agent_path],
        env={"HA_RSCTMP": "/run/resource-agents"},
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{agent_path} passed all tests" in output, output
    # migrate_to/migrate_from were exercised, and did not hang (the stock agent does).
    assert "does not support the migrate action" not in output


# -- the state table, produced for real -------------------------------------------------


def test_running_paused_and_crashed_guest(lab: Lab, agent_path: str, make_guest) -> None:
    guest = make_guest()
    node = lab.nodes["node1"]
    started(lab, agent_path, guest)
    assert run_agent(lab, "node1", agent_path, "monitor", guest, interval_ms=10000).rc == SUCCESS
    assert run_agent(lab, "node1", agent_path, "monitor", guest).rc == SUCCESS  # probe

    node.virsh("suspend", guest.name)  # paused by an admin: still running
    assert run_agent(lab, "node1", agent_path, "monitor", guest, interval_ms=10000).rc == SUCCESS
    node.virsh("resume", guest.name)

    # QEMU killed behind libvirt's back: libvirt says shut off (crashed).
    (pid,) = node.qemu_pids(guest.name)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not node.qemu_pids(guest.name), 10, "QEMU to die")
    wait_until(
        lambda: (
            run_agent(lab, "node1", agent_path, "monitor", guest, interval_ms=10000).rc
            == NOT_RUNNING
        ),
        10,
        "monitor to see the crash",
    )
    stop = run_agent(lab, "node1", agent_path, "stop", guest)
    assert stop.rc == SUCCESS, stop


# -- libvirtd down: never a false "not running" ------------------------------------------


def test_probe_with_libvirtd_stopped_sees_the_running_qemu(
    lab: Lab, agent_path: str, make_guest
) -> None:
    guest = make_guest()
    node = lab.nodes["node1"]
    started(lab, agent_path, guest)
    node.stop_libvirtd()
    try:
        probe = run_agent(lab, "node1", agent_path, "monitor", guest, timeout_ms=20000)
        assert probe.rc != NOT_RUNNING, probe
        assert probe.rc == SUCCESS, probe
        assert "libvirt is unreachable" in probe.stderr
        # and a config file that vanished from this node does not hide it either
        moved = Path(str(guest.xml_path) + ".away")
        guest.xml_path.rename(moved)
        try:
            probe = run_agent(lab, "node1", agent_path, "monitor", guest, timeout_ms=20000)
            assert probe.rc == SUCCESS, probe
        finally:
            moved.rename(guest.xml_path)
    finally:
        node.start_libvirtd()


def test_stop_with_libvirtd_stopped_ends_within_the_deadline(
    lab: Lab, agent_path: str, make_guest
) -> None:
    guest = make_guest()
    node = lab.nodes["node1"]
    started(lab, agent_path, guest)
    node.stop_libvirtd()
    try:
        stop = run_agent(lab, "node1", agent_path, "stop", guest, timeout_ms=20000)
        assert stop.rc == SUCCESS, stop
        assert stop.seconds < 20, stop  # within its timeout: Pacemaker would not fence
        assert not node.qemu_pids(guest.name)
    finally:
        node.start_libvirtd()


def test_hung_libvirtd_gives_a_definite_answer_in_time(
    lab: Lab, agent_path: str, make_guest
) -> None:
    guest = make_guest()
    node = lab.nodes["node1"]
    started(lab, agent_path, guest)
    node.pause_libvirtd()
    try:
        monitor = run_agent(
            lab, "node1", agent_path, "monitor", guest, timeout_ms=10000, interval_ms=10000
        )
        assert monitor.rc == SUCCESS, monitor
        assert monitor.seconds < 10, monitor
    finally:
        node.resume_libvirtd()


# -- stop honours shutdown_mode ---------------------------------------------------------


def test_shutdown_mode_is_applied(lab: Lab, agent_path: str, make_guest) -> None:
    # This guest ignores the ACPI power button but obeys its guest agent.
    guest = make_guest(ignore_acpi=True)
    started(lab, agent_path, guest)
    stop = run_agent(
        lab, "node1", agent_path, "stop", guest, timeout_ms=40000, shutdown_mode="agent"
    )
    assert stop.rc == SUCCESS, stop
    assert "shut down gracefully" in stop.stderr, stop
    assert "HAVIRT-GUEST-POWEROFF agent" in guest.console_text()


def test_guest_ignoring_shutdown_is_destroyed_before_the_timeout(
    lab: Lab, agent_path: str, make_guest
) -> None:
    guest = make_guest(ignore_acpi=True)
    started(lab, agent_path, guest)
    stop = run_agent(
        lab, "node1", agent_path, "stop", guest, timeout_ms=25000, shutdown_mode="acpi"
    )
    assert stop.rc == SUCCESS, stop
    assert "destroying" in stop.stderr, stop
    assert stop.seconds < 25, stop
    assert not lab.nodes["node1"].qemu_pids(guest.name)


# -- live migration between two libvirt daemons ------------------------------------------


MIGRATION = {"migration_transport": "tcp", "migrate_options": "--unsafe"}


def test_live_migration_leaves_exactly_one_copy(lab: Lab, agent_path: str, make_guest) -> None:
    guest = make_guest()
    started(lab, agent_path, guest, **MIGRATION)
    to = run_agent(
        lab,
        "node1",
        agent_path,
        "migrate_to",
        guest,
        timeout_ms=60000,
        CRM_meta_migrate_target="node2",
        CRM_meta_migrate_source="node1",
        **MIGRATION,
    )
    assert to.rc == SUCCESS, to
    came = run_agent(
        lab,
        "node2",
        agent_path,
        "migrate_from",
        guest,
        timeout_ms=30000,
        CRM_meta_migrate_target="node2",
        CRM_meta_migrate_source="node1",
        **MIGRATION,
    )
    assert came.rc == SUCCESS, came
    assert lab.nodes["node2"].qemu_pids(guest.name)
    assert not lab.nodes["node1"].qemu_pids(guest.name)
    # Pacemaker then stops the source: idempotent, nothing left to do.
    assert run_agent(lab, "node1", agent_path, "stop", guest).rc == SUCCESS
    assert run_agent(lab, "node2", agent_path, "monitor", guest, interval_ms=10000).rc == SUCCESS
    assert run_agent(lab, "node2", agent_path, "stop", guest).rc == SUCCESS


def test_migrate_to_without_a_speed_lifts_a_limit_libvirt_kept(
    lab: Lab, agent_path: str, make_guest
) -> None:
    """libvirt keeps a running domain's migration bandwidth limit (an earlier
    migration_speed, or one set by hand); migrate_to without migration_speed lifts it,
    else every later migration of the guest crawls at the old limit."""
    node1 = lab.nodes["node1"]
    guest = make_guest()
    started(lab, agent_path, guest, **MIGRATION)
    node1.virsh("migrate-setspeed", guest.name, "1")
    assert node1.virsh("migrate-getspeed", guest.name).stdout.strip() == "1"
    # A target that cannot be reached: the speed is set, the migration fails, and the
    # domain (with its limit) stays here to be looked at.
    nowhere = run_agent(
        lab,
        "node1",
        agent_path,
        "migrate_to",
        guest,
        timeout_ms=30000,
        CRM_meta_migrate_target="node9",
        **MIGRATION,
    )
    assert nowhere.rc == GENERIC, nowhere
    speed = int(node1.virsh("migrate-getspeed", guest.name).stdout.strip())
    assert speed > 1_000_000, speed  # MiB/s: no limit left
    to = run_agent(
        lab,
        "node1",
        agent_path,
        "migrate_to",
        guest,
        timeout_ms=60000,
        CRM_meta_migrate_target="node2",
        **MIGRATION,
    )
    assert to.rc == SUCCESS, to
    assert lab.nodes["node2"].qemu_pids(guest.name)
    assert run_agent(lab, "node2", agent_path, "stop", guest).rc == SUCCESS


def exactly_one_copy_on_the_source(lab: Lab, guest, pid: int) -> None:
    """After a failed migration: the source's QEMU (the same process) runs the guest,
    and no copy is left on the target (libvirt ends it after an abort)."""
    target = lab.nodes["node2"]
    # libvirtd drops the target's domain object a moment after its QEMU exits (under
    # load, seen "paused" with no QEMU left): both are the target's cleanup.
    wait_until(
        lambda: not target.qemu_pids(guest.name) and guest.state(target) in ("", "shut off"),
        30,
        "target cleanup",
    )
    assert guest.qemu_pids() == {"node1": [pid]}
    assert guest.state(lab.nodes["node1"]) == "running"


# Peer-to-peer: the source's libvirtd drives the migration and goes on with it when
# the agent's process ends; client-driven: libvirtd cancels it when the agent's
# connection closes. The watchdog's abort must hold for both.
DRIVEN_BY = {
    "client": MIGRATION,
    "p2p": {**MIGRATION, "migrate_options": "--unsafe --p2p"},
}


def slow_migration(
    lab: Lab, agent_path: str, guest, params: dict[str, str], *, busy: list[int]
) -> tuple[int, AgentRun]:
    """migrate_to with an 8 s timeout of a migration that needs far longer (1 MiB/s),
    while ``busy`` processes keep every core busy. Returns the source's QEMU PID and
    the run."""
    assert busy  # the CPU burners run for the whole migration
    (pid,) = guest.qemu_pids()["node1"]
    to = run_agent(
        lab,
        "node1",
        agent_path,
        "migrate_to",
        guest,
        timeout_ms=8000,
        CRM_meta_migrate_target="node2",
        migration_speed="1",
        **params,
    )
    return pid, to


def no_job_left(lab: Lab, guest) -> bool:
    job = lab.nodes["node1"].virsh("domjobinfo", guest.name, check=False, timeout=15)
    return job.ok and "None" in job.stdout.splitlines()[0]


@pytest.mark.parametrize("driven_by", sorted(DRIVEN_BY))
def test_migration_aborted_at_the_deadline_keeps_the_source(
    lab: Lab, agent_path: str, make_guest, busy_cpus: list[int], driven_by: str
) -> None:
    """The agent's own abort answers before the watchdog, even with every core busy."""
    guest = make_guest()
    started(lab, agent_path, guest, **MIGRATION)
    pid, to = slow_migration(lab, agent_path, guest, DRIVEN_BY[driven_by], busy=busy_cpus)
    assert to.rc == GENERIC, to
    assert "aborted at the timeout; the guest still runs on this node" in (to.reason or ""), to
    assert "did not finish within its timeout" not in to.stderr, to  # not the watchdog's
    exactly_one_copy_on_the_source(lab, guest, pid)
    wait_until(lambda: no_job_left(lab, guest), 30, "the migration job to end")
    monitor = run_agent(lab, "node1", agent_path, "monitor", guest, interval_ms=10000)
    assert monitor.rc == SUCCESS, monitor


@pytest.mark.parametrize("driven_by", sorted(DRIVEN_BY))
def test_watchdog_aborts_the_migration_job_before_it_answers(
    lab: Lab,
    agent_path: str,
    stuck_abort_agent: str,
    make_guest,
    busy_cpus: list[int],
    driven_by: str,
) -> None:
    """The agent's own abort hangs (test hook): the watchdog answers migrate_to, and
    aborts the migration job first, so it cannot go on behind the failure (which a
    peer-to-peer migration did: libvirtd carried on after the agent was gone)."""
    from stuck_abort_agent import HOOK_MESSAGE

    guest = make_guest()
    started(lab, agent_path, guest, **MIGRATION)
    pid, to = slow_migration(lab, stuck_abort_agent, guest, DRIVEN_BY[driven_by], busy=busy_cpus)
    assert HOOK_MESSAGE in to.stderr, to  # the agent's own abort was reached, and hung
    assert to.rc == GENERIC, to
    assert "migrate_to did not finish within its timeout of 8s" in (to.reason or ""), to
    assert "migration job aborted by the watchdog" in (to.reason or ""), to
    exactly_one_copy_on_the_source(lab, guest, pid)
    wait_until(lambda: no_job_left(lab, guest), 30, "the migration job to end")
    assert guest.qemu_pids() == {"node1": [pid]}  # still, once the job is over
    monitor = run_agent(lab, "node1", agent_path, "monitor", guest, interval_ms=10000)
    assert monitor.rc == SUCCESS, monitor


def test_malformed_parameter_through_the_real_executable(
    lab: Lab, agent_path: str, make_guest
) -> None:
    guest = make_guest()
    run = run_agent(lab, "node1", agent_path, "start", guest, shutdown_mode="poweroff")
    assert run.rc == 6, run
    assert "shutdown_mode" in (run.reason or "") and "acpi" in (run.reason or ""), run
    assert not lab.nodes["node1"].qemu_pids(guest.name)


def test_guest_paused_on_an_io_error_fails_the_monitor(
    lab: Lab, agent_path: str, make_guest
) -> None:
    """A disk on a full filesystem: QEMU pauses the guest (reason ioerror) on ENOSPC."""
    from lxml import etree

    guest = make_guest(extra_cmdline=["havirt.write_disk=1"])
    node = lab.nodes["node1"]
    small = f"/run/havirt-small-{guest.name}"  # /run is private to the node
    node.exec(["mkdir", "-p", small], check=True)
    node.exec(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small], check=True)
    try:
        disk = f"{small}/disk.qcow2"
        node.exec(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
        tree = etree.parse(str(guest.xml_path))
        tree.find("devices/disk/source").set("file", disk)
        tree.write(str(guest.xml_path))
        started(lab, agent_path, guest)
        guest.wait_console("HAVIRT-GUEST-WRITING-DISK", timeout=30)
        wait_until(
            lambda: "paused" in node.virsh("domstate", "--reason", guest.name).stdout,
            60,
            "the guest to pause on ENOSPC",
        )
        assert "I/O error" in node.virsh("domstate", "--reason", guest.name).stdout
        monitor = run_agent(lab, "node1", agent_path, "monitor", guest, interval_ms=10000)
        assert monitor.rc == GENERIC, monitor
        assert "I/O error" in (monitor.reason or ""), monitor
        stop = run_agent(lab, "node1", agent_path, "stop", guest, timeout_ms=20000)
        assert stop.rc == SUCCESS, stop
        assert stop.seconds < 20, stop  # within its timeout: Pacemaker would not fence
    finally:
        node.virsh("destroy", guest.name, check=False)
        node.exec(["umount", "-l", small])


# -- backingfile: a copy-on-write disk, and no persistent definition left behind --------


def test_backingfile_guest_runs_on_its_overlay_and_stays_transient(
    lab: Lab, agent_path: str, make_guest
) -> None:
    guest = make_guest()
    node = lab.nodes["node1"]
    config = guest.xml_path.read_text()
    overlay = guest.xml_path.with_suffix(".qcow2")  # the agent's overlay: CONFIG minus .xml
    guest.xml_path.write_text(config.replace(guest.node_disk, lab.node_path(overlay)))
    started(lab, agent_path, guest, backingfile=guest.node_disk)
    assert overlay.exists()
    info = node.virsh("dominfo", guest.name).stdout
    assert re.search(r"Persistent:\s+no", info), info  # libvirt cannot start it on its own
    assert guest.name not in node.virsh("list", "--all", "--persistent", "--name").stdout
    stop = run_agent(lab, "node1", agent_path, "stop", guest)
    assert stop.rc == SUCCESS, stop
    assert guest.name not in node.virsh("list", "--all", "--name").stdout
