"""Wall time of ``havirt validate`` for 1, 4 and 16 lab nodes, and the CLI's start-up time.

Run through ``bench/validate`` (see bench/README.md). For each node count:

1. a lab of that many nodes (libvirtd + sshd each; nothing else: validate needs
   no guests, no Pacemaker), its bring-up time printed;
2. ``havirt validate`` as a whole process, run in the lab's controller
   namespace with the lab's key and known_hosts, ``--warmup`` times unmeasured,
   then ``--runs`` times; the median wall time (spawn to exit) is printed with
   its ratio to one node. Every run must exit 0 (alike nodes); the report's own
   ``seconds``, the machine's CPU busy share during the runs, the CPU time of
   the havirt process and the CPU time of the nodes' processes (sshd, the
   commands validate runs there, libvirtd) are kept too;
3. the same with ``--skip ssh-trust``: the trust check is the only one whose
   work grows with the square of the node count (each node opens a qemu+ssh
   connection to every other), so this column shows the scaling of the rest;
4. then the lab is taken down (also on errors and SIGTERM/SIGHUP/Ctrl-C).

Last, ``havirt --help`` and ``havirt validate --help`` as whole processes
(median of ``--help-runs``), next to ``python -c pass`` for scale.

Timings never change the exit status: 0 when it ran and every validate exited 0,
3 when some validate run did not exit 0 (listed), 1 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib import (
    HAVIRT,
    BenchError,
    add_report_options,
    havirt_missing,
    log,
    refuse_unfit,
    report_main,
)
from havirt.ocf.runner import CommandRunner
from havirt.tools.lab import Lab, nsutil
from havirt.tools.lab.lab import missing_requirements
from havirt.tools.validate import framing, trust_probe
from havirt.tools.validate.targets import Target

VARIANTS = {"full": (), "no-trust": ("--skip", "ssh-trust")}
SETTLE_S = 0.2


def busy_jiffies() -> int:
    """CPU time spent by the whole machine (user+nice+system+irq+softirq), in clock ticks."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[:7])
    return user + nice + system + irq + softirq


def nodes_cpu(lab: Lab) -> float:
    """CPU seconds the lab's nodes have used: every process in their namespaces, with
    the children each has reaped (an SSH session and what it ran end up in sshd's).

    Unlike the machine's busy share, this leaves out whatever else runs on the
    machine (other test suites): it is the nodes' share of a validation."""
    ticks = 0
    for node in lab.nodes.values():
        for pid in nsutil.pids_in_netns(node.netns_file):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue  # gone meanwhile: its parent has its time
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def validate_argv(lab: Lab, extra: Sequence[str]) -> list[str]:
    argv = [HAVIRT, "validate", "-u", "root", "-i", str(lab.ssh.identity)]
    argv += ["--known-hosts", str(lab.ssh.known_hosts), "--ssh-config", "/dev/null", "--json"]
    for node in lab.nodes.values():
        argv += ["--host", f"{node.name}={node.address}"]
    return [*argv, *extra]


def time_validate(lab: Lab, extra: Sequence[str]) -> dict[str, Any]:
    """One whole-process run of validate in the controller: wall, its own seconds, CPU busy."""
    ticks = os.sysconf("SC_CLK_TCK")
    busy_before = busy_jiffies()
    own_before = _children_cpu()
    nodes_before = nodes_cpu(lab)
    start = time.monotonic()
    result = lab.controller.exec(validate_argv(lab, extra), timeout=600)
    wall = time.monotonic() - start
    busy = (busy_jiffies() - busy_before) / ticks
    time.sleep(SETTLE_S)  # the nodes' sshd reap the sessions validate just closed
    nodes = nodes_cpu(lab) - nodes_before
    run: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "exit": result.returncode,
        "cpu_busy": round(busy / (wall * (os.cpu_count() or 1)), 2),
        # The havirt process itself (nsenter execs it): the part a real cluster's
        # nodes do not take off the machine running validate.
        "controller_cpu_s": round(_children_cpu() - own_before, 3),
        # What the nodes did for it: on real hosts each node's share runs on its own CPUs.
        "nodes_cpu_s": round(nodes, 3),
    }
    try:
        report = json.loads(result.stdout)
        run["report_s"] = report["seconds"]
        run["errors"] = [f"{f['node']}: {f['message']}" for f in report["findings"]][:5]
    except (ValueError, KeyError):
        run["report_s"] = None
        run["errors"] = [result.describe()]
    return run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_size(count: int, options: argparse.Namespace) -> dict[str, Any]:
    names = [f"node{i + 1}" for i in range(count)]
    lab = Lab(f"bv{os.getpid()}n{count}", nodes=names, cache_dir=options.cache_dir)
    log(f"{count} node(s): bringing up the lab")
    start = time.monotonic()
    try:
        lab.up()
        up = time.monotonic() - start
        row: dict[str, Any] = {"nodes": count, "lab_up_s": round(up, 2), "variants": {}}
        for variant, extra in VARIANTS.items():
            log(f"{count} node(s): validate ({variant}), {options.warmup}+{options.runs} runs")
            for _ in range(options.warmup):
                time_validate(lab, extra)
            runs = [time_validate(lab, extra) for _ in range(options.runs)]
            walls = [r["wall_s"] for r in runs]
            row["variants"][variant] = {
                "median_s": round(statistics.median(walls), 3),
                "min_s": min(walls),
                "report_median_s": _median([r["report_s"] for r in runs]),
                "cpu_busy_median": _median([r["cpu_busy"] for r in runs]),
                "controller_cpu_median_s": _median([r["controller_cpu_s"] for r in runs]),
                "nodes_cpu_median_s": _median([r["nodes_cpu_s"] for r in runs]),
                "runs": runs,
                "failed_runs": sum(r["exit"] != 0 for r in runs),
            }
        if count > 1:
            row["trust_alone_s"] = time_trust_alone(lab)
        return row
    finally:
        lab.down()


def time_trust_alone(lab: Lab) -> float:
    """Wall time of one node's qemu+ssh probes to all its peers while the others idle:
    what each node spends on SSH trust when it has its own CPUs, as real hosts do."""
    node = next(iter(lab.nodes.values()))
    peers = [Target(n.name, n.address) for n in lab.nodes.values() if n is not node]
    boundary = framing.new_boundary()
    script = trust_probe.trust_script(boundary, peers, None, timeout=30)
    start = time.monotonic()
    result = node.exec(["sh", "-c", script], timeout=300)
    wall = time.monotonic() - start
    found = framing.parse_sections(boundary, result.stdout)
    failed = [
        p.name for i, p in enumerate(peers) if not found.get(f"v{i}", framing.Section("", 1, "")).ok
    ]
    if failed:
        raise BenchError(f"trust probes from {node.name} failed for {failed}")
    return round(wall, 3)


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def time_process(argv: Sequence[str], runs: int) -> dict[str, float]:
    runner = CommandRunner()
    walls = []
    for _ in range(runs):
        start = time.monotonic()
        result = runner.run(list(argv), timeout=60)
        walls.append(time.monotonic() - start)
        if not result.ok:
            raise BenchError(result.describe())
    return {
        "median_ms": round(statistics.median(walls) * 1000, 1),
        "min_ms": round(min(walls) * 1000, 1),
    }


def run_benchmark(options: argparse.Namespace) -> dict[str, Any]:
    refuse_unfit(missing_requirements() + havirt_missing())
    Lab.cleanup_stale()
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg()[0],
        },
        "runs": options.runs,
        "warmup": options.warmup,
        "sizes": [],
    }
    for count in options.nodes:
        report["sizes"].append(bench_size(count, options))
    base = report["sizes"][0]
    for row in report["sizes"]:
        for variant, data in row["variants"].items():
            data["ratio_to_first"] = round(
                data["median_s"] / base["variants"][variant]["median_s"], 2
            )
    log("CLI start-up")
    report["startup"] = {
        "havirt --help": time_process([HAVIRT, "--help"], options.help_runs),
        "havirt validate --help": time_process([HAVIRT, "validate", "--help"], options.help_runs),
        "python -c pass": time_process([sys.executable, "-c", "pass"], options.help_runs),
    }
    report["machine"]["loadavg_end"] = os.getloadavg()[0]
    report["failures"] = [
        {"nodes": row["nodes"], "variant": variant, "errors": run["errors"]}
        for row in report["sizes"]
        for variant, data in row["variants"].items()
        for run in data["runs"]
        if run["exit"] != 0
    ]
    return report


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    out = [
        f"bench/validate: wall time of `havirt validate` (whole process, median of "
        f"{report['runs']} runs after {report['warmup']} warm-up)",
        f"machine: {m['cpus']} CPUs, kernel {m['kernel']}, Python {m['python']}, load avg "
        f"{m['loadavg_start']:.2f} at start, {m['loadavg_end']:.2f} at end (1 min)",
        "",
        f"{'nodes':>5}  {'variant':<12}  {'lab up':>6}  {'wall':>6}  {'ratio':>5}  "
        f"{'CPU busy':>8}  {'nodes CPU':>9}  {'havirt CPU':>10}  {'CPU floor':>9}",
    ]
    cpus = m["cpus"] or 1
    for row in report["sizes"]:
        for variant, label in (("full", "all checks"), ("no-trust", "no ssh-trust")):
            data = row["variants"][variant]
            nodes, havirt = data["nodes_cpu_median_s"], data["controller_cpu_median_s"]
            floor = (nodes + havirt) / cpus if nodes is not None and havirt is not None else None
            out.append(
                f"{row['nodes']:>5}  {label:<12}  {row['lab_up_s']:>5.1f}s  "
                f"{data['median_s']:>5.2f}s  {data['ratio_to_first']:>5.2f}  "
                f"{_pct(data['cpu_busy_median']):>8}  {_secs(nodes):>9}  {_secs(havirt):>10}  "
                f"{_secs(floor):>9}"
            )
    alone = [
        (row["nodes"], row["trust_alone_s"]) for row in report["sizes"] if "trust_alone_s" in row
    ]
    if alone:
        out.append("")
        out.append("one node's qemu+ssh probes to all its peers, the other nodes idle:")
        out += [f"  {n - 1:>3} peers: {seconds:.2f} s" for n, seconds in alone]
    out.append("")
    for what, data in report["startup"].items():
        out.append(
            f"{what + ':':<24} median {data['median_ms']:6.1f} ms (min {data['min_ms']:.1f} ms)"
        )
    out += [
        "",
        "ratio: median / median of the first size. CPU busy: the whole machine's busy share "
        "during the runs",
        "(other load included). nodes CPU: CPU time of the nodes' processes (sshd, what "
        "validate runs there,",
        "libvirtd; ssh-trust: n*(n-1) qemu+ssh connections). havirt CPU: the havirt process "
        "itself. CPU floor:",
        f"(nodes CPU + havirt CPU) / {cpus} CPUs, the least wall time this work takes here, "
        "where all nodes share",
        "the machine's CPUs; on real hosts each node's share runs on its own.",
    ]
    return "\n".join(out)


def _secs(value: float | None) -> str:
    return f"{value:.2f}s" if value is not None else "-"


def _pct(value: float | None) -> str:
    return f"{value * 100:.0f}%" if value is not None else "-"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/validate",
        description="Time `havirt validate` against lab clusters of several sizes, and "
        "the CLI's start-up.",
    )
    parser.add_argument(
        "--nodes",
        default="1,4,16",
        help="comma-separated node counts; ratios are to the first (1,4,16)",
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs per size (3)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (1)")
    parser.add_argument(
        "--help-runs", type=int, default=20, help="runs of each start-up measurement (20)"
    )
    add_report_options(parser, "QEMU capabilities")
    options = parser.parse_args(argv)
    try:
        options.nodes = [int(n) for n in options.nodes.split(",")]
    except ValueError:
        parser.error("--nodes takes numbers separated by commas, e.g. 1,4,16")
    if not options.nodes or min(options.nodes) < 1 or max(options.nodes) > 60:
        parser.error("node counts must be between 1 and 60")
    if options.runs < 1 or options.warmup < 0 or options.help_runs < 1:
        parser.error("need --runs >= 1, --warmup >= 0, --help-runs >= 1")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    return report_main(
        "bench/validate", run_benchmark, render, parse_args(argv), "validate run(s) on alike nodes"
    )
