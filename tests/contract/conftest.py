"""Fixtures of the contract tests that need Pacemaker's tools on a file-backed CIB."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from havirt.tools.cli.main import main
from havirt.tools.pacemaker import Pacemaker

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("crm_simulate", "cibadmin", "crm_attribute", "crm_mon", "crm_resource")


@pytest.fixture
def cib(tmp_path: Path) -> Path:
    """The lab's generated CIB with vm1..vm3 started, one per node (as crm_simulate
    leaves it: with their start operations in the status section)."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (pacemaker-cli-utils)")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["generate", str(REPO / "cluster-templates" / "lab.toml"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    running = tmp_path / "running.xml"
    Pacemaker().simulate(str(out / "cib.xml"), save_output=str(running))
    return running
