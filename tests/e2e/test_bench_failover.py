"""Smoke test of bench/failover: it runs end to end and reports every measure.

No timing is judged here; the benchmark brings up (and takes down) its own lab.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "failover"


def test_bench_failover_reports_every_measure(cluster_possible: None) -> None:
    result = subprocess.run(
        [str(BENCH), "--rounds", "1", "--agents", "havirt", "--json"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    havirt = report["agents"]["havirt"]
    assert havirt["standby"]["live_migrated"] and havirt["standby"]["guests"] >= 1
    (crash,) = havirt["crashes"]
    assert {"detection", "fencing", "scheduling", "start", "total"} <= set(crash)
    assert crash["healthy_guests_moved"] == []
    assert report["token_ms"] == 1000  # from cluster-templates/lab.toml, through generate
