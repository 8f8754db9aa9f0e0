"""Every folder here is a scenario: havirt's cluster commands, run by admins through the
real CLI on a simulated cluster (sim.py: Pacemaker's own crm_simulate, on a virtual
clock), with injected events; its log must equal the folder's log.expect (rewrite it
with --regenerate-golden, then read the diff). README.md says how to add one."""

from __future__ import annotations

import difflib
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from havirt.tools.cli.main import main

from .sim import TOOLS, Cluster, Log, run_folder

HERE = Path(__file__).parent
REPO = HERE.parents[1]
FOLDERS = sorted(p for p in HERE.iterdir() if (p / "cmds").is_file())


@pytest.fixture(scope="session")
def lab_cib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab inventory's generated CIB with vm1..vm3 running, one per node, and a DC."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (pacemaker-cli-utils)")
    tmp = tmp_path_factory.mktemp("lab-cib")
    result = CliRunner().invoke(
        main, ["generate", str(REPO / "cluster-templates" / "lab.toml"), "-o", str(tmp / "out")]
    )
    assert result.exit_code == 0, result.output
    cib = tmp / "cib.xml"
    shutil.copy(tmp / "out" / "cib.xml", cib)
    cluster = Cluster(cib, Log())
    cluster.settle()  # the guests start
    text = cib.read_text().replace('have-quorum="1"', 'have-quorum="1" dc-uuid="3"', 1)
    cib.write_text(text)
    return cib


@pytest.fixture(scope="session")
def scenario_logs(lab_cib: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """The logs of the scenarios this session runs, made by as many processes as there
    are cores (a scenario spends its time in Pacemaker's tools, one call at a time)."""
    chosen = sorted(
        {
            item.callspec.params["folder"]
            for item in request.session.items
            if getattr(item, "originalname", "") == "test_scenario"
        }
    )
    work = Path(tempfile.mkdtemp(prefix="havirt-scenarios-"))
    try:
        context = multiprocessing.get_context("spawn")
        workers = max(2, os.cpu_count() or 1)
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            jobs = {f.name: pool.submit(run_folder, f, lab_cib, work / f.name) for f in chosen}
            return {name: job.result() for name, job in jobs.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_there_are_scenarios() -> None:
    assert len(FOLDERS) >= 1


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_scenario(folder: Path, scenario_logs: dict[str, str], request: pytest.FixtureRequest):
    log = scenario_logs[folder.name]
    expect = folder / "log.expect"
    if request.config.getoption("--regenerate-golden") or not expect.exists():
        existed = expect.exists()
        expect.write_text(log, encoding="utf-8")
        if not existed and not request.config.getoption("--regenerate-golden"):
            pytest.fail(f"{expect} did not exist; written now, review and commit it")
        return
    expected = expect.read_text(encoding="utf-8")
    if log != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), log.splitlines(True), "log.expect", "this run"
            )
        )
        pytest.fail(f"{folder.name}: the log differs (--regenerate-golden if intended):\n{diff}")
