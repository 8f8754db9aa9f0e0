"""Scenarios on separate kernels: the Vagrant lab (``vagrant/``), driven from the outer host.

Collected as root where /dev/kvm is usable, or with ``HAVIRT_VMLAB=1``
(tests/conftest.py; the run says why it left them out otherwise): under TCG the lab
and its scenarios take longer than the CI run can afford on top of the rest.

* ``vmlab`` (session): the machines up (``vagrant up``; with ``HAVIRT_VMLAB_REUSE=1`` a
  lab already up is used as it is), destroyed at the end (kept with
  ``HAVIRT_VMLAB_KEEP=1``), and the cluster ready: 3 nodes online, every guest started.
* ``auditor`` (function): an :class:`~havirt.tools.lab.auditor.Auditor` whose eyes are
  the KVM hosts' own /proc (:mod:`~havirt.tools.lab.remote_audit`), not Pacemaker and
  not libvirt; it fails the test the moment a guest runs twice or is lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import timings_report
from havirt.tools.lab.auditor import Auditor
from havirt.tools.lab.vagrant_cluster import VagrantCluster
from havirt.tools.lab.vagrant_lab import VagrantLab, up_steps

pytestmark = pytest.mark.vmlab
FOLDER = Path(__file__).resolve().parents[2] / "vagrant"
TIMINGS = timings_report.section("havirt VM lab timings (separate kernels, TCG)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/vmlab/" in str(item.fspath):
            item.add_marker(pytest.mark.vmlab)


@pytest.fixture(scope="session")
def timings() -> dict[str, float]:
    return TIMINGS


@pytest.fixture(scope="session")
def vmlab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VagrantCluster]:
    if os.geteuid() != 0:
        pytest.fail("the VM lab's scenarios run as root (the namespace outer host needs it)")
    machines = VagrantLab.from_environment(FOLDER, os.environ)
    log = tmp_path_factory.mktemp("vmlab") / "vagrant.log"
    lab = VagrantCluster(machines)
    reuse = os.environ.get("HAVIRT_VMLAB_REUSE") == "1" and len(machines.running_domains()) == 4
    if not reuse:
        if os.environ.get("HAVIRT_VMLAB_KEEP") != "1":
            request.addfinalizer(lambda: lab.down(log))
        start = time.monotonic()
        result = machines.up(log)
        TIMINGS["vagrant up (box cached): cluster provisioned"] = time.monotonic() - start
        for step, seconds in up_steps(log.read_text(errors="replace")).items():
            TIMINGS[f"vagrant up: {step}"] = seconds
        if not result.ok:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            pytest.fail(f"vagrant up failed ({result.describe()}):\n{tail}")
    start = time.monotonic()
    lab.wait_healthy(timeout=900)
    TIMINGS["cluster healthy after provisioning"] = time.monotonic() - start
    yield lab


@pytest.fixture
def auditor(vmlab: VagrantCluster) -> Iterator[Auditor]:
    vmlab.restore()
    with vmlab.auditor() as the_auditor:
        yield the_auditor
