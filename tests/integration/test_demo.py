"""`havirt demo` for real: a two-node lab, a QEMU guest, every step as the README shows.

No timing is asserted: the demo measures, the test only checks what happened.
"""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from havirt.tools.cli.main import main
from havirt.tools.lab import GuestAssets
from havirt.tools.lab.demo import agent_demo as demo
from havirt.tools.lab.lab import DEFAULT_BASE_DIR, DEFAULT_CACHE_DIR
from havirt.tools.lab.nsutil import netns_list

pytestmark = pytest.mark.integration

CACHE_DIR = os.environ.get("HAVIRT_LAB_CACHE", str(DEFAULT_CACHE_DIR))  # as conftest.py

STEPS = [
    "guest-image",
    "lab",
    "agent",
    "start",
    "boot",
    "monitor",
    "migrate_to",
    "migrate_from",
    "one-copy",
    "libvirtd-down",
    "crash",
    "stop",
]


def _run(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        main, ["demo", "--agent", "--json", "--cache-dir", str(CACHE_DIR), *args]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    try:
        return result.exit_code, json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"no JSON from havirt demo (exit {result.exit_code}):\n{result.output}")


def _lab_left(name: str) -> list[str]:
    left = [ns for ns in netns_list() if ns.startswith(f"hvl-{name}-")]
    if (DEFAULT_BASE_DIR / name).exists():
        left.append(str(DEFAULT_BASE_DIR / name))
    return left


def test_demo_every_step_succeeds_and_the_lab_is_gone(guest_assets: GuestAssets) -> None:
    name = f"dt{os.getpid()}"
    try:
        code, result = _run("--lab-name", name)
    finally:
        demo.take_down(name)  # only matters if the demo itself failed to
    steps = result["steps"]
    failed = [s for s in steps if not s["ok"]]
    assert code == 0 and result["ok"] and not failed, json.dumps(failed or result, indent=1)
    assert [s["key"] for s in steps] == [*STEPS, "lab-down"]
    by_key = {s["key"]: s for s in steps}
    answers = {k: [c["rc"] for c in s["calls"]] for k, s in by_key.items() if s["calls"]}
    assert answers == {
        "start": [0],
        "monitor": [0, 7, 0],  # probe node1, probe node2, recurring monitor node1
        "migrate_to": [0],
        "migrate_from": [0],
        "one-copy": [0, 0],  # stop on the source, monitor on the target
        "libvirtd-down": [0],  # never "not running" while QEMU runs
        "crash": [7],
        "stop": [0],
    }
    assert list(by_key["one-copy"]["facts"]["qemu_pids"]) == ["node2"]
    assert by_key["crash"]["calls"][0]["reason"]
    assert by_key["stop"]["facts"]["qemu_pids"] == {}
    assert {row["step"] for row in result["timings"]} >= {"start on node1", "migrate_to (node1)"}
    assert not _lab_left(name)


def test_demo_keep_leaves_the_lab_up_until_down(guest_assets: GuestAssets) -> None:
    name = f"dk{os.getpid()}"
    try:
        code, result = _run("--quiet", "--keep", "--lab-name", name)
        assert code == 0 and result["ok"], json.dumps(result, indent=1)
        keep = result["steps"][-1]
        assert keep["key"] == "keep" and keep["ok"]
        assert sorted(keep["facts"]["nodes"]) == ["node1", "node2"]
        assert _lab_left(name)  # still there
        code, down = _run("--down", "--lab-name", name)
        assert code == 0 and down == {"lab": name, "taken_down": True}
    finally:
        demo.take_down(name)
    assert not _lab_left(name)
