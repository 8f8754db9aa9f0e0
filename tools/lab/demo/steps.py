"""The step framework both demos run on (:mod:`.demo`, the agent on a two-node lab;
:mod:`.cluster_demo`, the Pacemaker cluster): a :class:`StepRunner` runs its ``STEPS``
one by one, each filling in a :class:`Step` (what it did, measured), stops at the first
failed one, and always ends with the closing steps; :func:`run_steps` yields the steps
and takes the lab down in every case, and a :class:`DemoEntry` is a demo's ``run_demo``.
Progress during long waits goes to a callback (:func:`ticking`); nothing here prints.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from havirt.tools.errors import HavirtError
from havirt.tools.lab import GuestAssets, Lab, LabError
from havirt.tools.lab.lab import DEFAULT_BASE_DIR, DEFAULT_CACHE_DIR, LAB_NAME_RE

TICK_SECONDS = 5.0
DEMO_LAB = "demo"  # the lab a demo brings up unless told another name

Progress = Callable[[str], None]
LabT = TypeVar("LabT", bound=Lab)


def silent(message: str) -> None:
    """A progress callback that says nothing."""


@dataclass(frozen=True)
class AgentCall:
    """One run of the agent on a node, as pacemaker-execd would make it (what the agent
    demo's steps record in :attr:`Step.calls`)."""

    node: str
    action: str  # "monitor" with interval_ms 0 is a probe
    interval_ms: int
    rc: int
    rc_name: str  # OCF_SUCCESS, OCF_NOT_RUNNING, ...
    seconds: float
    reason: str | None  # the ocf-exit-reason line, if any
    log: tuple[str, ...]  # what the agent wrote on stderr

    @property
    def label(self) -> str:
        if self.action != "monitor":
            return self.action
        return "probe" if self.interval_ms == 0 else f"monitor ({self.interval_ms // 1000} s)"


@dataclass
class Step:
    """What one step of the demo did and measured."""

    key: str
    title: str
    ok: bool = True
    summary: str = ""  # the outcome, in one sentence
    note: str = ""  # why it matters to an admin
    timed: str = ""  # label in the table of measured times ("" = not timed)
    seconds: float | None = None
    calls: list[AgentCall] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def ticking(
    progress: Progress,
    what: str,
    every: float = TICK_SECONDS,
    clock: Callable[[], float] | None = None,
) -> Iterator[None]:
    """Report ``what`` now and every ``every`` seconds (on ``clock``, by default this
    machine's monotonic clock) until the block ends.

    The work stays in the calling thread (so Ctrl-C interrupts it); only the
    reminders come from a helper thread."""
    clock = clock or time.monotonic
    progress(f"{what} ...")
    done = threading.Event()
    began = clock()

    def remind() -> None:
        while not done.wait(every):
            progress(f"{what} ... {clock() - began:.0f} s")

    reminder = threading.Thread(target=remind, name="havirt-demo-progress", daemon=True)
    reminder.start()
    try:
        yield
    finally:
        done.set()
        reminder.join()


class StepFailed(Exception):
    """A step found what it did not expect; the text is the step's summary."""


class StepSpec(NamedTuple):
    """One step of a demo: its key (in --json), its title, the method that performs it
    (default: the one named like the key), its label in the table of times ("": not
    in the table) and why it matters to an admin (shown when the step succeeded; a step
    whose note depends on what it found sets ``step.note`` itself)."""

    key: str
    title: str
    method: str = ""
    timed: str = ""
    note: str = ""


class StepRunner(Generic[LabT]):
    """A demo's sequence of steps: each of ``STEPS`` runs ``self.<method>(step)``; the
    first failed step ends the sequence, ``finish()`` yields the closing steps (keep the
    lab, or take it down), then the failure is raised."""

    STEPS: tuple[StepSpec, ...] = ()
    ERRORS: tuple[type[BaseException], ...] = (LabError, HavirtError, OSError)
    FAILURE_HINT = "rerun with --keep to inspect the lab (logs under /var/log inside each node)"

    def __init__(
        self,
        progress: Progress,
        keep: bool,
        lab_name: str,
        cache_dir: Path,
        base_dir: Path,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.progress = progress
        # What the steps are timed with: this machine's monotonic clock, or a test's fake.
        self.clock = clock or time.monotonic
        self.keep = keep
        self.lab_name = lab_name
        self.cache_dir = cache_dir
        self.base_dir = base_dir
        self.assets: GuestAssets | None = None
        self.lab: LabT | None = None

    @property
    def the_lab(self) -> LabT:
        assert self.lab is not None
        return self.lab

    def ticking(self, what: str) -> contextlib.AbstractContextManager[None]:
        """:func:`ticking` on this run's progress and clock."""
        return ticking(self.progress, what, clock=self.clock)

    def run_step(self, spec: StepSpec) -> Step:
        return perform_step(self, spec, self.ERRORS)

    def finish(self) -> Iterator[Step]:
        return iter(())

    def release(self) -> None:
        """Let go of what the demo holds besides the lab (nothing, unless a demo says)."""

    def abandon(self) -> None:
        """Take the lab down after the run, an interruption or an unexpected error."""
        self.release()
        if self.lab is not None:
            lab, self.lab = self.lab, None
            self.progress("taking the lab down ...")
            lab.down()

    def run(self) -> Iterator[Step]:
        failed: Step | None = None
        for spec in self.STEPS:
            step = self.run_step(spec)
            yield step
            if not step.ok:
                failed = step
                break
        yield from self.finish()
        if failed is not None:
            raise HavirtError(f"step '{failed.title}' failed: {failed.summary}", self.FAILURE_HINT)


def perform_step(
    demo: object,
    spec: StepSpec,
    errors: tuple[type[BaseException], ...] = (LabError, HavirtError, OSError),
) -> Step:
    """Run ``demo.<spec.method>(step)``; an expected error makes the step fail with its
    text."""
    step = Step(key=spec.key, title=spec.title, timed=spec.timed, note=spec.note)
    expected: tuple[type[BaseException], ...] = (StepFailed, *errors)
    try:
        getattr(demo, spec.method or spec.key)(step)
    except expected as exc:
        step.ok = False
        step.summary = str(exc)
    if step.seconds is not None:
        step.seconds = round(step.seconds, 3)
    if not step.ok:
        step.note = ""
    return step


def check_lab_name(lab_name: str) -> None:
    if not LAB_NAME_RE.match(lab_name):
        raise HavirtError(f"lab name {lab_name!r} must match {LAB_NAME_RE.pattern}")


def refuse_unfit(lab_name: str, requirements: Callable[[], list[str]]) -> None:
    """HavirtError if ``lab_name`` is no lab name, or ``requirements()`` says why this
    machine cannot host the demo's lab."""
    check_lab_name(lab_name)
    problems = requirements()
    if problems:
        raise HavirtError(
            "the demo cannot run on this machine: " + "; ".join(problems),
            "run it as root on Debian 12: sudo tools/bootstrap.sh demo",
        )


def run_steps(demo: Any) -> Generator[Step, None, None]:
    """``demo.run()``'s steps; ``demo.abandon()`` in every case (the lab goes down)."""
    try:
        yield from demo.run()
    finally:
        demo.abandon()


def timings(steps: Iterable[Step]) -> list[tuple[str, float]]:
    """(label, seconds) of every timed step, in order: the table of measured times."""
    return [(s.timed, s.seconds) for s in steps if s.timed and s.seconds is not None]


@dataclass(frozen=True)
class DemoEntry(Generic[LabT]):
    """A demo's ``run_demo``: its :class:`StepRunner` and what says why this machine
    cannot host its lab (``requirements``, unless a call gives another)."""

    runner: type[StepRunner[LabT]]
    requirements: Callable[[], list[str]]

    def __call__(
        self,
        progress: Progress = silent,
        *,
        keep: bool = False,
        lab_name: str = DEMO_LAB,
        cache_dir: Path | str = DEFAULT_CACHE_DIR,
        base_dir: Path | str = DEFAULT_BASE_DIR,
        clock: Callable[[], float] | None = None,
        requirements: Callable[[], list[str]] | None = None,
    ) -> Generator[Step, None, None]:  # the CLI closes it early on an error
        """The demo: an iterator yielding each :class:`Step` as it ends.

        Raises :class:`HavirtError` at once if the machine cannot host the lab;
        the iterator raises it after yielding a failed step (and the lab's
        teardown). The lab is taken down in every case, including Ctrl-C and
        closing the iterator early, unless ``keep`` is set and the run reached its
        end (a failed step included)."""
        refuse_unfit(lab_name, requirements or self.requirements)
        demo = self.runner(progress, keep, lab_name, Path(cache_dir), Path(base_dir), clock)
        return run_steps(demo)
