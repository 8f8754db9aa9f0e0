"""The Vagrant lab's settings (``vagrant/settings.env``), read as its Vagrantfile reads them.

Precedence, highest first: an environment variable of the same name, then
``vagrant/settings.local.env``, then ``vagrant/settings.env`` (the one place the
defaults are written down). The outer host's tools read them here instead of copying a
default, so a lab with other settings (another domain prefix, another cluster network)
is driven as it was built. The Vagrantfile checks the values; this only reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from havirt.tools.lab.proc import LabError

PREFIX = "HAVIRT_VAGRANT_"
_LINE = re.compile(r"\s*([A-Z][A-Z0-9_]*)=(.*)")
# A machine's last octet on the cluster network (the Vagrantfile's HOST_OCTETS).
HOST_OCTETS = {"storage": 10, "hv1": 11, "hv2": 12, "hv3": 13}


def read_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines; ``#`` starts a comment line; optional quotes; no expansion."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise LabError(f"{path}:{number}: expected NAME=value, got {line!r}")
        value = match[2].strip()
        if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
            value = value[1:-1]
        values[match[1]] = value
    return values


def read(folder: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Every setting of the lab in ``folder``, as ``vagrant up`` there would see it."""
    settings = read_file(folder / "settings.env")
    local = folder / "settings.local.env"
    if local.exists():
        overrides = read_file(local)
        unknown = sorted(set(overrides) - set(settings))
        if unknown:
            raise LabError(f"{local}: unknown settings {', '.join(unknown)}")
        settings.update(overrides)
    unknown = sorted(n for n in environ if n.startswith(PREFIX) and n not in settings)
    if unknown:
        raise LabError(f"unknown settings in the environment: {', '.join(unknown)}")
    return {name: environ.get(name, value) for name, value in settings.items()}


def cluster_address(settings: Mapping[str, str], machine: str) -> str:
    """``machine``'s address on the lab's cluster network."""
    return f"{settings[PREFIX + 'CLUSTER_NET']}.{HOST_OCTETS[machine]}"


__all__ = ["HOST_OCTETS", "PREFIX", "cluster_address", "read", "read_file"]
