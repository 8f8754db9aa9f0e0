"""Package discovery for havirt's mapped layout; everything else is in pyproject.toml.

setuptools' own ``packages.find`` names packages after their folders (``ocf``, ``tools.lab``),
never under a prefix, and a top-level ``ocf`` must not exist. So each folder that
pyproject.toml's ``package-dir`` maps into the ``havirt`` namespace is searched here and its
subpackages are named below that mapping (``tools/lab`` -> ``havirt.tools.lab``).
"""

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).resolve().parent


def mapped_packages() -> list[str]:
    with open(HERE / "pyproject.toml", "rb") as handle:
        mapping = tomllib.load(handle)["tool"]["setuptools"]["package-dir"]
    packages = []
    for name, folder in mapping.items():
        found = find_namespace_packages(str(HERE / folder), exclude=["*__pycache__*"])
        packages += [name, *(f"{name}.{sub}" for sub in found)]
    return sorted(packages)


if __name__ == "__main__":  # as setuptools runs it; tests import mapped_packages
    setup(packages=mapped_packages())
