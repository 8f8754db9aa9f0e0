"""The core HA scenarios on separate kernels: the Vagrant lab's KVM host VMs, a real NFS
server, fencing by ``fence_havirt`` through the outer host's libvirt.

Each runs with the auditor (tests/vmlab/conftest.py), which reads the hosts' QEMU
processes from their own /proc. Timeouts are generous: everything runs under TCG on
two cores. The times measured go to the session's summary (``timings``); the same
scenarios, timed, are ``bench/vmlab``.
"""

from __future__ import annotations

import json
import time

from havirt.tools.lab.auditor import Auditor, QemuCopy
from havirt.tools.lab.remote_audit import SKEW
from havirt.tools.lab.vagrant_cluster import VagrantCluster, nfs_outage, power_cut
from havirt.tools.lab.vagrant_lab import KVM_HOSTS

EXIT_FLAGGED = 1  # havirt domain list --check: a guest is flagged
SHARED = "/var/lib/libvirt/shared/guests"  # the pool's folder of the guests' files


def _copy(auditor: Auditor, guest: str) -> QemuCopy:
    """The guest's one QEMU process (waited for: right after a restore, a guest Pacemaker
    calls started may still be on its way)."""

    def once() -> list[QemuCopy]:
        copies = auditor.current().get(guest, [])
        return copies if len(copies) == 1 else []

    return auditor.wait_for(once, 300, f"{guest} running once")[0]


def _other(node: str, but: tuple[str, ...] = ()) -> str:
    return next(n for n in KVM_HOSTS if n != node and n not in but)


def test_a_killed_guest_is_restarted(
    vmlab: VagrantCluster, auditor: Auditor, timings: dict[str, float]
) -> None:
    guest = vmlab.guests()[0]
    victim = _copy(auditor, guest)
    auditor.allow_outage(600)
    start = time.monotonic()
    vmlab.machines.root(victim.node, f"kill -9 {victim.pid}", check=True)
    auditor.wait_for(
        lambda: [c for c in auditor.current().get(guest, []) if c.pid != victim.pid],
        600,
        f"{guest} running again after its QEMU was killed",
        poll=0.5,
        explain=vmlab.diagnose,
    )
    timings["guest killed -> running again (QEMU seen)"] = time.monotonic() - start
    auditor.allow_outage(SKEW)
    vmlab.wait_for(f"{guest} started once", lambda v: v.started_once(guest), 300)


def test_standby_live_migrates_every_guest_away_and_return_brings_them_back(
    vmlab: VagrantCluster, auditor: Auditor, timings: dict[str, float]
) -> None:
    home = _copy(auditor, vmlab.guests()[0]).node
    admin = _other(home)
    before = {g: auditor.where(g) for g in vmlab.guests()}
    start = time.monotonic()
    result = vmlab.havirt(admin, "node", "standby", home, "--json", "--timeout", "900")
    timings["node standby (guests live-migrated away)"] = time.monotonic() - start
    assert result.ok, result.describe() + "\n" + vmlab.diagnose()
    moved = {g["guest"]: g for g in json.loads(result.stdout)["guests"]}
    assert set(moved) == {g for g, nodes in before.items() if nodes == [home]}
    assert all(g["how"] == "live-migrated" and g["state"] == "done" for g in moved.values())
    for g in vmlab.guests():  # the truth: no QEMU of any guest left on the node
        assert home not in auditor.where(g), (g, auditor.current())
    start = time.monotonic()
    result = vmlab.havirt(
        admin, "node", "unstandby", home, "--return", "--json", "--timeout", "900"
    )
    timings["node unstandby --return (guests live-migrated back)"] = time.monotonic() - start
    assert result.ok, result.describe() + "\n" + vmlab.diagnose()
    for g in moved:
        assert auditor.where(g) == [home], (g, auditor.current())


def test_a_second_copy_by_hand_is_refused_by_the_lease_and_a_copy_of_the_disk_is_flagged(
    vmlab: VagrantCluster, auditor: Auditor
) -> None:
    """What an admin might do behind Pacemaker's back, on another host. The auditor
    watches until then and stops: a copy started by hand is no start of the cluster's
    (and even the refused one has a QEMU process for a moment, paused, before libvirt
    asks for the lease). What holds is checked from the hosts themselves."""
    guest = vmlab.guests()[0]
    home = _copy(auditor, guest).node
    other = _other(home)
    admin = _other(home, (other,))
    xml = f"{SHARED}/{guest}/domain.xml"
    auditor.check()
    auditor.stop()
    # The same disk: virtlockd's lease in the lockspace on NFS refuses the start, and
    # nothing of it is left running.
    refused = vmlab.machines.root(other, f"virsh create {xml}", timeout=300)
    assert not refused.ok, "a second copy of the guest started on the same disk"
    assert "lock" in (refused.stderr + refused.stdout).lower(), refused.describe()
    assert qemu_of(vmlab, guest) == {home: 1}
    # A copy of its disk under the guest's own name (a restore from backup by hand,
    # say): it runs, and havirt says so loudly.
    plant = (
        f"set -e; d=/var/tmp/planted-{guest}; mkdir -p $d; "
        f"cp {SHARED}/{guest}/disk.qcow2 $d/disk.qcow2; "
        f"python3 - {xml} $d <<'EOF'\n"
        "import sys, xml.etree.ElementTree as ET\n"
        "tree = ET.parse(sys.argv[1]); d = sys.argv[2]\n"
        "tree.find('devices/disk/source').set('file', d + '/disk.qcow2')\n"
        "serial = tree.find('devices/serial/source')\n"
        "serial is not None and serial.set('path', d + '/console.log')\n"
        "tree.write(d + '/domain.xml')\n"
        "EOF\n"
        "virsh create $d/domain.xml"
    )
    try:
        vmlab.machines.root(other, plant, timeout=300, check=True)
        assert qemu_of(vmlab, guest) == {home: 1, other: 1}
        # (each host's libvirt over qemu+ssh: seconds under TCG, hence the timeout)
        result = vmlab.havirt(admin, "domain", "list", "--check", "--json", "--timeout", "60")
        assert result.returncode == EXIT_FLAGGED, result.describe()
        found = {g["name"]: g for g in json.loads(result.stdout)["guests"]}
        assert [f["code"] for f in found[guest]["flags"]] == ["two-nodes"], found[guest]
        assert sorted(found[guest]["libvirt"]["running_on"]) == sorted([home, other])
    finally:
        vmlab.machines.root(other, f"virsh destroy {guest}; rm -rf /var/tmp/planted-{guest}")
    assert qemu_of(vmlab, guest) == {home: 1}
    vmlab.wait_for(f"{guest} started once", lambda v: v.started_once(guest), 120)


def qemu_of(vmlab: VagrantCluster, guest: str) -> dict[str, int]:
    """How many QEMU processes of ``guest`` each KVM host runs (asked of each host)."""
    counts = {}
    for node in KVM_HOSTS:
        found = vmlab.machines.root(node, f"pgrep -c -f '[q]emu.*-name guest={guest},'")
        if int(found.stdout.strip() or 0):
            counts[node] = int(found.stdout.strip())
    return counts


def test_nfs_server_gone_the_pool_monitor_answers_in_time_and_no_host_hangs(
    vmlab: VagrantCluster, auditor: Auditor, timings: dict[str, float]
) -> None:
    limit, answers = nfs_outage(vmlab)
    for answer in answers:
        timings[f"NFS gone: pool monitor, depth {answer.depth}, {answer.node}"] = answer.seconds
    for answer in answers:
        assert not answer.timed_out and answer.seconds < limit, (limit, answer)
        assert answer.returncode != 0, answer  # the storage is gone: it must say so
        assert answer.host_answers, answer
    vmlab.wait_healthy(600)


def test_power_cut_host_is_fenced_and_its_guests_recover_elsewhere_never_twice(
    vmlab: VagrantCluster, auditor: Auditor, timings: dict[str, float]
) -> None:
    victim = _copy(auditor, vmlab.guests()[0]).node
    survivor = _other(victim)
    fenced_before = vmlab.fences(survivor, victim)
    times = power_cut(vmlab, auditor, victim)
    timings["power cut -> node seen offline"] = times.detection
    timings["power cut -> powered on again by the fence"] = times.fenced
    timings["power cut -> its guests running elsewhere (QEMU seen)"] = times.total
    assert times.guests, "the victim ran no guest"
    assert vmlab.fences(survivor, victim) > fenced_before, "no fencing recorded"
    vmlab.wait_for(
        "every guest started once", lambda v: all(v.started_once(g) for g in vmlab.guests()), 600
    )
