"""Shared pytest options.

* Golden files are compared, or rewritten with ``--regenerate-golden``.
* ``--require-real-parts`` (or ``HAVIRT_REQUIRE_REAL_PARTS=1``, which
  ``tools/bootstrap.sh test`` sets once it has installed the system packages):
  every skipped test fails the run. Tests skip when a real part (libvirt, QEMU,
  Pacemaker, the lab) is missing; where the packages were installed, a skip
  means a missing install step or a broken machine, never "nothing to test".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"


# The VM lab's scenarios (tests/vmlab: the Vagrant lab on separate kernels) run where
# the machine can afford them: HAVIRT_VMLAB=1 always, HAVIRT_VMLAB=0 never, otherwise
# (auto) as root where the lab's machines would run under KVM. Under TCG on two cores
# the lab takes minutes to come up and its scenarios more, on top of the rest of the
# suite's twenty: together they break CI's 30-minute budget, so the run says it left
# them out, and why.
def vmlab_why_not(wanted: str, root: bool, driver: Callable[[], str]) -> str:
    """Why tests/vmlab is not collected; empty when it is. ``driver``: the lab's QEMU
    driver here (kvm or qemu), as its Vagrantfile would choose it."""
    if wanted == "1":
        return ""
    if wanted == "0":
        return "HAVIRT_VMLAB=0"
    if not root:
        return "not root (the Vagrant lab needs it); HAVIRT_VMLAB=1 as root runs them"
    if driver() != "kvm":
        return (
            "the Vagrant lab would run under TCG here (no usable KVM for it), where it "
            "and its scenarios take longer than CI's 30-minute budget leaves after the "
            "rest of the suite; HAVIRT_VMLAB=1 runs them anyway (docs/vagrant-lab.md)"
        )
    return ""


def _vmlab_driver() -> str:
    from havirt.tools.lab import vagrant_settings
    from havirt.tools.lab.proc import LabError

    try:
        settings = vagrant_settings.read(Path(__file__).parents[1] / "vagrant", os.environ)
    except LabError:  # settings `vagrant up` would refuse: the lab cannot run at all
        return "none"
    return vagrant_settings.driver(settings, vagrant_settings.HostFacts.probe())


VMLAB_WHY_NOT = vmlab_why_not(
    os.environ.get("HAVIRT_VMLAB", "auto"), os.geteuid() == 0, _vmlab_driver
)
collect_ignore_glob = ["vmlab/*"] if VMLAB_WHY_NOT else []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regenerate-golden",
        action="store_true",
        default=os.environ.get("HAVIRT_REGENERATE_GOLDEN") == "1",
        help="rewrite golden files from the current output instead of comparing",
    )
    parser.addoption(
        "--require-real-parts",
        action="store_true",
        default=os.environ.get("HAVIRT_REQUIRE_REAL_PARTS") == "1",
        help="fail the run when any test skips (every real part must be present)",
    )


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    if VMLAB_WHY_NOT:
        terminalreporter.write_line(f"tests/vmlab not collected: {VMLAB_WHY_NOT}")
    if not config.getoption("--require-real-parts"):
        return
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if not hasattr(r, "wasxfail")]
    if not skipped:
        return
    terminalreporter.section("skips where every real part must run", sep="!", red=True)
    for report in skipped:
        terminalreporter.write_line(f"SKIPPED {report.nodeid}: {_skip_reason(report)}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not session.config.getoption("--require-real-parts"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(reporter, "stats", {}) if reporter is not None else {}
    skipped = [r for r in stats.get("skipped", []) if not hasattr(r, "wasxfail")]
    if skipped and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """golden(name, text): compare text with tests/golden/NAME (or rewrite it)."""
    regenerate = request.config.getoption("--regenerate-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if regenerate or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if not regenerate:
                pytest.fail(f"golden file {path} did not exist; written now, review and commit it")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (
            f"output differs from golden file {path}; if the change is intended, "
            "rerun with --regenerate-golden"
        )

    return check
