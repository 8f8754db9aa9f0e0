"""The README's main command: `havirt demo` on the lab cluster, every step ok."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner
from havirt.tools.cli.main import main


def test_the_cluster_demo_runs_every_step(cluster_possible: None) -> None:
    name = f"demo{os.getpid() % 100000}"
    result = CliRunner().invoke(main, ["demo", "--json", "--lab-name", name])
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    assert report["ok"], report
    keys = [step["key"] for step in report["steps"]]
    assert keys == [
        "image",
        "up",
        "crm_mon",
        "standby",
        "unstandby",
        "crash",
        "rejoin",
        "audit",
        "down",
    ]
    timed = {row["step"] for row in report["timings"]}
    assert {"cluster up", "crash -> recovered", "lab down"} <= timed
