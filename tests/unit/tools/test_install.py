"""havirt install-agents: writes launchers where Pacemaker looks, removes exactly those."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from havirt.tools import install
from havirt.tools.cli.main import main
from havirt.tools.errors import HavirtError


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


def test_install_writes_executable_launchers_and_a_manifest(roots) -> None:
    ocf_root, fence_dir = roots
    report = install.install(str(ocf_root), str(fence_dir))
    provider = ocf_root / "resource.d" / "havirt"
    agent = provider / "VirtualDomain"
    fence_agent = fence_dir / "fence_havirt"  # Pacemaker finds only regular files fence_*
    expected = [str(_path(ocf_root, fence_dir, name)) for name in install.AGENTS]
    assert [f.path for f in report.written] == expected
    assert {"StoragePool", "fence_havirt"} <= set(install.AGENTS)
    for path in map(Path, expected):
        assert stat.S_ISREG(path.lstat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
        text = path.read_text()
        assert text.startswith("#!") and " -IS\n" in text.splitlines()[0] + "\n"
    assert "from havirt.agents.fence_havirt import main" in fence_agent.read_text()
    manifest = json.loads((agent.parent / install.MANIFEST).read_text())
    assert [m["path"] for m in manifest] == expected


def test_uninstall_removes_exactly_what_was_written(roots) -> None:
    ocf_root, fence_dir = roots
    install.install(str(ocf_root), str(fence_dir))
    provider = ocf_root / "resource.d" / "havirt"
    other = provider / "SomethingOfTheAdmins"
    other.write_text("#!/bin/sh\n")
    report = install.uninstall(str(ocf_root))
    assert report.removed == tuple(str(_path(ocf_root, fence_dir, n)) for n in install.AGENTS)
    assert other.exists() and not (provider / "VirtualDomain").exists()
    assert not (fence_dir / "fence_havirt").exists()
    assert not (provider / install.MANIFEST).exists()


def test_uninstall_keeps_a_file_changed_since(roots) -> None:
    ocf_root, fence_dir = roots
    install.install(str(ocf_root), str(fence_dir))
    agent = ocf_root / "resource.d" / "havirt" / "VirtualDomain"
    agent.write_text(agent.read_text() + "# local change\n")
    report = install.uninstall(str(ocf_root))
    assert report.kept == (str(agent),) and agent.exists()


def test_uninstall_of_nothing_is_fine_and_reinstall_is_idempotent(roots) -> None:
    ocf_root, fence_dir = roots
    assert install.uninstall(str(ocf_root)).removed == ()
    install.install(str(ocf_root), str(fence_dir))
    install.install(str(ocf_root), str(fence_dir))
    assert install.uninstall(str(ocf_root)).removed
    assert not (ocf_root / "resource.d" / "havirt").exists()


def test_missing_ocf_root_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(HavirtError) as info:
        install.install(str(tmp_path / "nope"), str(tmp_path))
    assert "resource-agents" in str(info.value)


def test_cli_json_and_error_exit_code(roots, tmp_path) -> None:
    ocf_root, fence_dir = roots
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["install-agents", "--ocf-root", str(ocf_root), "--fence-dir", str(fence_dir), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["written"]
    result = runner.invoke(main, ["install-agents", "--ocf-root", str(tmp_path / "missing")])
    assert result.exit_code != 0
    assert "does not exist" in result.output
    assert os.path.isdir(ocf_root)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("fence", ["missing", "a-file"])
def test_a_bad_fence_dir_is_refused_before_anything_is_written(roots, fence) -> None:
    ocf_root, fence_dir = roots
    target = fence_dir / fence
    if fence == "a-file":
        target.write_text("not a directory")
    before = _tree(ocf_root.parent)
    result = CliRunner().invoke(
        main, ["install-agents", "--ocf-root", str(ocf_root), "--fence-dir", str(target)]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "--fence-dir" in result.output
    assert _tree(ocf_root.parent) == before


def test_an_ocf_root_that_is_a_file_is_refused(tmp_path) -> None:
    (tmp_path / "ocf").write_text("")
    with pytest.raises(HavirtError, match="is not a directory"):
        install.install(str(tmp_path / "ocf"), str(tmp_path))


def test_a_write_failing_midway_leaves_nothing_behind(roots) -> None:
    ocf_root, fence_dir = roots
    (fence_dir / "fence_havirt.havirt-tmp").mkdir()  # the fence agent cannot be staged
    before = _tree(ocf_root.parent)
    with pytest.raises(HavirtError, match="nothing was installed"):
        install.install(str(ocf_root), str(fence_dir))
    assert _tree(ocf_root.parent) == before  # no agent, no manifest, no folder


def test_a_reinstall_to_another_fence_dir_keeps_the_first_one_listed(roots, tmp_path) -> None:
    ocf_root, fence_dir = roots
    other = tmp_path / "other-sbin"
    other.mkdir()
    install.install(str(ocf_root), str(fence_dir))
    install.install(str(ocf_root), str(other))
    removed = install.uninstall(str(ocf_root)).removed
    assert str(fence_dir / "fence_havirt") in removed and str(other / "fence_havirt") in removed
