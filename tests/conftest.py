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
import shutil
from pathlib import Path
from typing import Any

import pytest
import timings_report
from vmlab_plan import selects_vmlab_and_more, vmlab_or_suite, vmlab_why_not

GOLDEN_DIR = Path(__file__).parent / "golden"


# The VM lab's scenarios (tests/vmlab: the Vagrant lab on separate kernels) run where
# the machine can afford them: HAVIRT_VMLAB=1 always, HAVIRT_VMLAB=0 never, otherwise
# (auto) as root with Vagrant installed, the memory for the lab's machines free, and KVM
# for them (tests/vmlab_plan.py says why not under TCG). Every run that leaves them out
# says why. With the rest of the suite in the same run they go beside it, not after it
# (pytest_cmdline_main below).
def _available_mib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _vmlab_settings() -> dict[str, str] | None:
    """The lab's settings as `vagrant up` reads them; None when it would refuse them
    (the scenarios' setup then says why)."""
    from havirt.tools.lab import vagrant_settings
    from havirt.tools.lab.proc import LabError

    try:
        return vagrant_settings.read(TESTS_DIR.parent / "vagrant", os.environ)
    except LabError:
        return None


def _vmlab_driver() -> str:
    """kvm or qemu (TCG), as the Vagrantfile would choose; "none" for refused settings."""
    from havirt.tools.lab import vagrant_settings

    settings = _vmlab_settings()
    if settings is None:
        return "none"
    return vagrant_settings.driver(settings, vagrant_settings.HostFacts.probe())


def _vmlab_need_mib() -> int:
    """The lab's machines' memory, and 1 GiB for the outer host's libvirtd and QEMU's
    own; 0 for refused settings."""
    settings = _vmlab_settings() or {}
    try:
        kvm_hosts = 3 * int(settings["HAVIRT_VAGRANT_HV_MEMORY"])
        return kvm_hosts + int(settings["HAVIRT_VAGRANT_STORAGE_MEMORY"]) + 1024
    except (KeyError, ValueError):
        return 0


TESTS_DIR = Path(__file__).resolve().parent
VMLAB_DIR = TESTS_DIR / "vmlab"
VMLAB_WHY_NOT = vmlab_why_not(
    os.environ.get("HAVIRT_VMLAB", "auto"),
    os.geteuid() == 0,
    shutil.which("vagrant") is not None,
    _available_mib,
    _vmlab_need_mib,
    _vmlab_driver,
)
collect_ignore_glob = ["vmlab/*"] if VMLAB_WHY_NOT else []


# -- the VM lab beside the rest of the suite ----------------------------------------------
# The lab takes minutes to come up and its scenarios more, much of it spent waiting on
# the lab's machines; one after the other with the rest of the suite they would take
# the sum. So a run that holds both, with pytest-xdist at hand, runs on two workers:
# one takes tests/vmlab, the other everything else in its usual order (the suite's own
# labs and daemons are never started twice). -n or --dist given by hand, -p no:xdist,
# --pdb and --collect-only are left as they are.
BESIDE_WORKERS = 2
BESIDE = pytest.StashKey[bool]()


def _run_paths(config: pytest.Config) -> list[Path]:
    base = config.invocation_params.dir
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        base = config.rootpath
    return [(base / arg.split("::")[0]).resolve() for arg in config.args]


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    if VMLAB_WHY_NOT or hasattr(config, "workerinput"):
        return
    if not config.pluginmanager.hasplugin("xdist"):
        return
    if config.getoption("numprocesses", None) is not None:
        return
    if config.getoption("dist", "no") != "no" or config.getoption("usepdb", False):
        return
    if config.getoption("collectonly") or not selects_vmlab_and_more(_run_paths(config), VMLAB_DIR):
        return
    config.option.numprocesses = BESIDE_WORKERS
    config.option.dist = "load"
    config.option.tx = ["popen"] * BESIDE_WORKERS
    config.stash[BESIDE] = True


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's controller: two work units, each to one worker (xdist's scope
    scheduling, with the scope being tests/vmlab or not)."""
    if not config.stash.get(BESIDE, False):
        return None
    from xdist.scheduler import LoadScopeScheduling

    prefix = VMLAB_DIR.relative_to(config.rootpath).as_posix() + "/"

    class VmlabBesideTheSuite(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return vmlab_or_suite(nodeid, prefix)

    return VmlabBesideTheSuite(config, log)


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
    timings_report.report_all(terminalreporter)
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


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """xdist's controller: a worker is done; its timings join the run's."""
    timings_report.merge(getattr(node, "workeroutput", {}))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints the timings
        timings_report.to_worker_output(workeroutput)
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
