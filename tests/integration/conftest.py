"""Fixtures for tests against real libvirt daemons and real (TCG) QEMU guests.

* ``guest_assets`` (session): the test guest's kernel + initramfs, built once
  into ``$HAVIRT_LAB_CACHE`` (default /var/cache/havirt-lab) and reused.
* ``lab`` (session): a two-node lab (``lab.nodes["node1"]``, ``["node2"]``),
  torn down at the end of the session (and at exit if the session crashes).
* ``make_guest`` (function): ``make_guest(name=None, **options) -> LabGuest``
  writes a guest (XML, disk, console log) into the lab's shared directory;
  options are those of :func:`havirt.tools.lab.create_guest`. At teardown the
  guest is destroyed and undefined on every node and its files are removed.
* ``agent_path`` (session): the VirtualDomain agent installed by havirt's own
  installer into a private OCF root (run it with ``guest_agent_calls.run_agent``).
* ``timings`` (session): a dict test code fills with ``{what: seconds}``;
  printed in the terminal summary.

The whole directory is skipped, with the reason, when the machine cannot host
a lab at all (not root, no namespace tools).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from havirt.tools import install
from havirt.tools.lab import GuestAssets, Lab, LabGuest, build_guest_assets, create_guest
from havirt.tools.lab.node import DEFAULT_CACHE_DIR, missing_requirements

CACHE_DIR = Path(os.environ.get("HAVIRT_LAB_CACHE", DEFAULT_CACHE_DIR))
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def lab_requirements() -> None:
    problems = missing_requirements()
    if problems:
        pytest.skip("the test lab cannot run on this machine: " + "; ".join(problems))


@pytest.fixture(scope="session")
def guest_assets(lab_requirements: None) -> GuestAssets:
    return build_guest_assets(CACHE_DIR / "guest")


@pytest.fixture(scope="session")
def timings() -> dict[str, float]:
    return TIMINGS


@pytest.fixture(scope="session")
def lab(
    request: pytest.FixtureRequest, guest_assets: GuestAssets, timings: dict[str, float]
) -> Iterator[Lab]:
    Lab.cleanup_stale()  # labs left behind by killed test runs
    the_lab = Lab(f"it{os.getpid()}", nodes=("node1", "node2"), cache_dir=CACHE_DIR)
    request.addfinalizer(the_lab.down)  # up() also registers an atexit handler
    timings["lab up (2 nodes)"] = _timed(the_lab.up)
    yield the_lab
    timings["lab down"] = _timed(the_lab.down)


@pytest.fixture(autouse=True)
def _lab_daemons_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the lab, make sure every node's daemons run again."""
    yield
    if "lab" in request.fixturenames:
        the_lab: Lab = request.getfixturevalue("lab")
        if the_lab.is_up():
            for node in the_lab.nodes.values():
                node.resume_libvirtd()
                node.power_on()  # no-op unless the test stopped the daemons


@pytest.fixture
def make_guest(
    request: pytest.FixtureRequest, lab: Lab, guest_assets: GuestAssets
) -> Iterator[Callable[..., LabGuest]]:
    made: list[LabGuest] = []
    stem = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:40] or "guest"

    def factory(name: str | None = None, **options: Any) -> LabGuest:
        guest = create_guest(lab, name or f"{stem}-{len(made) + 1}", assets=guest_assets, **options)
        made.append(guest)
        return guest

    yield factory
    for guest in made:
        guest.remove()


@pytest.fixture(scope="session")
def agent_path() -> Iterator[str]:
    """The agent installed by the product's own installer into a private OCF root.

    World-readable, as ocf-tester runs meta-data as the user nobody."""
    root = tempfile.mkdtemp(prefix="havirt-ocf-root-", dir="/var/tmp")
    os.chmod(root, 0o755)
    os.makedirs(os.path.join(root, "sbin"))
    report = install.install(root, os.path.join(root, "sbin"))
    (path,) = [f.path for f in report.written if f.path.endswith("/VirtualDomain")]
    yield path
    install.uninstall(root)
    shutil.rmtree(root, ignore_errors=True)


def _timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("havirt lab timings")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{what:<40} {seconds:7.2f} s")
