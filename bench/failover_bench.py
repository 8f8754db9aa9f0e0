"""Failover in a real 3-node lab cluster: stock ocf:heartbeat:VirtualDomain vs havirt's.

Run through ``bench/failover`` (see bench/README.md). For each agent, one run
brings up a fresh 3-node cluster lab (Corosync, Pacemaker, fencing on) whose
guests are resources of that agent (the same parameters: havirt's agent is a
drop-in), then:

1. **standby drain**: ``crm_attribute`` puts the busiest node in standby; the
   time until every one of its guests runs on another node (by live
   migration) and nothing is left on it; then the node comes back;
2. **node crash**, ``--rounds`` times: every process of the busiest node is
   killed at once; the time is split, from the outside, into

   - *detection*: until a survivor's Pacemaker no longer counts the node online;
   - *fencing*: until the lab fence agent has powered the node back on (a
     fence "reboot" is complete);
   - *scheduling + start*: until every guest of the crashed node has a QEMU on a
     survivor (the auditor's samples); *start* alone is the agents' start time as
     pacemaker-execd logs it on the survivors, the rest is scheduling;
   - healthy guests on other nodes must not move (stickiness).

The independent auditor samples QEMU processes throughout: a double start fails
the run. Timings are printed and compared as ratios, never judged.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib import add_report_options, log, run_report
from havirt.tools.lab import build_guest_assets
from havirt.tools.lab.auditor import Auditor
from havirt.tools.lab.cluster import ClusterLab, cluster_missing_requirements
from havirt.tools.lab.lab import DEFAULT_CACHE_DIR

AGENTS = {"stock": "heartbeat", "havirt": "havirt"}
STOCK_AGENT = "/usr/lib/ocf/resource.d/heartbeat/VirtualDomain"
WAIT = 120.0
START_TIME_RE = re.compile(
    r"\b(\w[\w.-]*) start \(call \d+, PID \d+\) exited with status 0 "
    r"\(execution time ([\d.]+)(m?s)\)"
)


def _busiest(auditor: Auditor, lab: ClusterLab) -> tuple[str, list[str]]:
    by_node: dict[str, list[str]] = {name: [] for name in lab.nodes}
    for guest, copies in auditor.current().items():
        if guest in lab.guest_names and len(copies) == 1:
            by_node[copies[0].node].append(guest)
    node = max(by_node, key=lambda n: len(by_node[n]))
    return node, by_node[node]


def _settled_elsewhere(auditor: Auditor, guests: list[str], node: str) -> bool:
    current = auditor.current()
    return all(len(current.get(g, [])) == 1 and current[g][0].node != node for g in guests)


def _start_seconds(lab: ClusterLab, guests: list[str], since: float) -> float:
    """The longest successful start of ``guests`` in the survivors' logs after ``since``."""
    longest = 0.0
    for node in lab.nodes.values():
        log = node.dir / "var-log/pacemaker/pacemaker.log"
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines[-4000:]:
            match = START_TIME_RE.search(line)
            if match and match.group(1) in guests:
                value = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
                longest = max(longest, value)
    return longest


def standby_drain(lab: ClusterLab, auditor: Auditor) -> dict[str, Any]:
    node, guests = _busiest(auditor, lab)
    admin = lab.nodes[next(n for n in lab.nodes if n != node)]
    start = time.monotonic()
    admin.exec(["crm_attribute", "--node", node, "--name", "standby", "--update", "on"], check=True)
    auditor.wait_for(lambda: _settled_elsewhere(auditor, guests, node), WAIT, f"{node} drained")
    seconds = time.monotonic() - start
    migrated = all(auditor.current()[g][0].incoming for g in guests)
    admin.exec(["crm_attribute", "--node", node, "--name", "standby", "--delete"], check=True)
    return {"node": node, "guests": len(guests), "seconds": seconds, "live_migrated": migrated}


def node_crash(lab: ClusterLab, auditor: Auditor) -> dict[str, Any]:
    node_name, victims = _busiest(auditor, lab)
    node = lab.nodes[node_name]
    healthy = {
        g: c[0].pid
        for g, c in auditor.current().items()
        if g in lab.guest_names and g not in victims
    }
    survivor = next(n for n in lab.nodes if n != node_name)
    start = time.monotonic()
    node.power_off()
    detected = fenced = None
    while time.monotonic() - start < WAIT:
        now = time.monotonic() - start
        if detected is None:
            status = lab.nodes[survivor].try_crm_mon()
            if status is not None and node_name not in status.online:
                detected = now
        if fenced is None and node.is_powered_on():
            fenced = now  # the fence agent's "on" half of the reboot
        if _settled_elsewhere(auditor, victims, node_name):
            break
        auditor.check()
        time.sleep(0.05)
    running = time.monotonic() - start
    auditor.check()
    if not _settled_elsewhere(auditor, victims, node_name):
        raise RuntimeError(f"guests of {node_name} not recovered after {WAIT:.0f} s")
    start_s = _start_seconds(lab, victims, start)
    moved = [g for g, pid in healthy.items() if auditor.current()[g][0].pid != pid]
    lab.wait_online(WAIT)
    detected = detected if detected is not None else running
    fenced = fenced if fenced is not None else running
    return {
        "node": node_name,
        "guests": len(victims),
        "detection": detected,
        "fencing": max(0.0, fenced - detected),
        "scheduling": max(0.0, running - fenced - start_s),
        "start": start_s,
        "total": running,
        "healthy_guests_moved": moved,
    }


def run_agent(agent: str, options: argparse.Namespace) -> dict[str, Any]:
    lab = ClusterLab(
        f"fo{agent[:4]}",
        guests=options.guests,
        guest_assets=build_guest_assets(DEFAULT_CACHE_DIR / "guest"),
        cache_dir=DEFAULT_CACHE_DIR,
        provider=AGENTS[agent],
    )
    try:
        began = time.monotonic()
        lab.up()
        up = time.monotonic() - began
        # Outages are measured, not judged here (a restart instead of a migration shows
        # in "live_migrated"); a double start still fails the run.
        with Auditor(lab, lab.guest_names, max_outage=None) as auditor:
            drain = standby_drain(lab, auditor)
            lab.wait_started(lab.guest_names)
            crashes = []
            for _ in range(options.rounds):
                crashes.append(node_crash(lab, auditor))
                lab.wait_started(lab.guest_names)
        auditor.check()
        return {
            "lab_up": up,
            "standby": drain,
            "crashes": crashes,
            "samples": auditor.samples,
            "token_ms": lab.token_ms,
        }
    finally:
        lab.down()


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def render(report: dict[str, Any]) -> str:
    agents = list(report["agents"])
    out = [
        "bench/failover: a 3-node lab cluster (Corosync, Pacemaker, fencing on), "
        f"{report['guests']} guests, {report['rounds']} crash round(s) per agent",
        f"corosync token {report['token_ms']} ms; times in seconds (medians); ratio = havirt/stock",
        "",
        f"{'measure':<36}" + "".join(f"{a:>10}" for a in agents) + f"{'ratio':>9}",
    ]
    rows = [("standby drain (live migration)", lambda r: r["standby"]["seconds"])]
    for key in ("detection", "fencing", "scheduling", "start", "total"):
        label = f"node crash: {key}" if key != "total" else "node crash -> guests running elsewhere"
        rows.append((label, lambda r, k=key: _median(r["crashes"], k)))
    rows.append(("lab up (nodes online, guests started)", lambda r: r["lab_up"]))
    for label, get in rows:
        values = [get(report["agents"][a]) for a in agents]
        ratio = ""
        if len(values) == 2 and values[0] > 0:
            ratio = f"{values[1] / values[0]:9.2f}"
        out.append(f"{label:<36}" + "".join(f"{v:10.2f}" for v in values) + ratio)
    out.append("")
    for agent, result in report["agents"].items():
        moved = sorted({g for c in result["crashes"] for g in c["healthy_guests_moved"]})
        drain = result["standby"]
        out.append(
            f"{agent}: standby drained {drain['guests']} guest(s) "
            f"{'by live migration' if drain['live_migrated'] else 'WITH RESTARTS'}; "
            f"healthy guests moved by crashes: {', '.join(moved) or 'none'}; "
            f"auditor: {result['samples']} samples, no double start, no lost guest"
        )
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/failover", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="node crashes per agent (3)")
    parser.add_argument("--guests", type=int, default=3, help="guests in the lab (3)")
    parser.add_argument(
        "--agents", default="stock,havirt", help="comma-separated: stock,havirt (both)"
    )
    add_report_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    agents = [a for a in options.agents.split(",") if a]
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        print(
            f"bench/failover: unknown agent(s) {unknown}; choose from stock,havirt", file=sys.stderr
        )
        return 2
    problems = cluster_missing_requirements()
    if "stock" in agents and not Path(STOCK_AGENT).exists():
        problems.append(f"{STOCK_AGENT} missing (install resource-agents)")
    if problems:
        print("bench/failover: cannot run here: " + "; ".join(problems), file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        "guests": options.guests,
        "rounds": options.rounds,
        "token_ms": 0,
        "agents": {},
    }
    for agent in agents:
        log(f"bench/failover: {agent} ...")
        result = run_report("bench/failover", lambda o, a=agent: run_agent(a, o), options)
        if result is None:
            return 1
        report["token_ms"] = result.pop("token_ms")
        report["agents"][agent] = result
    print(json.dumps(report, indent=2) if options.json else render(report))
    return 0
