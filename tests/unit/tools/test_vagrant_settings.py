"""The outer host's reading of the Vagrant lab's settings, as the Vagrantfile reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from havirt.tools.lab import vagrant_settings
from havirt.tools.lab.proc import LabError

LAB = Path(__file__).resolve().parents[3] / "vagrant"


def _lab(tmp_path: Path, defaults: str, local: str | None = None) -> Path:
    (tmp_path / "settings.env").write_text(defaults)
    if local is not None:
        (tmp_path / "settings.local.env").write_text(local)
    return tmp_path


def test_environment_over_local_file_over_defaults(tmp_path: Path) -> None:
    folder = _lab(
        tmp_path,
        "# comment\n\nHAVIRT_VAGRANT_PREFIX=havirt-\nHAVIRT_VAGRANT_CLUSTER_NET='192.168.123'\n"
        "HAVIRT_VAGRANT_DRIVER=auto\n",
        'HAVIRT_VAGRANT_PREFIX="lab-"\nHAVIRT_VAGRANT_DRIVER=qemu\n',
    )
    environ = {"HAVIRT_VAGRANT_DRIVER": "kvm", "PATH": "/x"}
    assert vagrant_settings.read(folder, environ) == {
        "HAVIRT_VAGRANT_PREFIX": "lab-",
        "HAVIRT_VAGRANT_CLUSTER_NET": "192.168.123",
        "HAVIRT_VAGRANT_DRIVER": "kvm",
    }


@pytest.mark.parametrize(
    ("local", "environ", "message"),
    [
        ("HAVIRT_VAGRANT_TYPO=1\n", {}, "settings.local.env: unknown settings HAVIRT_VAGRANT_TYPO"),
        (None, {"HAVIRT_VAGRANT_TYPO": "1"}, "in the environment: HAVIRT_VAGRANT_TYPO"),
        ("not a setting\n", {}, "settings.local.env:1: expected NAME=value"),
    ],
    ids=["unknown in the local file", "unknown in the environment", "not NAME=value"],
)
def test_what_the_vagrantfile_refuses_is_refused(
    tmp_path: Path, local: str | None, environ: dict[str, str], message: str
) -> None:
    folder = _lab(tmp_path, "HAVIRT_VAGRANT_PREFIX=havirt-\n", local)
    with pytest.raises(LabError, match=message):
        vagrant_settings.read(folder, environ)


def test_the_lab_s_own_defaults_give_the_documented_addresses() -> None:
    settings = vagrant_settings.read_file(LAB / "settings.env")
    assert settings["HAVIRT_VAGRANT_PREFIX"] == "havirt-"
    assert vagrant_settings.cluster_address(settings, "storage") == "192.168.123.10"
    assert vagrant_settings.cluster_address(settings, "hv3") == "192.168.123.13"


def _facts(
    socket: bool = False, kvm: bool = True, flags: bool = True
) -> vagrant_settings.HostFacts:
    return vagrant_settings.HostFacts(libvirt_socket=socket, kvm_readable=kvm, virtualization=flags)


@pytest.mark.parametrize(
    ("outer", "driver", "facts", "want"),
    [
        ("auto", "auto", _facts(socket=True), ("system", "kvm")),
        ("auto", "auto", _facts(socket=True, flags=False), ("system", "qemu")),
        ("auto", "auto", _facts(socket=True, kvm=False), ("system", "qemu")),
        ("auto", "auto", _facts(socket=False), ("namespace", "qemu")),
        ("system", "auto", _facts(socket=False), ("system", "kvm")),
        ("namespace", "kvm", _facts(), ("namespace", "kvm")),
    ],
    ids=["kvm", "no cpu flags", "no /dev/kvm", "no libvirtd: namespace", "system set", "kvm set"],
)
def test_auto_outer_host_and_driver_as_the_vagrantfile_chooses(
    outer: str, driver: str, facts: vagrant_settings.HostFacts, want: tuple[str, str]
) -> None:
    settings = {"HAVIRT_VAGRANT_OUTER_HOST": outer, "HAVIRT_VAGRANT_DRIVER": driver}
    assert (
        vagrant_settings.outer_host(settings, facts),
        vagrant_settings.driver(settings, facts),
    ) == want
