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
* ``installed_agents`` (session): ``{name: path}`` of every agent, written by
  the product's own installer into a private, world-readable directory.
* ``busy_cpus`` (function): one CPU burner per core (``python -c 'while 1: pass'``),
  started for the test and killed by PID after it: the test runs on a loaded machine.
* ``stuck_abort_agent`` (session): the VirtualDomain agent with a test hook that
  makes its own migration abort hang (``stuck_abort_agent.py``), so the watchdog
  answers migrate_to.
* ``lifecycle_events`` (function): ``watch(guest) -> EventLog`` runs ``virsh
  event --loop`` on node1; ``EventLog.power_events(guest)`` is what libvirt saw
  happen to the guest since (e.g. ``["Stopped Destroyed", "Started Booted"]``:
  a power cycle, off before on), for fencing tests.

The whole directory is skipped, with the reason, when the machine cannot host
a lab at all (not root, no namespace tools).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import timings_report
from havirt.tools import install
from havirt.tools.lab import GuestAssets, Lab, LabGuest, build_guest_assets, create_guest
from havirt.tools.lab.lab import DEFAULT_CACHE_DIR, missing_requirements

CACHE_DIR = Path(os.environ.get("HAVIRT_LAB_CACHE", DEFAULT_CACHE_DIR))
TIMINGS = timings_report.section("havirt lab timings")


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
def installed_agents() -> Iterator[dict[str, str]]:
    """Every agent installed by ``havirt install-agents``' code into a private root.

    World-readable, as ocf-tester runs meta-data as the user nobody; not the shared
    /usr/lib/ocf and /usr/sbin, which other checkouts on this machine also write."""
    root = tempfile.mkdtemp(prefix="havirt-ocf-root-", dir="/var/tmp")
    os.chmod(root, 0o755)
    os.makedirs(os.path.join(root, "sbin"))
    report = install.install(root, os.path.join(root, "sbin"))
    yield {os.path.basename(f.path): f.path for f in report.written}
    install.uninstall(root)
    shutil.rmtree(root, ignore_errors=True)


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


class EventLog:
    """What ``virsh event --loop --event lifecycle`` on node1 printed after it was ready."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ready_at = 0  # byte offset of the first event that counts

    def power_events(self, guest: LabGuest) -> list[str]:
        """The guest's 'Stopped ...' and 'Started ...' events, in order."""
        with self.path.open("rb") as handle:
            handle.seek(self.ready_at)
            text = handle.read().decode(errors="replace")
        events = [
            line.rsplit(":", 1)[1].strip()
            for line in text.splitlines()
            if f"'{guest.name}'" in line
        ]
        return [e for e in events if e.startswith(("Stopped", "Started"))]


@pytest.fixture
def lifecycle_events(lab: Lab, tmp_path: Path) -> Iterator[Callable[[LabGuest], EventLog]]:
    """watch(guest) starts ``virsh event --loop`` on node1 and returns its EventLog."""
    started: list[subprocess.Popen[bytes]] = []

    def watch(guest: LabGuest) -> EventLog:
        node1 = lab.nodes["node1"]
        log = EventLog(tmp_path / "events.log")
        argv = ["virsh", "-c", "qemu:///system", "event", "--loop", "--event", "lifecycle"]
        started.append(node1.popen(argv, log=log.path))
        # Ready once it reports events: pause and resume the guest until it has one.
        deadline = time.monotonic() + 20
        while "Resumed" not in log.path.read_text(errors="replace"):
            assert time.monotonic() < deadline, "virsh event never reported an event"
            node1.virsh("suspend", guest.name)
            node1.virsh("resume", guest.name)
            time.sleep(0.3)
        log.ready_at = log.path.stat().st_size
        return log

    yield watch
    for proc in started:
        os.killpg(proc.pid, signal.SIGTERM)  # our own process group (start_new_session)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def agent_path(installed_agents: dict[str, str]) -> str:
    """The VirtualDomain agent of ``installed_agents``."""
    return installed_agents["VirtualDomain"]


@pytest.fixture
def busy_cpus(request: pytest.FixtureRequest) -> list[int]:
    """Every core kept busy by a process of our own while the test runs; their PIDs."""
    burners: list[subprocess.Popen[bytes]] = []

    def stop() -> None:
        for proc in burners:
            proc.kill()  # by PID: only the processes started here
            proc.wait(timeout=10)

    request.addfinalizer(stop)
    for _ in range(os.cpu_count() or 2):
        burners.append(subprocess.Popen([sys.executable, "-c", "while 1: pass"]))
    return [proc.pid for proc in burners]


@pytest.fixture(scope="session")
def stuck_abort_agent(installed_agents: dict[str, str]) -> str:
    """The VirtualDomain agent whose own abort of a migration hangs (a test hook)."""
    path = os.path.join(os.path.dirname(installed_agents["VirtualDomain"]), "StuckAbort")
    here = os.path.dirname(os.path.abspath(__file__))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            f"#!{sys.executable} -I\n"
            "import sys\n"
            f"sys.path.insert(0, {here!r})\n"
            "from stuck_abort_agent import main\n"
            "main()\n"
        )
    os.chmod(path, 0o755)
    return path


def _timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start
