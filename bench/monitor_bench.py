"""Side-by-side timing of the whole-process monitor of the stock and havirt agents.

Run through ``bench/monitor`` (see bench/README.md). One run does everything:

1. a one-node lab (real libvirtd in namespaces) and one tiny running QEMU guest;
2. havirt's agent installed by havirt's own installer into a private OCF root;
3. two CIB files made with ``cibadmin --empty`` and checked with
   ``crm_verify --xml-file``: one holding only the guest's primitive ("empty"),
   one holding it among N-1 other VirtualDomain primitives ("1000");
4. warm-up rounds, then ``--iterations`` rounds; each round runs every
   (agent, case) pair once, in a freshly shuffled order, inside the node, with
   the same environment, timed by a small helper process living in the node
   (so that ``nsenter`` and interpreter start-up of the helper are not counted);
5. a table (or JSON) of median / p95 / min per agent and case, and the ratios.

Every agent exit code is checked (0 expected: the guest runs all along).
Timings are never judged: the exit status says only whether the benchmark ran.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import BenchError, NodeTimer, add_report_options, log, refuse_unfit, report_main
from havirt.tools import install
from havirt.tools.lab import (
    READY_MARKER,
    Lab,
    LabGuest,
    build_guest_assets,
    create_guest,
)
from havirt.tools.lab.lab import missing_requirements
from havirt.tools.lab.node import LibvirtNode

STOCK_OCF_ROOT = "/usr/lib/ocf"
STOCK_AGENT = f"{STOCK_OCF_ROOT}/resource.d/heartbeat/VirtualDomain"
HYPERVISOR = "qemu:///system"
GUEST_NAME = "benchvm"
MONITOR_TIMEOUT_MS = 30000
RECURRING_INTERVAL_MS = 10000
AGENT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
RSCTMP = "/run/resource-agents"  # node-private (/run is per node)


AUTOSET_KEYS = (
    "autoset_utilization_cpu",
    "autoset_utilization_host_memory",
    "autoset_utilization_hv_memory",
)


# ---------------------------------------------------------------- agents and cases


@dataclass(frozen=True)
class Agent:
    key: str  # column name
    path: str
    reskeys: Mapping[str, str]
    note: str


@dataclass(frozen=True)
class Case:
    action: str  # "probe" or "monitor"
    cib: str  # "empty" or "1000" (the label of a CIB file)

    @property
    def key(self) -> str:
        return f"{self.action}/{self.cib}"

    @property
    def interval_ms(self) -> int:
        return 0 if self.action == "probe" else RECURRING_INTERVAL_MS


@dataclass
class Series:
    agent: str
    case: str
    seconds: list[float] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        ms = sorted(s * 1000 for s in self.seconds)
        if not ms:
            return {"runs": 0}
        rank = max(1, math.ceil(0.95 * len(ms)))  # nearest-rank percentile
        return {
            "runs": len(ms),
            "median_ms": round(statistics.median(ms), 2),
            "p95_ms": round(ms[rank - 1], 2),
            "min_ms": round(ms[0], 2),
            "max_ms": round(ms[-1], 2),
            "mean_ms": round(statistics.fmean(ms), 2),
            "nonzero_exits": len(self.failures),
        }


# ---------------------------------------------------------------- CIB files


def empty_cib() -> ET.Element:
    """An empty CIB as this Pacemaker writes it (``cibadmin --empty``, offline)."""
    result = subprocess.run(
        ["cibadmin", "--empty"], capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"cibadmin --empty failed: {result.stderr.strip()}")
    return ET.fromstring(result.stdout)


def _nvpairs(parent: ET.Element, tag: str, owner: str, values: Mapping[str, str]) -> None:
    block = ET.SubElement(parent, tag, id=f"{owner}-{tag}")
    for name, value in values.items():
        ET.SubElement(block, "nvpair", id=f"{owner}-{tag}-{name}", name=name, value=value)


def _primitive(
    resources: ET.Element, rid: str, config: str, utilization: Mapping[str, int]
) -> None:
    attributes = {"id": rid, "class": "ocf", "provider": "heartbeat", "type": "VirtualDomain"}
    prim = ET.SubElement(resources, "primitive", attributes)
    _nvpairs(prim, "instance_attributes", rid, {"config": config, "hypervisor": HYPERVISOR})
    _nvpairs(prim, "meta_attributes", rid, {"allow-migrate": "true"})
    _nvpairs(prim, "utilization", rid, {k: str(v) for k, v in utilization.items()})
    ops = ET.SubElement(prim, "operations")
    for name, interval, timeout in (
        ("monitor", "10s", "30s"),
        ("start", "0s", "90s"),
        ("stop", "0s", "90s"),
    ):
        op_id = f"{rid}-{name}-interval-{interval}"
        ET.SubElement(ops, "op", id=op_id, name=name, interval=interval, timeout=timeout)


def build_cib(
    node_name: str,
    resource: str,
    config: str,
    utilization: Mapping[str, int],
    total: int,
) -> str:
    """A CIB with ``total`` VirtualDomain primitives, ``resource`` (the benchmarked
    guest, with its real utilization) first; the others are guests of the same
    shape that exist only in the CIB."""
    cib = empty_cib()
    configuration = cib.find("configuration")
    if configuration is None:
        raise BenchError("cibadmin --empty gave a CIB without <configuration>")
    crm_config = configuration.find("crm_config")
    nodes = configuration.find("nodes")
    resources = configuration.find("resources")
    if crm_config is None or nodes is None or resources is None:
        raise BenchError("cibadmin --empty gave an unexpected CIB layout")
    options = ET.SubElement(crm_config, "cluster_property_set", id="cib-bootstrap-options")
    for name, value in (("stonith-enabled", "false"), ("placement-strategy", "utilization")):
        ET.SubElement(options, "nvpair", id=f"cib-bootstrap-options-{name}", name=name, value=value)
    node = ET.SubElement(nodes, "node", id="1", uname=node_name)
    _nvpairs(node, "utilization", f"node-{node_name}", {"cpu": "64", "hv_memory": "262144"})
    _primitive(resources, resource, config, utilization)
    config_dir = os.path.dirname(config)
    for index in range(1, total):
        rid = f"vm{index:04d}"
        _primitive(resources, rid, f"{config_dir}/{rid}.xml", utilization)
    ET.indent(cib)
    return ET.tostring(cib, encoding="unicode") + "\n"


def verify_cib(path: Path) -> None:
    result = subprocess.run(
        ["crm_verify", "--xml-file", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise BenchError(f"crm_verify rejects {path}: {detail}")


def count_primitives(path: Path) -> int:
    return len(ET.parse(path).getroot().findall("./configuration/resources/primitive"))


def read_utilization(path: Path, resource: str) -> dict[str, str]:
    root = ET.parse(path).getroot()
    for prim in root.iter("primitive"):
        if prim.get("id") == resource:
            block = prim.find("utilization")
            if block is not None:
                return {p.get("name", ""): p.get("value", "") for p in block.iter("nvpair")}
    return {}


def agent_env(guest: LabGuest, interval_ms: int, cib_file: Path | None) -> dict[str, str]:
    """What Pacemaker's executor would pass for a monitor of this guest resource."""
    env = {
        "PATH": AGENT_PATH,
        "LC_ALL": "C",
        "HA_RSCTMP": RSCTMP,
        "OCF_ROOT": STOCK_OCF_ROOT,
        "OCF_RA_VERSION_MAJOR": "1",
        "OCF_RA_VERSION_MINOR": "1",
        "OCF_RESOURCE_INSTANCE": guest.name,
        "OCF_RESOURCE_TYPE": "VirtualDomain",
        "OCF_RESKEY_config": guest.node_xml_path,
        "OCF_RESKEY_hypervisor": HYPERVISOR,
        "OCF_RESKEY_CRM_meta_name": "monitor",
        "OCF_RESKEY_CRM_meta_timeout": str(MONITOR_TIMEOUT_MS),
        "OCF_RESKEY_CRM_meta_interval": str(interval_ms),
    }
    if cib_file is not None:
        env["CIB_file"] = str(cib_file)
    return env


# ---------------------------------------------------------------- facts


def _first_line(argv: Sequence[str]) -> str:
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    return result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""


def machine_facts(node: LibvirtNode) -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    version = node.virsh("version", "--daemon", check=False).stdout
    lib = re.search(r"Using library: libvirt ([\d.]+)", version)
    daemon = re.search(r"Running against daemon: ([\d.]+)", version)
    hyper = re.search(r"Running hypervisor: (\S+ [\d.]+)", version)

    def package(name: str) -> str:
        return _first_line(["dpkg-query", "-W", "-f", "${Version}", name])

    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "libvirt_library": lib.group(1) if lib else "",
        "libvirt_daemon": daemon.group(1) if daemon else "",
        "hypervisor": hyper.group(1) if hyper else "",
        "resource_agents": package("resource-agents"),
        "pacemaker": package("pacemaker-cli-utils"),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg()[0],
    }


def guest_size(node: LibvirtNode, name: str) -> dict[str, int]:
    """The utilization both agents derive from ``virsh dominfo`` (CPUs, max memory in MiB)."""
    info = node.virsh("dominfo", name).stdout
    cpus = re.search(r"^CPU\(s\):\s+(\d+)", info, re.M)
    mem = re.search(r"^Max memory:\s+(\d+) KiB", info, re.M)
    if not cpus or not mem:
        raise BenchError(f"cannot read the size of {name} from virsh dominfo:\n{info}")
    mib = int(mem.group(1)) // 1024
    return {"cpu": int(cpus.group(1)), "host_memory": mib, "hv_memory": mib}


# ---------------------------------------------------------------- the run


def run_benchmark(options: argparse.Namespace) -> dict[str, Any]:
    problems = missing_requirements()
    for tool in ("cibadmin", "crm_verify", "crm_resource"):
        if shutil.which(tool) is None:
            problems.append(f"{tool} not found (install pacemaker-cli-utils)")
    if not os.access(STOCK_AGENT, os.X_OK):
        problems.append(f"{STOCK_AGENT} missing (install resource-agents)")
    refuse_unfit(problems)

    cache_dir = Path(options.cache_dir)
    log("building (or reusing) the guest's kernel and initramfs")
    assets = build_guest_assets(cache_dir / "guest")
    work = Path(tempfile.mkdtemp(prefix="havirt-bench-monitor-", dir="/var/tmp"))
    os.chmod(work, 0o755)  # world-readable, as an OCF root must be
    ocf_root = work / "ocf"
    lab = Lab(f"bm{os.getpid()}", nodes=("node1",), cache_dir=cache_dir)
    timer: NodeTimer | None = None
    started_at = time.monotonic()
    try:
        (ocf_root / "sbin").mkdir(parents=True)
        report = install.install(str(ocf_root), str(ocf_root / "sbin"))
        (havirt_agent,) = [f.path for f in report.written if f.path.endswith("/VirtualDomain")]

        log(f"lab {lab.name}: bringing up one node")
        lab.up()
        node = lab.nodes["node1"]
        guest = create_guest(lab, GUEST_NAME, assets=assets)

        log("starting the guest with havirt's agent (start action)")
        start_env = agent_env(guest, 0, None) | {
            "OCF_RESKEY_CRM_meta_name": "start",
            "OCF_RESKEY_CRM_meta_timeout": "90000",
        }
        started = node.exec([havirt_agent, "start"], env=start_env, timeout=120)
        if started.returncode != 0:
            raise BenchError(f"start failed: {started.describe()}\n{started.stderr[-2000:]}")
        guest.wait_state(node, "running", timeout=30)
        guest.wait_console(READY_MARKER, timeout=120)  # boot finished: guest idle
        qemu_before = node.qemu_pids(guest.name)
        facts = machine_facts(node)
        size = guest_size(node, guest.name)

        cibs: dict[str, Path] = {}
        for label, total in (("empty", 1), (str(options.resources), options.resources)):
            path = work / f"cib-{label}.xml"
            path.write_text(build_cib(node.name, guest.name, guest.node_xml_path, size, total))
            log(f"checking {path.name} ({total} primitives) with crm_verify --xml-file")
            verify_cib(path)
            cibs[label] = path
        cib_facts = {
            label: {"primitives": count_primitives(p), "bytes": p.stat().st_size}
            for label, p in cibs.items()
        }
        big = str(options.resources)

        agents = [
            Agent(
                "stock",
                STOCK_AGENT,
                {},
                "ocf:heartbeat:VirtualDomain; autoset_utilization_* default to true",
            ),
            Agent(
                "havirt",
                havirt_agent,
                {},
                "ocf:havirt:VirtualDomain, defaults; autoset_utilization_* default to false",
            ),
            Agent(
                "havirt+autoset",
                havirt_agent,
                {f"OCF_RESKEY_{k}": "true" for k in AUTOSET_KEYS},
                "ocf:havirt:VirtualDomain, autoset_utilization_{cpu,host_memory,hv_memory}"
                "=true (as stock)",
            ),
        ]
        cases = [Case(a, c) for a in ("probe", "monitor") for c in ("empty", big)]
        pairs = [(agent, case) for case in cases for agent in agents]
        series = {(a.key, c.key): Series(a.key, c.key) for a, c in pairs}
        rng = random.Random(options.seed)
        timer = NodeTimer(node)
        timeout = MONITOR_TIMEOUT_MS / 1000 + 15

        def one(agent: Agent, case: Case, keep: bool) -> None:
            env = agent_env(guest, case.interval_ms, cibs[case.cib]) | dict(agent.reskeys)
            answer = timer.run([agent.path, "monitor"], env, timeout)  # type: ignore[union-attr]
            s = series[(agent.key, case.key)]
            if answer["rc"] != 0 or answer["timed_out"]:
                failure = {
                    "round": "warm-up" if not keep else len(s.seconds) + 1,
                    "rc": answer["rc"],
                    "timed_out": answer["timed_out"],
                    "stderr": answer["stderr"][-600:],
                }
                s.failures.append(failure)
                log(f"{agent.key} {case.key}: exit {answer['rc']}: {failure['stderr'][-200:]}")
            if keep:
                s.seconds.append(answer["ns"] / 1e9)

        total_rounds = options.warmup + options.iterations
        log(
            f"{options.warmup} warm-up + {options.iterations} measured rounds of "
            f"{len(pairs)} runs each (shuffled per round, seed {options.seed})"
        )
        measure_started = time.monotonic()
        for number in range(total_rounds):
            order = list(pairs)
            rng.shuffle(order)
            for agent, case in order:
                one(agent, case, keep=number >= options.warmup)
            if (number + 1) % 5 == 0 or number + 1 == total_rounds:
                log(f"round {number + 1}/{total_rounds}")
        measure_seconds = time.monotonic() - measure_started

        qemu_after = node.qemu_pids(guest.name)
        state_after = guest.state(node)
        same_guest = bool(qemu_before) and qemu_before == qemu_after
        if not same_guest or state_after != "running":
            raise BenchError(
                f"the guest changed during the run: QEMU {qemu_before} -> {qemu_after}, "
                f"state now {state_after!r}"
            )
        facts["loadavg_end"] = os.getloadavg()[0]
        utilization_after = {label: read_utilization(p, guest.name) for label, p in cibs.items()}
    finally:
        if timer is not None:
            timer.close()
        log(f"lab {lab.name}: down")
        lab.down()
        with contextlib.suppress(Exception):
            install.uninstall(str(ocf_root))
        shutil.rmtree(work, ignore_errors=True)

    results = [series[(a.key, c.key)] for c in cases for a in agents]
    return {
        "benchmark": "bench/monitor",
        "machine": facts,
        "iterations": options.iterations,
        "warmup_rounds": options.warmup,
        "seed": options.seed,
        "order": "every round runs each (agent, case) once, in a shuffled order",
        "timing": "whole process, spawn to exit, measured inside the node",
        "guest": {
            "name": guest.name,
            "size": size,
            "qemu_pid": qemu_before[0],
            "same_qemu_process_throughout": same_guest,
        },
        "cibs": cib_facts,
        "utilization_in_cib_after": utilization_after,
        "environment": agent_env(guest, 0, None)
        | {
            "OCF_RESKEY_CRM_meta_interval": f"0 (probe) or {RECURRING_INTERVAL_MS} (monitor)",
            "CIB_file": "<the case's CIB file>",
        },
        "agents": {
            a.key: {"path": a.path, "extra_env": dict(a.reskeys), "note": a.note} for a in agents
        },
        "cases": [c.key for c in cases],
        "results": [{"agent": s.agent, "case": s.case, **s.stats()} for s in results],
        "failures": [{"agent": s.agent, "case": s.case, **f} for s in results for f in s.failures],
        "ratios": ratios(results, agents, cases, big),
        "seconds": {
            "measured_rounds_and_warmup": round(measure_seconds, 1),
            "total": round(time.monotonic() - started_at, 1),
        },
    }


def _median(results: Sequence[Series], agent: str, case: str) -> float | None:
    for s in results:
        if s.agent == agent and s.case == case and s.seconds:
            return statistics.median(s.seconds)
    return None


def _ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or not bottom:
        return None
    return round(top / bottom, 3)


def ratios(
    results: Sequence[Series], agents: Sequence[Agent], cases: Sequence[Case], big: str
) -> dict[str, Any]:
    """Ratios of medians: each havirt column against stock per case, and for each
    agent the big CIB against the empty one per action."""
    versus_stock = {
        a.key: {
            c.key: _ratio(_median(results, a.key, c.key), _median(results, "stock", c.key))
            for c in cases
        }
        for a in agents
        if a.key != "stock"
    }
    growth = {
        a.key: {
            action: _ratio(
                _median(results, a.key, f"{action}/{big}"),
                _median(results, a.key, f"{action}/empty"),
            )
            for action in ("probe", "monitor")
        }
        for a in agents
    }
    return {"vs_stock": versus_stock, f"{big}_vs_empty": growth}


# ---------------------------------------------------------------- output


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def case_label(case: str) -> str:
    action, cib = case.split("/")
    what = "empty CIB" if cib == "empty" else f"{cib}-resource CIB"
    kind = "probe (interval 0)" if action == "probe" else f"monitor ({RECURRING_INTERVAL_MS} ms)"
    return f"{kind}, {what}"


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    out: list[str] = []
    add = out.append
    add(
        "bench/monitor: whole-process monitor, "
        "ocf:heartbeat:VirtualDomain vs ocf:havirt:VirtualDomain"
    )
    add("")
    add(f"machine      {m['cpus']} CPUs ({m['cpu_model']}), kernel {m['kernel']}")
    add(
        f"software     libvirt {m['libvirt_library']} (daemon {m['libvirt_daemon']}, "
        f"{m['hypervisor']}), resource-agents {m['resource_agents']}, "
        f"pacemaker {m['pacemaker']}, python {m['python']}"
    )
    add(f"load avg     {m['loadavg_start']:.2f} at start, {m['loadavg_end']:.2f} at end (1 min)")
    g = report["guest"]
    size = g["size"]
    add(
        f"guest        {g['name']}: running TCG guest, {size['cpu']} vCPU, "
        f"{size['host_memory']} MiB; same QEMU process (pid {g['qemu_pid']}) for every run"
    )
    add(
        f"runs         {report['iterations']} per agent and case, after "
        f"{report['warmup_rounds']} warm-up rounds; each round runs every (agent, case) once "
        f"in a shuffled order (seed {report['seed']})"
    )
    add("timing       whole agent process (spawn to exit), measured inside the node")
    cibs = ", ".join(
        f"{label}: {c['primitives']} primitive(s), {c['bytes'] // 1024} KiB"
        for label, c in report["cibs"].items()
    )
    add(f"CIB files    passed as CIB_file=; checked with crm_verify --xml-file ({cibs})")
    add("environment  the same for every agent (exactly these variables):")
    line = ""
    for item in (f"{k}={v}" for k, v in report["environment"].items()):
        if line and len(line) + 2 + len(item) > 98:
            add(f"  {line}")
            line = ""
        line = f"{line}  {item}" if line else item
    add(f"  {line}")
    add("agents")
    for key, agent in report["agents"].items():
        add(f"  {key:<15} {agent['note']}")
        add(f"  {'':<15} {agent['path']}")
    add("")
    header = f"{'case':<38} {'agent':<15} {'median':>8} {'p95':>8} {'min':>8}  (ms)"
    add(header)
    add("-" * len(header))
    previous = None
    for row in report["results"]:
        label = case_label(row["case"]) if row["case"] != previous else ""
        if row["case"] != previous and previous is not None:
            add("")
        previous = row["case"]
        bad = f"  {row['nonzero_exits']} non-zero exit(s)!" if row.get("nonzero_exits") else ""
        add(
            f"{label:<38} {row['agent']:<15} {_fmt(row.get('median_ms')):>8} "
            f"{_fmt(row.get('p95_ms')):>8} {_fmt(row.get('min_ms')):>8}{bad}"
        )
    add("")
    vs = report["ratios"]["vs_stock"]
    columns = list(vs)
    add("ratio of medians, havirt / stock (lower is faster than stock)")
    add(f"  {'case':<38}" + "".join(f"{c + ' / stock':>26}" for c in columns))
    for case in report["cases"]:
        add(f"  {case_label(case):<38}" + "".join(f"{_fmt(vs[c][case], 2):>26}" for c in columns))
    add("")
    growth_key = next(k for k in report["ratios"] if k.endswith("_vs_empty"))
    big = growth_key.removesuffix("_vs_empty")
    add(f"ratio of medians, {big}-resource CIB / empty CIB (cost of a big CIB per agent)")
    add(f"  {'agent':<17}{'probe':>8}{'monitor':>9}")
    for agent, values in report["ratios"][growth_key].items():
        add(f"  {agent:<17}{_fmt(values['probe'], 2):>8}{_fmt(values['monitor'], 2):>9}")
    add("")
    total = sum(r["runs"] for r in report["results"])
    if report["failures"]:
        add(f"exit codes   {len(report['failures'])} run(s) did NOT exit 0 (expected 0):")
        for f in report["failures"][:10]:
            reason = f["stderr"].strip().splitlines()[-1:] or [""]
            add(f"  {f['agent']} {f['case']} round {f['round']}: exit {f['rc']} {reason[0]}")
    else:
        warm = report["warmup_rounds"] * len(report["results"])
        add(f"exit codes   all 0 ({total} measured + {warm} warm-up runs; guest running)")
    secs = report["seconds"]
    add(
        f"wall time    {secs['total']:.0f} s in all, of which "
        f"{secs['measured_rounds_and_warmup']:.0f} s of agent runs (warm-up included)"
    )
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/monitor",
        description="Time the whole-process probe and recurring monitor of the stock "
        "ocf:heartbeat:VirtualDomain and of ocf:havirt:VirtualDomain on one running "
        "lab guest, with an empty and a big CIB (CIB_file).",
    )
    parser.add_argument(
        "--iterations", type=int, default=30, help="measured runs per agent and case (30)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="warm-up rounds, not counted (3)")
    parser.add_argument(
        "--resources", type=int, default=1000, help="primitives in the big CIB (1000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the run order (1)")
    add_report_options(parser, "guest kernel/initramfs, QEMU capabilities")
    options = parser.parse_args(argv)
    if options.iterations < 1 or options.warmup < 0 or options.resources < 2:
        parser.error("need --iterations >= 1, --warmup >= 0 and --resources >= 2")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    return report_main(
        "bench/monitor",
        run_benchmark,
        render,
        parse_args(argv),
        "agent run(s) on the running guest",
    )
