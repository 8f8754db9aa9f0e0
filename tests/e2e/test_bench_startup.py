"""Smoke test of bench/startup: it runs end to end and times every command.

No timing is judged here; the benchmark brings up (and takes down) its own lab.
"""

from __future__ import annotations

from bench_smoke import run_bench


def test_bench_startup_times_havirt_next_to_the_stock_tools(cluster_possible: None) -> None:
    report = run_bench("startup", "--runs", "1", "--warmup", "0", timeout=600)
    assert report["failures"] == []
    timed = report["results"]
    for label in ("havirt --help", "havirt domain list", "havirt node list", "pcs --help"):
        assert timed[label]["median_ms"] > 0
    assert {"pcs status", "crm_mon -1", "virsh list --all (node1, local)"} <= set(timed)
    assert "virsh list --all (node3, qemu+tcp)" in timed
    rows = {(r["havirt"], r["stock"]) for r in report["comparisons"]}
    assert ("havirt --help", "pcs --help") in rows
    assert all(r["ratio"] is not None for r in report["comparisons"])
