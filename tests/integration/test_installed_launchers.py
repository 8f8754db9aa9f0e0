"""The launchers havirt install-agents writes, run as Pacemaker and ocf-tester run them:
real processes (their content is unit-tested in tests/unit/tools/test_install.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from havirt.tools import install


@pytest.fixture
def roots(tmp_path):
    ocf_root = tmp_path / "ocf"
    ocf_root.mkdir()
    fence_dir = tmp_path / "sbin"
    fence_dir.mkdir()
    return ocf_root, fence_dir


def _path(ocf_root: Path, fence_dir: Path, name: str) -> Path:
    kind, _module = install.AGENTS[name]
    return ocf_root / "resource.d" / "havirt" / name if kind == "ocf" else fence_dir / name


@pytest.mark.parametrize("name", [n for n, (kind, _) in install.AGENTS.items() if kind == "ocf"])
def test_installed_launcher_runs_meta_data(roots, name) -> None:
    ocf_root, fence_dir = roots
    install.install(str(ocf_root), str(fence_dir))
    agent = _path(ocf_root, fence_dir, name)
    proc = subprocess.run(
        [str(agent), "meta-data"], capture_output=True, text=True, timeout=30, env={}
    )
    assert proc.returncode == 0, proc.stderr
    assert f'<resource-agent name="{name}"' in proc.stdout


def test_installed_fence_launcher_runs_metadata_from_stdin(roots) -> None:
    ocf_root, fence_dir = roots
    install.install(str(ocf_root), str(fence_dir))
    proc = subprocess.run(
        [str(fence_dir / "fence_havirt")],
        input="action=metadata\n",
        capture_output=True,
        text=True,
        timeout=30,
        env={},
    )
    assert proc.returncode == 0, proc.stderr
    assert '<resource-agent name="fence_havirt"' in proc.stdout
