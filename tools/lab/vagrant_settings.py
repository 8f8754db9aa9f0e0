"""The Vagrant lab's settings (``vagrant/settings.env``), read as its Vagrantfile reads them.

Precedence, highest first: an environment variable of the same name, then
``vagrant/settings.local.env``, then ``vagrant/settings.env`` (the one place the
defaults are written down). The outer host's tools read them here instead of copying a
default, so a lab with other settings (another domain prefix, another cluster network)
is driven as it was built. The Vagrantfile checks the values; this only reads them.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class HostFacts:
    """What the Vagrantfile's ``auto`` settings look at on the outer host."""

    libvirt_socket: bool  # /run/libvirt/libvirt-sock is a socket (a libvirtd runs here)
    kvm_readable: bool  # /dev/kvm can be read
    virtualization: bool  # the CPU shows vmx or svm (/proc/cpuinfo)

    @classmethod
    def probe(cls) -> HostFacts:
        try:
            socket = stat.S_ISSOCK(os.stat("/run/libvirt/libvirt-sock").st_mode)
        except OSError:
            socket = False
        try:
            flags = re.search(r"\b(vmx|svm)\b", Path("/proc/cpuinfo").read_text()) is not None
        except OSError:
            flags = False
        return cls(socket, os.access("/dev/kvm", os.R_OK), flags)


def outer_host(settings: Mapping[str, str], facts: HostFacts) -> str:
    """Where the machines run: system or namespace (the Vagrantfile's OUTER_HOST)."""
    wanted = settings[PREFIX + "OUTER_HOST"]
    if wanted != "auto":
        return wanted
    return "system" if facts.libvirt_socket else "namespace"


def driver(settings: Mapping[str, str], facts: HostFacts) -> str:
    """How QEMU runs them: kvm or qemu (TCG) (the Vagrantfile's DRIVER). The namespace
    outer host gives its QEMU no /dev/kvm."""
    wanted = settings[PREFIX + "DRIVER"]
    if wanted != "auto":
        return wanted
    usable = outer_host(settings, facts) != "namespace" and facts.kvm_readable
    return "kvm" if usable and facts.virtualization else "qemu"


__all__ = [
    "HOST_OCTETS",
    "PREFIX",
    "HostFacts",
    "cluster_address",
    "driver",
    "outer_host",
    "read",
    "read_file",
]
