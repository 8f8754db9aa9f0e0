"""Start-up of the havirt CLI inside a cluster node, next to the stock tools an admin
runs for the same view.

Run through ``bench/startup`` (see bench/README.md). One run:

1. brings up a 3-node lab cluster (Corosync, Pacemaker, fencing, ``--guests``
   guests as ocf:havirt:VirtualDomain resources) and waits until every guest runs;
2. inside the first node, times each command as a whole process, spawn to exit
   (a helper process in the node runs them: ``nsenter`` is not counted), with the
   node's own environment: ``--warmup`` unmeasured rounds, then ``--runs`` rounds,
   each running every command once in a freshly shuffled order; every run must
   exit 0;
3. prints the median and the minimum of each command, and the ratios of havirt's
   commands to the stock commands giving the same view: ``havirt --help`` to
   ``pcs --help``; ``havirt domain list`` (Pacemaker + every node's libvirt) to
   ``crm_mon -1``, to ``pcs status`` and to what an admin types for the same
   answer by hand: ``crm_mon -1`` plus ``virsh list --all`` on every node
   (the sum of their medians); ``havirt node list`` to the same;
4. takes the lab down, also on errors and on SIGTERM/SIGHUP/Ctrl-C.

Timings never change the exit status: 0 when it ran and every command exited 0,
3 when a command did not exit 0 (listed), 1 when it could not run.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib import (
    HAVIRT,
    NodeTimer,
    add_report_options,
    havirt_missing,
    log,
    refuse_unfit,
    report_main,
)
from havirt.tools.lab import build_guest_assets
from havirt.tools.lab.cluster import DAEMON_PATH, ClusterLab, cluster_missing_requirements

TIMEOUT = 120.0


def commands(lab: ClusterLab) -> dict[str, list[str]]:
    """What is timed, by label; run on the lab's first node."""
    first, *others = lab.nodes
    found = {
        "havirt --help": [HAVIRT, "--help"],
        "havirt domain list": [HAVIRT, "domain", "list"],
        "havirt node list": [HAVIRT, "node", "list"],
        "pcs --help": ["pcs", "--help"],
        "pcs status": ["pcs", "status"],
        "crm_mon -1": ["crm_mon", "-1"],
        f"virsh list --all ({first}, local)": ["virsh", "-c", "qemu:///system", "list", "--all"],
    }
    for node in others:
        uri = f"qemu+tcp://{node}/system"
        found[f"virsh list --all ({node}, qemu+tcp)"] = ["virsh", "-c", uri, "list", "--all"]
    found["python3 -c pass"] = [sys.executable, "-c", "pass"]
    return found


def by_hand(labels: Sequence[str]) -> list[str]:
    """The commands an admin runs for the view `havirt domain list` gives: crm_mon -1 and
    virsh list on every node."""
    return ["crm_mon -1", *(label for label in labels if label.startswith("virsh list"))]


# (havirt's command, the stock command(s) giving the same view, what the row says)
COMPARISONS = (
    ("havirt --help", ("pcs --help",), "help"),
    ("havirt domain list", ("crm_mon -1",), "Pacemaker's view alone"),
    ("havirt domain list", ("pcs status",), "Pacemaker's view alone, through pcs"),
    ("havirt domain list", None, "crm_mon -1 + virsh list on every node"),
    ("havirt node list", None, "crm_mon -1 + virsh list on every node"),
)


def node_env() -> dict[str, str]:
    """A login-like environment in the node (what an admin's shell would have)."""
    return {"PATH": DAEMON_PATH, "LC_ALL": "C", "HOME": "/root", "TERM": "dumb"}


def time_commands(timer: NodeTimer, argvs: dict[str, list[str]], options: Any) -> dict:
    walls: dict[str, list[float]] = {label: [] for label in argvs}
    failures: list[dict[str, Any]] = []
    rng = random.Random(options.seed)
    env = node_env()
    for round_no in range(options.warmup + options.runs):
        order = list(argvs)
        rng.shuffle(order)
        for label in order:
            answer = timer.run(argvs[label], env, TIMEOUT)
            if answer["rc"] != 0 or answer["timed_out"]:
                failures.append(
                    {
                        "command": label,
                        "exit": answer["rc"],
                        "timed_out": answer["timed_out"],
                        "stderr": answer["stderr"][-300:],
                    }
                )
            if round_no >= options.warmup:
                walls[label].append(answer["ns"] / 1e6)
        if round_no + 1 == options.warmup:
            log(f"warm-up done; {options.runs} measured rounds")
    results = {
        label: {
            "median_ms": round(statistics.median(values), 1),
            "min_ms": round(min(values), 1),
            "argv": argvs[label],
        }
        for label, values in walls.items()
    }
    return {"results": results, "failures": failures}


def comparisons(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for ours, theirs, what in COMPARISONS:
        stock = list(theirs) if theirs else by_hand(list(results))
        stock_ms = sum(results[label]["median_ms"] for label in stock)
        ours_ms = results[ours]["median_ms"]
        virsh = len(stock) - 1
        rows.append(
            {
                "havirt": ours,
                "stock": " + ".join(stock) if theirs else f"crm_mon -1 + {virsh} x virsh list",
                "what": what,
                "havirt_ms": ours_ms,
                "stock_ms": round(stock_ms, 1),
                "ratio": round(ours_ms / stock_ms, 2) if stock_ms else None,
            }
        )
    return rows


def run_benchmark(options: argparse.Namespace) -> dict[str, Any]:
    refuse_unfit(cluster_missing_requirements() + havirt_missing())
    ClusterLab.cleanup_stale()
    lab = ClusterLab(
        f"bs{os.getpid()}",
        guests=options.guests,
        guest_assets=build_guest_assets(Path(options.cache_dir) / "guest"),
        cache_dir=options.cache_dir,
    )
    timer: NodeTimer | None = None
    try:
        log(f"bringing up a 3-node lab cluster with {options.guests} guests")
        began = time.monotonic()
        lab.up()
        up_s = round(time.monotonic() - began, 1)
        node = lab.first_node()
        argvs = commands(lab)
        log(f"timing {len(argvs)} commands in {node.name}: {options.warmup}+{options.runs} rounds")
        loadavg_start = os.getloadavg()[0]
        timer = NodeTimer(node)
        timed = time_commands(timer, argvs, options)
        report = {
            "machine": {
                "cpus": os.cpu_count(),
                "kernel": platform.release(),
                "python": platform.python_version(),
                "loadavg_start": loadavg_start,
                "loadavg_end": os.getloadavg()[0],
            },
            "node": node.name,
            "nodes": len(lab.nodes),
            "guests": options.guests,
            "lab_up_s": up_s,
            "runs": options.runs,
            "warmup": options.warmup,
            **timed,
            "comparisons": comparisons(timed["results"]),
        }
        return report
    finally:
        if timer is not None:
            timer.close()
        log("taking the lab down")
        lab.down()


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    out = [
        f"bench/startup: whole-process wall time inside {report['node']} of a "
        f"{report['nodes']}-node lab cluster with {report['guests']} guests "
        f"(median of {report['runs']} runs after {report['warmup']} warm-up)",
        f"machine: {m['cpus']} CPUs, kernel {m['kernel']}, Python {m['python']}, load avg "
        f"{m['loadavg_start']:.2f} at start, {m['loadavg_end']:.2f} at end (1 min)",
        "",
    ]
    width = max(len(label) for label in report["results"])
    out.append(f"{'command':<{width}}  {'median':>9}  {'min':>9}")
    for label, data in report["results"].items():
        out.append(f"{label:<{width}}  {data['median_ms']:>6.1f} ms  {data['min_ms']:>6.1f} ms")
    out += ["", "havirt vs the stock tools for the same view (ratio = havirt / stock):"]
    stock_width = max(len(row["stock"]) for row in report["comparisons"])
    for row in report["comparisons"]:
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "-"
        out.append(
            f"  {row['havirt']:<19} {row['havirt_ms']:>7.1f} ms  vs  {row['stock']:<{stock_width}}"
            f" {row['stock_ms']:>7.1f} ms  ratio {ratio}"
        )
    out += [
        "",
        "havirt domain list reads crm_mon and the CIB and asks every node's libvirt at once;",
        "by hand the same answer takes crm_mon -1 and one virsh list per node (summed here).",
        "pcs status in the lab also asks systemctl about 10 times, without systemd (slower",
        "than on a real host).",
    ]
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/startup",
        description="Time havirt's CLI (--help, domain list, node list) inside a lab "
        "cluster node, next to pcs, crm_mon and virsh.",
    )
    parser.add_argument("--runs", type=int, default=10, help="measured rounds (10)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first (1)")
    parser.add_argument("--guests", type=int, default=3, help="guests in the lab (3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the shuffled order (1)")
    add_report_options(parser, "guest image, QEMU capabilities")
    options = parser.parse_args(argv)
    if options.runs < 1 or options.warmup < 0 or not 1 <= options.guests <= 12:
        parser.error("need --runs >= 1, --warmup >= 0 and 1 <= --guests <= 12")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    return report_main("bench/startup", run_benchmark, render, parse_args(argv), "command run(s)")
