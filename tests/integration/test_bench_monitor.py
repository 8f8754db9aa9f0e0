"""Smoke test of bench/monitor: it runs end to end and reports every case for every agent.

No timing is judged here; the benchmark brings up (and takes down) its own lab.
"""

from __future__ import annotations

import os

import pytest
from bench_smoke import run_bench

pytestmark = pytest.mark.integration

STOCK_AGENT = "/usr/lib/ocf/resource.d/heartbeat/VirtualDomain"


def test_bench_monitor_reports_every_case_for_both_agents(lab_requirements: None) -> None:
    if not os.access(STOCK_AGENT, os.X_OK):
        pytest.skip(f"{STOCK_AGENT} is not installed (resource-agents)")
    report = run_bench("monitor", "--iterations", "2", "--warmup", "1", timeout=900)

    cases = {"probe/empty", "probe/1000", "monitor/empty", "monitor/1000"}
    assert set(report["cases"]) == cases
    assert {"stock", "havirt", "havirt+autoset"} <= set(report["agents"])
    seen = {(row["agent"], row["case"]) for row in report["results"]}
    assert seen == {(agent, case) for agent in report["agents"] for case in cases}
    for row in report["results"]:
        assert row["runs"] == 2, row
        assert row["nonzero_exits"] == 0, row
        assert {"median_ms", "p95_ms", "min_ms"} <= set(row), row
    assert report["failures"] == []
    assert report["iterations"] == 2
    assert report["cibs"]["1000"]["primitives"] == 1000
    assert report["cibs"]["empty"]["primitives"] == 1
    assert set(report["ratios"]["vs_stock"]) == {"havirt", "havirt+autoset"}
    assert report["guest"]["same_qemu_process_throughout"] is True
    for key in ("cpus", "kernel", "libvirt_library"):
        assert report["machine"][key], key
