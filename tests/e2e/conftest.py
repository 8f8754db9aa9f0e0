"""End-to-end scenarios on a real 3-node Pacemaker/Corosync cluster in the lab.

* ``cluster`` (session): a :class:`ClusterLab` of 3 nodes with fencing on
  (``fence_havirt_lab`` powers nodes off and on for real) and
  :data:`GUESTS` TCG guests as ``ocf:havirt:VirtualDomain`` resources. Torn
  down at the end of the session, and at exit if the session crashes.
* ``auditor`` (function): an :class:`Auditor` sampling every node's QEMU
  processes (not Pacemaker's view) during the test; the test fails the moment a
  guest runs twice or is lost. Before each test the cluster is restored to
  health (nodes on and online, no standby, no failures, guests started).

The whole directory is skipped, with the reason, where the lab cannot run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import timings_report
from havirt.tools.lab import Lab, build_guest_assets
from havirt.tools.lab.auditor import Auditor
from havirt.tools.lab.cluster import ClusterLab, cluster_missing_requirements
from havirt.tools.lab.lab import DEFAULT_CACHE_DIR

CACHE_DIR = Path(os.environ.get("HAVIRT_LAB_CACHE", DEFAULT_CACHE_DIR))
GUESTS = 4
TIMINGS = timings_report.section("havirt e2e timings")

pytestmark = pytest.mark.e2e


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def skip_unless_cluster_possible() -> None:
    problems = cluster_missing_requirements()
    if problems:
        pytest.skip("the lab cluster cannot run on this machine: " + "; ".join(problems))


@pytest.fixture
def cluster_possible() -> None:
    skip_unless_cluster_possible()


def new_cluster(prefix: str, **options: Any) -> ClusterLab:
    """A cluster lab (not up yet) with this machine's guest image; skips where impossible."""
    skip_unless_cluster_possible()
    Lab.cleanup_stale()
    return ClusterLab(
        f"{prefix}{os.getpid()}",
        guest_assets=build_guest_assets(CACHE_DIR / "guest"),
        cache_dir=CACHE_DIR,
        **options,
    )


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[ClusterLab]:
    lab = new_cluster("e2e", guests=GUESTS)
    request.addfinalizer(lab.down)
    start = time.monotonic()
    lab.up()
    TIMINGS["cluster up (3 nodes, 4 guests started)"] = time.monotonic() - start
    yield lab


def _cluster_factory(request: pytest.FixtureRequest) -> Callable[..., ClusterLab]:
    def factory(prefix: str, **options: Any) -> ClusterLab:
        lab = new_cluster(prefix, **options)
        request.addfinalizer(lab.down)
        return lab

    return factory


@pytest.fixture
def make_cluster(request: pytest.FixtureRequest) -> Callable[..., ClusterLab]:
    """``make_cluster(prefix, **ClusterLab options)``: a further lab, down after the test."""
    return _cluster_factory(request)


@pytest.fixture(scope="module")
def make_module_cluster(request: pytest.FixtureRequest) -> Callable[..., ClusterLab]:
    """The same, down after the last test of the module (for a story told in steps)."""
    return _cluster_factory(request)


@pytest.fixture(scope="session")
def timings() -> dict[str, float]:
    return TIMINGS


@pytest.fixture
def auditor(cluster: ClusterLab) -> Iterator[Auditor]:
    cluster.restore()
    with Auditor(cluster, cluster.guest_names) as the_auditor:
        yield the_auditor
        the_auditor.check()
