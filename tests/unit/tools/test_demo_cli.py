"""`havirt demo` rendering and exit codes, with the demo itself a fake the command is
handed (``main(obj=DemoWorld(...))``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial

from click.testing import CliRunner
from havirt.tools.cli.demo import render_demo_step, render_demo_timings
from havirt.tools.cli.main import main
from havirt.tools.errors import HavirtError
from havirt.tools.lab.demo import agent_demo as demo
from havirt.tools.lab.demo.env import Demo, DemoWorld
from havirt.tools.lab.demo.steps import AgentCall, Step


def world(run=demo.run_demo, take_down: Callable[[str], bool] = demo.take_down) -> DemoWorld:
    """The demo command's world: ``run`` and ``take_down`` as the --agent demo (the
    cluster demo is never asked for here), timed by a fixed clock, never the host's."""

    def agent_demo(agent_only: bool) -> Demo:
        assert agent_only, "these tests run `havirt demo --agent`"
        return Demo(run=run, take_down=take_down)

    return DemoWorld(demo=agent_demo, clock=lambda: 100.0)


def call(node: str, action: str, rc: int, interval_ms: int = 0, reason: str | None = None):
    names = {0: "OCF_SUCCESS", 7: "OCF_NOT_RUNNING", 1: "OCF_ERR_GENERIC"}
    return AgentCall(node, action, interval_ms, rc, names[rc], 0.25, reason, ())


def good_steps() -> list[Step]:
    return [
        Step("lab", "A lab", summary="two nodes", timed="lab up", seconds=1.5),
        Step(
            "monitor",
            "Probe and monitor",
            summary="answers as expected",
            note="probes first",
            timed="recurring monitor",
            seconds=0.25,
            calls=[call("node1", "monitor", 0), call("node2", "monitor", 7)],
        ),
        Step(
            "crash",
            "A crash",
            summary="noticed",
            calls=[call("node2", "monitor", 7, 10000, "demo-vm: gone")],
        ),
        Step("lab-down", "Tear the lab down", timed="lab down", seconds=0.5),
    ]


def fake_demo(
    steps: list[Step], error: HavirtError | None = None, seen: dict | None = None
) -> DemoWorld:
    """A world whose demo yields these steps, then raises error; the options it was
    run with go to ``seen``."""

    def run_demo(progress, **options) -> Iterator[Step]:
        if seen is not None:
            seen["options"] = options
        progress("waiting for something")

        def run() -> Iterator[Step]:
            yield from steps
            if error is not None:
                raise error

        return run()

    return world(run=run_demo)


def test_human_output_shows_steps_answers_and_times() -> None:
    seen: dict = {}
    result = CliRunner().invoke(
        main, obj=fake_demo(good_steps(), seen=seen), args=["demo", "--agent"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "[ok]  2. Probe and monitor (0.25 s)" in out
    assert "node2: probe          -> 7 OCF_NOT_RUNNING" in out
    assert "node2: monitor (10 s) -> 7 OCF_NOT_RUNNING" in out
    assert "exit reason: demo-vm: gone" in out
    assert "why it matters: probes first" in out
    assert "... waiting for something" in out
    assert "measured times:" in out and "lab up" in out and "total" in out
    assert out.rstrip().endswith("every step behaved as expected")
    assert seen["options"]["keep"] is False and seen["options"]["lab_name"] == "demo"


def test_quiet_prints_one_line_per_step_and_the_table() -> None:
    result = CliRunner().invoke(
        main, obj=fake_demo(good_steps()), args=["demo", "--agent", "--quiet"]
    )
    assert result.exit_code == 0
    assert "OCF_NOT_RUNNING" not in result.stdout
    assert "why it matters" not in result.stdout
    assert "waiting for something" not in result.output
    assert "[ok]  3. A crash" in result.stdout and "measured times:" in result.stdout


def test_json_has_every_step_and_progress_goes_to_stderr() -> None:
    result = CliRunner().invoke(
        main, obj=fake_demo(good_steps()), args=["demo", "--agent", "--json"]
    )
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["error"] is None
    assert [s["key"] for s in data["steps"]] == ["lab", "monitor", "crash", "lab-down"]
    assert data["steps"][1]["calls"][1]["rc"] == 7
    assert data["timings"][0] == {"step": "lab up", "seconds": 1.5}
    assert "waiting for something" in result.stderr


def test_a_failed_step_is_shown_and_exits_non_zero() -> None:
    steps = good_steps()[:2]
    steps[1].ok = False
    steps[1].summary = "probe on node2 answered 0, expected 7"
    failing = fake_demo(steps, HavirtError("step 'Probe and monitor' failed", "rerun with --keep"))
    result = CliRunner().invoke(main, obj=failing, args=["demo", "--agent", "--quiet"])
    assert result.exit_code == 1
    assert "[FAILED]  2. Probe and monitor" in result.stdout
    assert "answered 0, expected 7" in result.stdout  # shown even when quiet
    assert "havirt: error: step 'Probe and monitor' failed" in result.stderr
    assert "every step behaved" not in result.stdout

    result = CliRunner().invoke(main, obj=failing, args=["demo", "--agent", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["hint"] == "rerun with --keep"
    assert data["steps"][1]["ok"] is False


def test_not_root_is_a_clear_error_before_anything_starts() -> None:
    not_root = world(run=partial(demo.run_demo, requirements=lambda: ["needs root"]))
    result = CliRunner().invoke(main, obj=not_root, args=["demo", "--agent"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "the demo cannot run on this machine: needs root" in result.stderr
    assert "fix: " in result.stderr


def test_keep_says_how_to_reach_the_lab_even_when_quiet() -> None:
    keep = Step(
        "keep",
        "The lab stays up",
        facts={
            "nodes": {"node1": {"enter": "nsenter -t 1 -n -m -u --"}},
            "console_log": "/x/console.log",
            "agent": "nsenter ... monitor",
            "down": "havirt demo --down",
        },
    )
    kept = fake_demo([*good_steps()[:3], keep])
    result = CliRunner().invoke(main, obj=kept, args=["demo", "--agent", "--keep", "--quiet"])
    assert result.exit_code == 0
    assert "node1: nsenter -t 1 -n -m -u -- bash" in result.stdout
    assert "take the lab down: havirt demo --down" in result.stdout


def test_down() -> None:
    only_demo_is_up = world(take_down=lambda name: name == "demo")
    assert (
        CliRunner().invoke(main, obj=only_demo_is_up, args=["demo", "--agent", "--down"]).stdout
        == "lab demo taken down\n"
    )
    result = CliRunner().invoke(
        main,
        ["demo", "--agent", "--down", "--json", "--lab-name", "other"],
        obj=only_demo_is_up,
    )
    assert json.loads(result.stdout) == {"lab": "other", "taken_down": False}


def test_rendering_functions() -> None:
    failed = Step("start", "Start", ok=False, summary="boom", note="not shown when failed")
    text = render_demo_step(4, failed)
    assert "FAILED" in text and "boom" in text
    assert render_demo_timings([]) == ""
    table = render_demo_timings([("a", 1.0), ("longer label", 12.345)])
    assert table.splitlines()[-1] == "  longer label     12.35"


def test_the_live_world_runs_this_machines_demos_on_the_monotonic_clock() -> None:
    import time

    from havirt.tools.lab.demo import cluster_demo
    from havirt.tools.lab.demo.env import live_demo

    live = DemoWorld()
    assert live.clock is time.monotonic
    assert live_demo(True) == Demo(run=demo.run_demo, take_down=demo.take_down)
    assert live_demo(False) == Demo(run=cluster_demo.run_demo, take_down=cluster_demo.take_down)
