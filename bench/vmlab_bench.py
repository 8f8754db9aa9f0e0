"""Failover on separate kernels (the Vagrant lab) next to the namespace lab.

Run through ``bench/vmlab`` (see bench/README.md). Both columns use havirt's agent:

* **namespace lab**: ``bench/failover``'s havirt run (a fresh 3-node ``havirt lab``
  cluster, one kernel; a crash kills every process of a node);
* **VM lab**: the Vagrant lab (``vagrant/``; brought up unless it runs, destroyed
  afterwards unless ``--keep``): a standby drain by ``havirt node standby``, a power
  cut (``virsh destroy`` of a host VM: its kernel gone) split into detection, fencing
  (its VM powered on again by ``fence_havirt``'s reboot) and the guests running
  elsewhere, and the StoragePool monitor's answer at depth 10 and 20 with the NFS
  server's address gone.

An auditor reads the QEMU processes from each lab's own kernels throughout: a double
start fails the run. Times are printed side by side with their ratio (VM lab /
namespace lab), never judged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib import add_report_options, log, run_report
from havirt.tools.lab.auditor import AuditError
from havirt.tools.lab.vagrant_cluster import VagrantCluster, nfs_outage, power_cut
from havirt.tools.lab.vagrant_lab import VagrantLab, up_steps

FOLDER = Path(__file__).resolve().parent.parent / "vagrant"


def namespace_lab(options: argparse.Namespace) -> dict[str, Any]:
    import failover_bench

    ns = argparse.Namespace(guests=2, rounds=options.rounds)
    result = failover_bench.run_agent("havirt", ns)
    return {
        "lab_up": result["lab_up"],
        "standby": result["standby"]["seconds"],
        "crashes": result["crashes"],
        "samples": result["samples"],
    }


def vm_lab(options: argparse.Namespace) -> dict[str, Any]:
    machines = VagrantLab.from_environment(FOLDER, os.environ)
    cluster = VagrantCluster(machines)
    brought_up = len(machines.running_domains()) < 4
    lab_up = None
    lab_up_steps: dict[str, float] = {}
    log_file = Path(options.log)
    try:
        if brought_up:
            log(f"bench/vmlab: vagrant up (log: {log_file}) ...")
            offset = log_file.stat().st_size if log_file.exists() else 0
            began = time.monotonic()
            result = machines.up(log_file)
            if not result.ok:
                raise RuntimeError(f"vagrant up failed: {result.describe()} (log: {log_file})")
            lab_up = time.monotonic() - began
            lab_up_steps = up_steps(log_file.read_bytes()[offset:].decode(errors="replace"))
        cluster.wait_healthy(900)
        with cluster.auditor() as auditor:
            home = auditor.where(cluster.guests()[0])[0]
            admin = next(n for n in ("hv1", "hv2", "hv3") if n != home)
            began = time.monotonic()
            drained = cluster.havirt(admin, "node", "standby", home, "--json", "--timeout", "900")
            standby = time.monotonic() - began
            if not drained.ok:
                raise RuntimeError(f"standby: {drained.describe()}")
            cluster.havirt(admin, "node", "unstandby", home, "--return", "--timeout", "900")
            crashes = []
            for _ in range(options.rounds):
                cluster.restore()
                victim = auditor.where(cluster.guests()[0])[0]
                crashes.append(power_cut(cluster, auditor, victim).to_dict())
                cluster.restore()
            samples = auditor.samples
        limit, answers = nfs_outage(cluster)
        cluster.wait_healthy(600)
        return {
            "lab_up": lab_up,
            "lab_up_steps": lab_up_steps,
            "standby": standby,
            "crashes": crashes,
            "samples": samples,
            "blind": cluster.blind,
            "nfs_monitor_timeout": limit,
            "nfs_monitor": [
                {
                    "node": a.node,
                    "depth": a.depth,
                    "seconds": a.seconds,
                    "rc": a.returncode,
                    "host_answers": a.host_answers,
                }
                for a in answers
            ],
        }
    finally:
        if brought_up and not options.keep:
            log("bench/vmlab: vagrant destroy ...")
            cluster.down(log_file)


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    """The median of ``key`` over the crash rounds; "after_fence" is scheduling and
    start together (bench/failover splits them by the agents' log, the VM lab cannot)."""
    if not rows:
        return None
    if key == "after_fence":
        return statistics.median(r["start"] + r.get("scheduling", 0.0) for r in rows)
    return statistics.median(r[key] for r in rows)


def render(report: dict[str, Any]) -> str:
    ns, vm = report.get("namespace"), report["vmlab"]
    out = [
        "bench/vmlab: havirt's failover, one kernel (namespace lab) vs separate kernels "
        f"(Vagrant lab, TCG); {report['rounds']} crash round(s); times in seconds (medians)",
        "",
        f"{'measure':<44}{'namespace':>11}{'VM lab':>10}{'ratio':>8}",
    ]

    def row(label: str, a: float | None, b: float | None) -> None:
        ratio = f"{b / a:8.1f}" if a and b is not None else ""
        cell = lambda v: f"{v:11.1f}" if v is not None else f"{'-':>11}"  # noqa: E731
        out.append(f"{label:<44}{cell(a)}{cell(b)[1:]}{ratio}")

    row("standby drain (live migration)", ns and ns["standby"], vm["standby"])
    for key, label in (
        ("detection", "crash: detection"),
        ("fencing", "crash: fencing"),
        ("after_fence", "crash: scheduling + start"),
        ("total", "crash -> guests running elsewhere"),
    ):
        row(label, ns and _median(ns["crashes"], key), _median(vm["crashes"], key))
    row("lab up (cluster ready)", ns and ns["lab_up"], vm["lab_up"])
    for step, seconds in vm.get("lab_up_steps", {}).items():
        out.append(f"  VM lab up, {step}: after {seconds:.0f} s")
    out.append("")
    out.append(
        f"NFS server gone (VM lab only: the namespace lab has no NFS client); "
        f"the pool's monitor timeout is {vm['nfs_monitor_timeout']} s:"
    )
    for a in vm["nfs_monitor"]:
        out.append(
            f"  depth {a['depth']} on {a['node']}: answered in {a['seconds']:.1f} s, "
            f"exit {a['rc']}{'' if a['host_answers'] else ', HOST DID NOT ANSWER'}"
        )
    out.append("")
    out.append(
        f"auditor: {vm['samples']} samples in the VM lab"
        + (f", {ns['samples']} in the namespace lab" if ns else "")
        + "; no double start, no lost guest"
    )
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/vmlab", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="power cuts per lab (1)")
    parser.add_argument(
        "--no-namespace", action="store_true", help="only the VM lab (no namespace lab column)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the VM lab up if this run brought it up"
    )
    parser.add_argument(
        "--log", default="/var/tmp/bench-vmlab-vagrant.log", help="where vagrant's output goes"
    )
    add_report_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    if os.geteuid() != 0:
        print("bench/vmlab: run as root (both labs need it)", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"rounds": options.rounds}
    if not options.no_namespace:
        log("bench/vmlab: the namespace lab ...")
        result = run_report("bench/vmlab", namespace_lab, options)
        if result is None:
            return 1
        report["namespace"] = result
    log("bench/vmlab: the VM lab ...")
    try:
        result = run_report("bench/vmlab", vm_lab, options)
    except (RuntimeError, AuditError) as exc:
        print(f"bench/vmlab: error: {exc}", file=sys.stderr)
        return 1
    if result is None:
        return 1
    report["vmlab"] = result
    print(json.dumps(report, indent=2) if options.json else render(report))
    return 0
