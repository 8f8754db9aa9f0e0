"""What the wheel will hold, read from the packaging configuration (no build, no network).

tests/integration/test_wheel_install.py builds and installs the real wheel; these checks
say the same things in a fraction of a second: every folder of modules is a package, every
package-data pattern matches files that exist, the files the code reads at run time are
package data, and no module looks for files next to the checkout instead.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
from havirt.tools.lab import cluster

REPO = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
PACKAGE_DIR: dict[str, str] = SETUPTOOLS["package-dir"]
PACKAGE_DATA: dict[str, list[str]] = SETUPTOOLS.get("package-data", {})
# Modules that may use __file__, and why.
FILE_USERS = {"agents/pool/fs_check.py": "runs itself as a script in a child process"}


def _mapped_packages() -> list[str]:
    spec = importlib.util.spec_from_file_location("havirt_setup", REPO / "setup.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: setup() is not called
    return module.mapped_packages()


def _folder(package: str) -> Path:
    """The checkout folder a package is built from (the longest mapped prefix)."""
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in PACKAGE_DIR:
            return REPO / PACKAGE_DIR[prefix] / Path(*parts[cut:])
    raise AssertionError(f"{package} is under no package-dir mapping")


def _modules() -> list[Path]:
    return [
        path
        for folder in PACKAGE_DIR.values()
        for path in (REPO / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    ]


def test_every_folder_of_modules_is_a_package_inside_the_havirt_namespace() -> None:
    packages = _mapped_packages()
    assert all(p.startswith("havirt.") for p in packages), packages  # no top-level `ocf`
    built_from = {_folder(p) for p in packages}
    for module in _modules():
        assert module.parent in built_from, f"{module.relative_to(REPO)} is in no package"


def test_every_package_data_pattern_matches_files_of_a_package() -> None:
    packages = _mapped_packages()
    for package, patterns in PACKAGE_DATA.items():
        assert package in packages, f"package-data names {package}, which is not a package"
        for pattern in patterns:
            assert list(_folder(package).glob(pattern)), f"{package}: {pattern} matches nothing"


@pytest.mark.parametrize(
    ("package", "name"), [(cluster.TEMPLATES_PACKAGE, cluster.LAB_TEMPLATE)], ids=["lab.toml"]
)
def test_files_read_at_run_time_are_package_data(package: str, name: str) -> None:
    assert (_folder(package) / name).is_file()
    patterns = PACKAGE_DATA.get(package, [])
    assert any(fnmatch.fnmatch(name, p) for p in patterns), f"{name} is not package data"


def test_no_module_locates_files_relative_to_its_own_path() -> None:
    """``Path(__file__).parents[2] / ...`` finds a file in a checkout and not in a wheel:
    data is read with importlib.resources from a package that declares it."""
    users = {
        module.relative_to(REPO).as_posix()
        for module in _modules()
        if re.search(r"\b__file__\b", module.read_text())
    }
    assert users <= set(FILE_USERS), sorted(users - set(FILE_USERS))
