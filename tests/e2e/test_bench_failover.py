"""Smoke test of bench/failover: it runs end to end and reports every measure.

No timing is judged here; the benchmark brings up (and takes down) its own lab.
"""

from __future__ import annotations

from bench_smoke import run_bench


def test_bench_failover_reports_every_measure(cluster_possible: None) -> None:
    report = run_bench("failover", "--rounds", "1", "--agents", "havirt", timeout=900)
    havirt = report["agents"]["havirt"]
    assert havirt["standby"]["live_migrated"] and havirt["standby"]["guests"] >= 1
    (crash,) = havirt["crashes"]
    assert {"detection", "fencing", "scheduling", "start", "total"} <= set(crash)
    assert crash["healthy_guests_moved"] == []
    assert report["token_ms"] == 1000  # from cluster-templates/lab.toml, through generate
