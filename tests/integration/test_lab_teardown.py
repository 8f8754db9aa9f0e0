"""Lab.down() leaves nothing behind: processes, namespaces, mounts, links, files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from havirt.tools.lab import GuestAssets, Lab, LabError, create_guest, nsutil
from havirt.tools.lab.node import LibvirtNode

pytestmark = pytest.mark.integration


def snapshot(lab: Lab) -> dict[str, object]:
    """What a running lab owns, to check afterwards that it is all gone."""
    pids = sorted({pid for node in lab.nodes.values() for pid in node.pids()})
    return {
        "pids": pids,
        "netns": [ns for ns in nsutil.netns_list() if ns.startswith(f"hvl-{lab.name}-")],
    }


def assert_nothing_left(lab: Lab, owned: dict[str, object]) -> None:
    pids = owned["pids"]
    assert isinstance(pids, list)
    assert nsutil.wait_gone(pids, 10) == [], "lab processes still alive"
    for pid in pids:  # a zombie waiting for init to reap it runs nothing: fine
        assert not Path(f"/proc/{pid}/ns/net").exists() or nsutil.process_comm(pid) == ""
    assert [ns for ns in nsutil.netns_list() if ns.startswith(f"hvl-{lab.name}-")] == []
    mountinfo = Path("/proc/self/mountinfo").read_text()
    assert str(lab.dir) not in mountinfo
    assert f"hvl-{lab.name}-" not in mountinfo
    links = nsutil.run(["ip", "-o", "link"], timeout=15, check=True).stdout
    for name in lab.nodes:
        assert f" {name}@" not in links and f" {name}:" not in links
    assert not lab.dir.exists()


def test_down_removes_everything_even_with_a_guest_running(
    lab_requirements: None, guest_assets: GuestAssets
) -> None:
    lab = Lab(f"td{os.getpid()}", nodes=("t1", "t2"), subnet="192.168.78.0/24")
    try:
        lab.up()
        guest = create_guest(lab, "doomed", assets=guest_assets)
        guest.define(lab.nodes["t1"])
        guest.start(lab.nodes["t1"])
        assert lab.nodes["t1"].qemu_pids("doomed")
        lab.nodes["t2"].pause_libvirtd()  # a hung daemon must not stop the teardown
        owned = snapshot(lab)
        assert len(owned["netns"]) == 4  # type: ignore[arg-type]  # t1, t2, switch, controller
    finally:
        lab.down()
    assert_nothing_left(lab, owned)
    lab.down()  # idempotent


def test_failed_up_cleans_up_after_itself(lab_requirements: None) -> None:
    seen: dict[str, object] = {}

    class BrokenNode(LibvirtNode):
        """A node whose daemons fail to start, after the lab made its namespaces."""

        def power_on(self) -> None:
            seen.update(snapshot(lab))
            raise LabError("simulated failure while starting daemons")

    class BrokenLab(Lab):  # the lab's own seam for its nodes (ClusterLab's too)
        node_class = BrokenNode

    lab = BrokenLab(f"tf{os.getpid()}", nodes=("f1", "f2"), subnet="192.168.79.0/24")
    with pytest.raises(LabError, match="simulated"):
        lab.up()
    assert seen["netns"]  # it got as far as creating namespaces
    assert_nothing_left(lab, seen)


def test_lab_of_a_killed_process_is_cleaned_up_as_stale(lab_requirements: None) -> None:
    name = f"ts{os.getpid()}"
    script = textwrap.dedent(
        f"""
        import os, signal
        from havirt.tools.lab import Lab
        lab = Lab({name!r}, nodes=("s1",), subnet="192.168.80.0/24")
        lab.up()
        print(lab.nodes["s1"].holder_pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no finalizer
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    holder = int(proc.stdout.split()[0])
    lab = Lab(name, nodes=("s1",), subnet="192.168.80.0/24")
    owned = snapshot(lab)
    assert holder in owned["pids"]  # type: ignore[operator]
    start = time.monotonic()
    assert name in Lab.cleanup_stale()
    assert time.monotonic() - start < 30
    assert_nothing_left(lab, owned)
