"""The demo's driver: step order, failure handling, teardown in every case (no lab)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from havirt.tools.errors import HavirtError
from havirt.tools.lab import LabError
from havirt.tools.lab.demo import agent_demo as demo
from havirt.tools.lab.demo.agent_calls import exit_reason, rc_name
from havirt.tools.lab.demo.agent_demo import _Demo
from havirt.tools.lab.demo.steps import Step, StepFailed, StepSpec, run_steps, ticking, timings


class FakeLab:
    def __init__(self) -> None:
        self.downs = 0

    def down(self) -> None:
        self.downs += 1


class ScriptedDemo(_Demo):
    """Three steps; the one named in ``fail`` fails (raises ``LabError`` if ``crash``)."""

    STEPS = (
        StepSpec("one", "Step one", timed="one (timed)", note="why one matters"),
        StepSpec("two", "Step two", note="why two matters"),
        StepSpec("three", "Step three", timed="three (timed)"),
    )

    def __init__(self, fail: str = "", crash: bool = False, keep: bool = False) -> None:
        super().__init__(
            lambda m: self.messages.append(m), keep, "t", Path("/c"), Path("/b"), lambda: 5.0
        )
        self.messages: list[str] = []
        self.fail, self.crash = fail, crash
        self.fake_lab = FakeLab()

    def _step(self, step: Step, name: str) -> None:
        if name == "one":
            self.lab = self.fake_lab  # type: ignore[assignment]
            self.guest = object()  # type: ignore[assignment]
        step.seconds = 1.23456
        if name == "three":
            step.note = "found at run time"
        if name == self.fail:
            if self.crash:
                raise LabError("the lab broke")
            raise StepFailed("wrong answer")

    def one(self, step: Step) -> None:
        self._step(step, "one")

    def two(self, step: Step) -> None:
        self._step(step, "two")

    def three(self, step: Step) -> None:
        self._step(step, "three")

    def keep_up(self, step: Step) -> None:
        step.summary = "kept"


def test_all_steps_then_teardown() -> None:
    scripted = ScriptedDemo()
    steps = list(run_steps(scripted))
    assert [s.key for s in steps] == ["one", "two", "three", "lab-down"]
    assert all(s.ok for s in steps)
    assert [s.note for s in steps[:3]] == [
        "why one matters",
        "why two matters",
        "found at run time",
    ]
    assert steps[0].seconds == 1.235
    assert scripted.fake_lab.downs == 1
    assert timings(steps)[:2] == [("one (timed)", 1.235), ("three (timed)", 1.235)]


@pytest.mark.parametrize("crash", [False, True])
def test_a_failed_step_stops_the_run_tears_down_and_raises(crash: bool) -> None:
    scripted = ScriptedDemo(fail="two", crash=crash)
    seen: list[Step] = []
    with pytest.raises(HavirtError, match="step 'Step two' failed"):
        for step in run_steps(scripted):
            seen.append(step)
    assert [s.key for s in seen] == ["one", "two", "lab-down"]
    assert not seen[1].ok and seen[1].note == ""
    assert seen[1].summary == ("the lab broke" if crash else "wrong answer")
    assert scripted.fake_lab.downs == 1


def test_keep_leaves_the_lab_up_even_after_a_failure() -> None:
    scripted = ScriptedDemo(fail="three", keep=True)
    seen: list[Step] = []
    with pytest.raises(HavirtError):
        seen.extend(run_steps(scripted))
    assert [s.key for s in seen] == ["one", "two", "three", "keep"]
    assert scripted.fake_lab.downs == 0


@pytest.mark.parametrize("keep", [False, True])
def test_interrupted_run_always_takes_the_lab_down(keep: bool) -> None:
    scripted = ScriptedDemo(keep=keep)
    run = run_steps(scripted)
    next(run)  # the lab is up
    run.close()  # what Ctrl-C while rendering amounts to
    assert scripted.fake_lab.downs == 1
    assert "taking the lab down ..." in scripted.messages


def test_interrupt_inside_a_step_takes_the_lab_down() -> None:
    scripted = ScriptedDemo()

    def interrupted(step: Step) -> None:
        raise KeyboardInterrupt

    scripted.two = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        list(run_steps(scripted))
    assert scripted.fake_lab.downs == 1


def test_requirements_and_lab_name_are_checked_at_once() -> None:
    with pytest.raises(HavirtError, match="needs root"):
        # raised by the call, before any iteration
        demo.run_demo(requirements=lambda: ["needs root"])
    with pytest.raises(HavirtError, match="lab name"):
        demo.run_demo(lab_name="Not Valid", requirements=lambda: [])


def test_ticking_reports_during_long_waits() -> None:
    messages: list[str] = []
    ticks = iter(range(1000))
    with ticking(messages.append, "waiting", every=0.05, clock=lambda: float(next(ticks))):
        time.sleep(0.18)
    assert messages[0] == "waiting ..."
    assert len(messages) >= 3 and messages[1].startswith("waiting ... ")


def test_agent_output_helpers() -> None:
    assert rc_name(7) == "OCF_NOT_RUNNING"
    assert rc_name(99) == "exit code 99"
    assert exit_reason("INFO: x\nocf-exit-reason:vm: gone\n") == "vm: gone"
    assert exit_reason("INFO: x\n") is None
