"""Two lab nodes with the same iscsi-direct pool on one real target (tgtd): `havirt
validate` finds them seeing the same LUNs; after the target gains a LUN, a node that
has not looked again is out of step, until `havirt node rescan` refreshes it. The
havirt commands run in the lab's controller namespace, over SSH, as an admin would."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from havirt.tools.lab import Lab
from havirt.tools.lab.iscsi import IscsiTarget
from havirt.tools.lab.iscsi import missing_requirements as target_missing

pytestmark = pytest.mark.integration

HAVIRT = str(Path(sys.executable).with_name("havirt"))
POOL = "luns"
NODES = ("node1", "node2")


def initiator(node: str) -> str:
    return f"iqn.2026-12.test.havirt:{node}"  # each node its own, as in production


@pytest.fixture(scope="module")
def llab(request: pytest.FixtureRequest, lab_requirements: None) -> Iterator[Lab]:
    problems = target_missing()
    if problems:
        pytest.skip("no userspace iSCSI target: " + "; ".join(problems))
    lab = Lab(f"ls{os.getpid()}", nodes=NODES)
    request.addfinalizer(lab.down)
    lab.up()
    yield lab


@pytest.fixture
def target(request: pytest.FixtureRequest, llab: Lab) -> Iterator[IscsiTarget]:
    the_target = IscsiTarget(llab, [initiator(n) for n in NODES], luns=1, size_mib=64)
    request.addfinalizer(the_target.stop)
    the_target.start()
    for node in llab.nodes.values():
        xml = (
            f"<pool type='iscsi-direct'><name>{POOL}</name><source>"
            f"<host name='{the_target.address}' port='{the_target.port}'/>"
            f"<device path='{the_target.iqn}'/>"
            f"<initiator><iqn name='{initiator(node.name)}'/></initiator></source></pool>"
        )
        path = llab.shared_dir / f"pool-{node.name}.xml"
        path.write_text(xml)
        node.virsh("pool-define", llab.node_path(path))
        node.virsh("pool-start", POOL)
    yield the_target
    for node in llab.nodes.values():
        node.virsh("pool-destroy", POOL, check=False)
        node.virsh("pool-undefine", POOL, check=False)


def havirt(lab: Lab, *args: str) -> tuple[int, Any]:
    """Run a havirt command against the lab's nodes, in the controller; (exit, JSON)."""
    argv = [HAVIRT, *args, "-u", "root", "-i", str(lab.ssh.identity), "--ssh-config", "/dev/null"]
    argv += ["--known-hosts", str(lab.ssh.known_hosts), "--json"]
    for node in lab.nodes.values():
        argv += ["--host", f"{node.name}={node.address}"]
    result = lab.controller.exec(argv, timeout=180)
    assert result.returncode in (0, 1), result.describe() + result.stderr[-2000:]
    return result.returncode, json.loads(result.stdout)


def lun_check(lab: Lab) -> tuple[str, list[tuple[str, str, str]]]:
    """The luns check's status and its findings (node, item, message)."""
    _, report = havirt(lab, "validate", "--skip", "ssh-trust")
    status = next(c["status"] for c in report["checks"] if c["id"] == "luns")
    found = [
        (f["node"], f["item"], f["message"]) for f in report["findings"] if f["check"] == "luns"
    ]
    return status, found


def seen(rows: list[dict[str, Any]]) -> dict[str, list[tuple[int, int, str]]]:
    return {
        r["node"]: [(lun["number"], lun["capacity"], lun["serial"]) for lun in r["luns"]]
        for r in rows
    }


def test_a_node_that_did_not_rescan_is_out_of_step_until_it_does(
    llab: Lab, target: IscsiTarget, timings: dict[str, float]
) -> None:
    start = time.monotonic()
    assert lun_check(llab) == ("ok", [])
    timings["validate, luns in step"] = time.monotonic() - start

    # The target gains LUN 2 (32 MiB); no node has looked yet.
    backing = target.dir / "lun2.img"
    with backing.open("wb") as image:
        image.truncate(32 * 2**20)
    lun = ("--tid", "1", "--lun", "2")
    target.tgtadm("--mode", "logicalunit", "--op", "new", *lun, "--backing-store", str(backing))
    serial = f"HAVIRT-{llab.name}-added-2"
    target.tgtadm("--mode", "logicalunit", "--op", "update", *lun, "--params", f"scsi_sn={serial}")

    start = time.monotonic()
    rc, one = havirt(llab, "node", "rescan", "node1")
    timings["node rescan (1 node)"] = time.monotonic() - start
    assert rc == 0, one
    lun1 = (1, 64 * 2**20 - 512, target.lun_serial(1))  # libvirt: the last LBA times 512
    assert seen(one["rows"]) == {"node1": [lun1, (2, 32 * 2**20 - 512, serial)]}
    assert [r["state"] for r in one["rows"]] == ["refreshed"]

    status, found = lun_check(llab)
    assert status == "error"
    assert found == [
        ("node2", f"pool '{POOL}' LUN 2", f"node2 does not see LUN 2 of pool {POOL}; node1 sees it")
    ]

    start = time.monotonic()
    rc, both = havirt(llab, "node", "rescan", "--all", "--pool", POOL)
    timings["node rescan --all (2 nodes)"] = time.monotonic() - start
    assert rc == 0, both
    assert seen(both["rows"]) == {n: [lun1, (2, 32 * 2**20 - 512, serial)] for n in NODES}
    assert lun_check(llab) == ("ok", [])

    # A pool no node has is bad input: exit 2, one message, nothing refreshed.
    argv = [HAVIRT, "node", "rescan", "--all", "--pool", "nosuch", "-u", "root"]
    argv += ["-i", str(llab.ssh.identity), "--ssh-config", "/dev/null"]
    argv += [
        "--known-hosts",
        str(llab.ssh.known_hosts),
        "--host",
        "node1=" + llab.nodes["node1"].address,
    ]
    refused = llab.controller.exec(argv, timeout=60)
    assert refused.returncode == 2, refused.describe()
    assert "no node has an active iSCSI pool named nosuch" in refused.stderr
