"""`pip install havirt.whl` (not editable, a fresh venv) gives a havirt that works.

The wheel is built with the standard front end (``python -m build --wheel``) from a
copy of the checkout's files (tracked and new, never ``build/``, ``*.egg-info`` or a
venv: setuptools would carry stale files of an earlier build into the wheel and hide a
missing declaration), installed into a new venv without system site-packages, and run
from a directory outside the checkout: ``havirt install-agents`` into private roots,
each installed agent's meta-data, then ``havirt lab up|status|down``. Nothing is cached
between runs but pip's wheels of the dependencies (libvirt-python, lxml...) and the lab's
guest image (the host's kernel and busybox, shared with the other lab tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Top-level folders of the checkout and the packages they are installed as.
MAPPED = {"ocf": "havirt/ocf", "agents": "havirt/agents", "tools": "havirt/tools"}
MAPPED["cluster-templates"] = "havirt/cluster_templates"
# Files the commands read at run time that are not Python modules.
DATA_FILES = ("havirt/cluster_templates/lab.toml",)
RA_DTD = "/usr/share/resource-agents/ra-api-1.dtd"
FENCE_RNG = "/usr/share/cluster/relaxng/metadata.rng"
SKIP_IN_COPY = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".*_cache"
)


def _run(argv: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def _checked(argv: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:
    proc = _run(argv, timeout, **kwargs)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return proc


def _source_files() -> list[str] | None:
    """The checkout's files as a fresh clone plus uncommitted work has them (None: no git)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        return None
    listed = _run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        timeout=60,
    )
    if listed.returncode != 0:
        return None
    return [name for name in listed.stdout.split("\0") if name and (REPO / name).is_file()]


def clean_source_copy(dest: Path) -> Path:
    files = _source_files()
    if files is None:
        shutil.copytree(REPO, dest, ignore=SKIP_IN_COPY)
        return dest
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return dest


@pytest.fixture(scope="module")
def work_dir() -> Iterator[Path]:
    """World-readable (Pacemaker and ocf-tester may run agents as other users), outside
    the checkout and outside /home (private inside lab nodes)."""
    path = Path(tempfile.mkdtemp(prefix="havirt-wheel-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel(work_dir: Path, timings: dict[str, float]) -> Path:
    pytest.importorskip("build", reason="the PyPA build front end (the test extra) is missing")
    source = clean_source_copy(work_dir / "src")
    start = time.monotonic()
    _checked(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(work_dir / "dist"), str(source)],
        timeout=600,
        cwd=work_dir,
    )
    timings["python -m build --wheel"] = time.monotonic() - start
    (built,) = (work_dir / "dist").glob("havirt-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(work_dir: Path, wheel: Path, timings: dict[str, float]) -> Path:
    """A new venv (no system site-packages) with the wheel installed, not editable."""
    if (
        shutil.which("pkg-config") is None
        or _run(["pkg-config", "--exists", "libvirt"], timeout=30).returncode
    ):
        pytest.skip("libvirt's headers are missing (libvirt-dev): libvirt-python cannot build")
    path = work_dir / "venv"
    start = time.monotonic()
    _checked([sys.executable, "-m", "venv", str(path)], timeout=120)
    _checked(
        [str(path / "bin/pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
        timeout=900,
        cwd=work_dir,
    )
    timings["venv with the wheel installed"] = time.monotonic() - start
    return path


def havirt(venv: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The installed ``havirt``, run from outside the checkout, nothing pointing Python
    at the checkout or at this test's venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return _run([str(venv / "bin/havirt"), *args], timeout, cwd=venv.parent, env=env)


def test_wheel_holds_the_packages_and_data_files_and_no_top_level_ocf(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"havirt", f"{wheel.name.split('-py3')[0]}.dist-info"}
    assert not [n for n in names if n.startswith(("ocf/", "ocf.py", "agents/", "tools/"))]
    for name in DATA_FILES:
        assert name in names, f"{name} is not in the wheel"
    # Every folder of Python modules in the checkout is a package in the wheel.
    for folder, package in MAPPED.items():
        for init in (REPO / folder).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.relative_to(REPO / folder).as_posix()
            assert f"{package}/{relative}" in names, f"{folder}/{relative} is not in the wheel"


def test_sdist_builds_the_same_wheel(work_dir: Path, wheel: Path) -> None:
    """``python -m build`` makes the sdist, then the wheel from the unpacked sdist: what
    pip does with the sdist on a machine without the checkout."""
    out = work_dir / "from-sdist"
    _checked(
        [sys.executable, "-m", "build", "--outdir", str(out), str(work_dir / "src")],
        timeout=600,
        cwd=work_dir,
    )
    (from_sdist,) = out.glob("havirt-*.whl")
    assert sorted(zipfile.ZipFile(from_sdist).namelist()) == sorted(
        zipfile.ZipFile(wheel).namelist()
    )


def test_installed_package_is_the_wheel_not_the_checkout(venv: Path) -> None:
    code = (
        "import havirt.tools, havirt.cluster_templates, importlib.util;"
        "print(havirt.tools.__file__);"
        "print(importlib.util.find_spec('ocf'))"
    )
    proc = _checked([str(venv / "bin/python"), "-c", code], timeout=60, cwd=venv.parent)
    module_file, ocf_spec = proc.stdout.split()
    assert module_file.startswith(str(venv)), module_file
    assert ocf_spec == "None"  # no top-level `ocf` to shadow resource-agents' ocf.py


def test_installed_agents_print_valid_metadata(venv: Path, work_dir: Path) -> None:
    ocf_root, fence_dir = work_dir / "ocf", work_dir / "sbin"
    ocf_root.mkdir(mode=0o755)
    fence_dir.mkdir(mode=0o755)
    installed = havirt(
        venv, "install-agents", "--ocf-root", str(ocf_root), "--fence-dir", str(fence_dir)
    )
    assert installed.returncode == 0, installed.stderr
    try:
        provider = ocf_root / "resource.d" / "havirt"
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT": str(ocf_root)}
        for agent, argv in (
            ("VirtualDomain", [str(provider / "VirtualDomain"), "meta-data"]),
            ("StoragePool", [str(provider / "StoragePool"), "meta-data"]),
            ("fence_havirt", [str(fence_dir / "fence_havirt"), "-o", "metadata"]),
        ):
            assert Path(argv[0]).read_text().startswith(f"#!{venv}/bin/python")
            proc = _run(argv, timeout=60, cwd="/", env=env)
            assert proc.returncode == 0, f"{agent}: {proc.stderr}"
            doc = etree.fromstring(proc.stdout.encode())  # raises on invalid XML
            assert doc.tag == "resource-agent" and doc.get("name") == agent
            schema = RA_DTD if agent != "fence_havirt" else FENCE_RNG
            if os.path.exists(schema):
                validator = (
                    etree.DTD(schema)
                    if schema.endswith(".dtd")
                    else etree.RelaxNG(etree.parse(schema))
                )
                assert validator.validate(doc), f"{agent}: {validator.error_log}"
    finally:
        removed = havirt(venv, "install-agents", "--ocf-root", str(ocf_root), "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not (ocf_root / "resource.d" / "havirt").exists()
    assert not list(fence_dir.iterdir())


def test_installed_havirt_brings_the_lab_up_and_down(
    venv: Path, request: pytest.FixtureRequest, timings: dict[str, float]
) -> None:
    from havirt.tools.lab.cluster import cluster_missing_requirements

    problems = cluster_missing_requirements()
    if problems:
        pytest.skip("the lab cluster cannot run on this machine: " + "; ".join(problems))
    name = f"whl{os.getpid()}"
    request.addfinalizer(lambda: havirt(venv, "lab", "down", "--lab", name, timeout=300))
    up = havirt(venv, "lab", "up", "--lab", name, "--json", timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    timings["havirt lab up from the wheel"] = json.loads(up.stdout)["seconds"]
    status = havirt(venv, "lab", "status", "--lab", name, "--json")
    assert status.returncode == 0, status.stderr
    view = json.loads(status.stdout)
    assert view["up"] and view["quorate"]
    assert sorted(n["name"] for n in view["nodes"] if n["online"]) == ["node1", "node2", "node3"]
    assert {g["name"]: g["role"] for g in view["guests"]} == {
        "vm1": "Started",
        "vm2": "Started",
        "vm3": "Started",
    }
    down = havirt(venv, "lab", "down", "--lab", name, timeout=300)
    assert down.returncode == 0, down.stderr
    assert havirt(venv, "lab", "status", "--lab", name).returncode == 3
