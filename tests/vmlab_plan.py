"""Whether a run holds the VM lab's scenarios (tests/vmlab), and whether they go beside
the rest of the suite on a worker of their own: the rules tests/conftest.py applies,
kept apart so that tests/test_vmlab_beside.py checks them without a machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def vmlab_why_not(
    wanted: str,
    root: bool,
    vagrant: bool,
    free_mib: Callable[[], int | None],
    need_mib: Callable[[], int],
    driver: Callable[[], str],
) -> str:
    """Why tests/vmlab is not collected; empty when it is. ``free_mib``: the memory
    this machine has available (None: unknown); ``need_mib``: what the lab's machines
    take (vagrant/settings.env); ``driver``: how QEMU would run them here, as the
    Vagrantfile chooses (kvm, qemu: TCG)."""
    if wanted == "1":
        return ""
    if wanted == "0":
        return "HAVIRT_VMLAB=0"
    if not root:
        return "not root (the Vagrant lab needs it); HAVIRT_VMLAB=1 as root runs them"
    if not vagrant:
        return "Vagrant is not installed (tools/bootstrap.sh setup installs it)"
    free, need = free_mib(), need_mib()
    if free is not None and free < need:
        return (
            f"{free} MiB of memory available, the lab's machines need {need} MiB "
            "(vagrant/settings.env); HAVIRT_VMLAB=1 runs them anyway"
        )
    if driver() != "kvm":
        return TCG_REASON
    return ""


# Measured (docs/vagrant-lab.md, 2026-12-04): on a 2-core machine without KVM, with the
# packages installed and the box built, the lab beside the rest of the suite made the
# CI run take 29 min 45 s, and the load it put on the emulated hosts pushed their
# StoragePool monitors past the outer host's timeout; on a fresh machine the installs
# and the box come on top.
TCG_REASON = (
    "the Vagrant lab would run under TCG here (no usable KVM for it): on a 2-core "
    "machine the run then takes 30 minutes even with the lab beside the rest of the "
    "suite, and more on a fresh machine, over CI's budget; HAVIRT_VMLAB=1 runs them "
    "anyway (docs/vagrant-lab.md)"
)


def selects_vmlab_and_more(paths: list[Path], vmlab: Path) -> bool:
    """Whether the run's paths (resolved) hold tests/vmlab and something else."""
    inside = [p.is_relative_to(vmlab) for p in paths]  # tests/vmlab or a file in it
    holds_vmlab = any(inside) or any(vmlab.is_relative_to(p) for p in paths)
    return holds_vmlab and not all(inside)


def vmlab_or_suite(nodeid: str, vmlab_prefix: str) -> str:
    """The work unit of a test in such a run: "vmlab" or "suite"."""
    return "vmlab" if nodeid.startswith(vmlab_prefix) else "suite"
