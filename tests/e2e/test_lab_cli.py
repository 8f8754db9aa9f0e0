"""`havirt lab up`, then `crm_mon` inside a node, then `havirt lab down` leaving nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from havirt.tools.lab import nsutil
from havirt.tools.lab.lab import DEFAULT_BASE_DIR
from havirt.tools.lab.node import NETNS_PREFIX
from havirt.tools.pacemaker import parse_status

HAVIRT = [str(Path(sys.executable).with_name("havirt"))]


def havirt(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HAVIRT, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_lab_up_crm_mon_and_down_leaves_nothing(
    cluster_possible: None, timings: dict[str, float]
) -> None:
    name = f"cli{os.getpid()}"
    try:
        up = havirt("lab", "up", "--lab", name, "--json")
        assert up.returncode == 0, up.stderr
        view = json.loads(up.stdout)
        timings["havirt lab up (3 nodes online, 3 guests started)"] = view["seconds"]
        crm_mon = havirt(
            "lab", "exec", "--lab", name, "node1", "--", "crm_mon", "-1", "--output-as", "xml"
        )
        assert crm_mon.returncode == 0, crm_mon.stderr
        status = parse_status(crm_mon.stdout)
        assert sorted(status.online) == ["node1", "node2", "node3"]
        assert all(status.resource(g).role == "Started" for g in ("vm1", "vm2", "vm3"))
        again = havirt("lab", "up", "--lab", name, "--json")  # idempotent: nothing rebuilt
        assert again.returncode == 0 and json.loads(again.stdout)["seconds"] is None
    finally:
        down = havirt("lab", "down", "--lab", name)
    assert down.returncode == 0, down.stderr
    assert not [ns for ns in nsutil.netns_list() if ns.startswith(f"{NETNS_PREFIX}{name}-")]
    assert not (Path(DEFAULT_BASE_DIR) / name).exists()
    assert not [m for m in nsutil.mount_points() if f"/{name}/" in m]
    leftovers = [pid for pid in nsutil.all_pids() if name in " ".join(nsutil.process_cmdline(pid))]
    assert leftovers == []
    assert havirt("lab", "status", "--lab", name).returncode == 3
