"""Every unit test runs with the host guard on (see host_guard.py)."""

from __future__ import annotations

import pytest
from host_guard import GUARD


@pytest.fixture(scope="session", autouse=True)
def _tests_own_files(tmp_path_factory: pytest.TempPathFactory) -> None:
    """pytest's base temporary directory (every tmp_path) is the tests' own: made here,
    before the guard looks, as pytest makes it in whichever folder this machine has."""
    active, GUARD.active = GUARD.active, False
    try:
        GUARD.allow(str(tmp_path_factory.getbasetemp()))
    finally:
        GUARD.active = active


@pytest.fixture(autouse=True)
def no_host_access(monkeypatch: pytest.MonkeyPatch):
    """Fails the test that reads the host instead of getting it through a seam."""
    GUARD.violations.clear()
    GUARD.patch(monkeypatch)
    yield GUARD
    if GUARD.violations:
        found = "\n".join(dict.fromkeys(GUARD.violations))
        GUARD.violations.clear()
        pytest.fail(found, pytrace=False)


def _guarded_phase():  # type: ignore[no-untyped-def]
    # On only while the test and its fixtures run: pytest's own reporting between the
    # phases (reading source files for a traceback) is not the test reading the host.
    GUARD.active = True
    try:
        yield
    finally:
        GUARD.active = False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):  # type: ignore[no-untyped-def]
    yield from _guarded_phase()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):  # type: ignore[no-untyped-def]
    yield from _guarded_phase()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    if nextitem is None:
        # The session's last test: its teardown also ends the session-wide fixtures of
        # the other folders (the integration lab, the agents installed for it), which
        # rightly use the host. A unit test that comes last is checked while it runs.
        yield
        return
    yield from _guarded_phase()
