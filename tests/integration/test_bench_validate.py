"""Smoke test of bench/validate: it runs end to end in a tiny mode and reports every
figure. No timing is judged here; the benchmark brings up (and takes down) its labs."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_smoke import run_bench

pytestmark = pytest.mark.integration


def test_bench_validate_reports_every_size_variant_and_startup(lab_requirements: None) -> None:
    tiny = ["--nodes", "1,2", "--runs", "1", "--warmup", "0", "--help-runs", "2"]
    report = run_bench("validate", *tiny, timeout=600)
    assert [row["nodes"] for row in report["sizes"]] == [1, 2]
    for row in report["sizes"]:
        assert row["lab_up_s"] > 0
        assert set(row["variants"]) == {"full", "no-trust"}
        for data in row["variants"].values():
            assert data["failed_runs"] == 0, data
            assert data["median_s"] > 0 and data["ratio_to_first"] > 0
            assert data["runs"][0]["report_s"] is not None
            assert data["nodes_cpu_median_s"] > 0  # at least the nodes' sshd did work
    assert report["sizes"][0]["variants"]["full"]["ratio_to_first"] == 1.0
    assert report["sizes"][1]["trust_alone_s"] > 0
    assert set(report["startup"]) == {"havirt --help", "havirt validate --help", "python -c pass"}
    assert report["failures"] == []
    assert not list(Path("/var/lib/havirt-lab").glob("bv*")), "a bench lab was left behind"
