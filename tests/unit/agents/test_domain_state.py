from __future__ import annotations

import pytest
from havirt.agents.guest.domain_state import (
    FAILED,
    RUNNING,
    STATE_TABLE,
    STOPPED,
    DomainState,
    Verdict,
    judge,
)
from havirt.agents.libvirt import names as libvirt_names
from havirt.ocf.exitcodes import OcfExit

UNLISTED_REASON = "some-reason-no-row-names"
# Reasons newer than some libvirt-python builds (VIR_DOMAIN_PAUSED_API_ERROR came later).
NEWER_LIBVIRT_REASONS = {("paused", "api_error")}


def _example(state: str, reason: str) -> DomainState:
    """A state that the row (state, reason) is meant for ("*" rows: an unlisted reason)."""
    return DomainState(state, UNLISTED_REASON if reason == "*" else reason)


@pytest.mark.parametrize(
    ("state", "reason", "outcome", "explanation"),
    STATE_TABLE,
    ids=[f"{s}-{r}" for s, r, _, _ in STATE_TABLE],
)
def test_every_row_of_the_state_table_is_what_judge_answers(state, reason, outcome, explanation):
    verdict = judge(_example(state, reason))
    assert verdict == Verdict(outcome, explanation)


def test_no_row_is_shadowed_by_an_earlier_wildcard():
    for index, (state, reason, _, _) in enumerate(STATE_TABLE):
        for earlier_state, earlier_reason, _, _ in STATE_TABLE[:index]:
            assert not (earlier_state == state and earlier_reason in ("*", reason)), (
                f"row {state}/{reason} can never match: {earlier_state}/{earlier_reason} "
                "comes first"
            )


def test_every_state_libvirt_reports_has_a_wildcard_row():
    wildcard_states = {s for s, r, _, _ in STATE_TABLE if r == "*"}
    for name in libvirt_names._STATE_NAMES.values():
        assert name in wildcard_states, f"libvirt state {name} falls through the table"


def test_every_specific_reason_in_the_table_is_one_libvirt_can_report():
    """A misspelt reason would silently fall through to the state's '*' row."""
    by_state = {
        libvirt_names._STATE_NAMES[code]: set(reasons.values())
        for code, reasons in libvirt_names._REASONS.items()
    }
    for state, reason, _, _ in STATE_TABLE:
        if reason == "*" or state == "undefined" or (state, reason) in NEWER_LIBVIRT_REASONS:
            continue
        assert reason in by_state[state], f"libvirt has no reason '{reason}' for state {state}"


@pytest.mark.parametrize(
    "state",
    [
        DomainState("state42", "reason0"),  # a future libvirt state the boundary cannot name
        DomainState("hibernating", "unknown"),
        DomainState("", ""),
        DomainState("Shutoff", "destroyed"),  # not the boundary's spelling: unknown
    ],
)
def test_unknown_states_are_never_judged_stopped(state):
    verdict = judge(state)
    assert verdict.outcome == RUNNING
    assert str(state) in verdict.explanation


@pytest.mark.parametrize("reason", ["destroyed", "shutdown", "migrated", "saved", "unknown"])
def test_shutoff_for_any_reason_is_stopped(reason):
    assert judge(DomainState("shutoff", reason)).outcome == STOPPED


def test_only_shutoff_and_undefined_are_ever_stopped():
    stopped_states = {s for s, _, outcome, _ in STATE_TABLE if outcome == STOPPED}
    assert stopped_states == {"shutoff", "undefined"}


@pytest.mark.parametrize(
    ("outcome", "code"),
    [(RUNNING, OcfExit.SUCCESS), (FAILED, OcfExit.ERR_GENERIC), (STOPPED, OcfExit.NOT_RUNNING)],
)
def test_verdict_codes(outcome, code):
    assert Verdict(outcome, "x").code == code


def test_domain_state_prints_state_and_reason():
    assert str(DomainState("paused", "ioerror")) == "paused (ioerror)"
