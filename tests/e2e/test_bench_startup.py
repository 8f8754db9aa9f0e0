"""Smoke test of bench/startup: it runs end to end and times every command.

No timing is judged here; the benchmark brings up (and takes down) its own lab.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "startup"


def test_bench_startup_times_havirt_next_to_the_stock_tools(cluster_possible: None) -> None:
    result = subprocess.run(
        [str(BENCH), "--runs", "1", "--warmup", "0", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["failures"] == []
    timed = report["results"]
    for label in ("havirt --help", "havirt domain list", "havirt node list", "pcs --help"):
        assert timed[label]["median_ms"] > 0
    assert {"pcs status", "crm_mon -1", "virsh list --all (node1, local)"} <= set(timed)
    assert "virsh list --all (node3, qemu+tcp)" in timed
    rows = {(r["havirt"], r["stock"]) for r in report["comparisons"]}
    assert ("havirt --help", "pcs --help") in rows
    assert all(r["ratio"] is not None for r in report["comparisons"])
