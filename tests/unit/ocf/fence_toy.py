"""A toy fence agent over an in-memory power switch, for the fencing framework's tests.

Importable as ``fence_toy`` (pytest puts this folder on ``sys.path``; the
subprocess tests add it themselves).
"""

from __future__ import annotations

import io
import os
import time as real_time
from dataclasses import dataclass, field

from havirt.ocf import fencing
from havirt.ocf.fencing import FenceAgent, FenceError, FenceOption, Plug

HERE = os.path.dirname(os.path.abspath(__file__))


class FakeClock:
    """The fake host handed to ``fencing.run`` (``ctx.host``): its clock, where sleeping
    advances the time, and its programs (all installed, but those in ``missing``)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.missing: set[str] = set()

    def which(self, program: str, path: str | None = None) -> str | None:
        return None if program in self.missing else f"/usr/bin/{program}"

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        step = max(seconds, 0.001)
        self.now += step
        self.sleeps.append(step)

    def time(self) -> float:
        return 1_700_000_000.0 + self.now  # a fixed epoch: never the host's

    strftime = staticmethod(real_time.strftime)


class Switch:
    """A power switch whose plugs change state ``lag`` status queries after a request."""

    def __init__(self, clock: FakeClock | None = None, **plugs: str) -> None:
        self.plugs = dict(plugs) or {"vm1": "on", "vm2": "off"}
        self.clock = clock
        self.lag = 0
        self.pending: dict[str, tuple[str, int]] = {}
        self.calls: list[tuple[str, ...]] = []
        self.reachable = True
        self.refuse: set[str] = set()  # "on"/"off" requests that never take effect
        self.status_error: str | None = None
        self.list_error: str | None = None
        self.passwords: list[str | None] = []
        self.answers: list[str] = []  # what each status query answered

    def log(self, *call: str) -> None:
        stamp = f"{self.clock.now:.1f}" if self.clock else ""
        self.calls.append((*call, stamp) if stamp else call)

    def status(self, plug: str) -> str:
        self.log("status", plug)
        if self.status_error:
            raise FenceError(self.status_error)
        if plug not in self.plugs:
            raise FenceError(f"no plug {plug}")
        if plug in self.pending:
            state, left = self.pending[plug]
            if left <= 0:
                self.plugs[plug] = state
                del self.pending[plug]
            else:
                self.pending[plug] = (state, left - 1)
        self.answers.append(self.plugs[plug])
        return self.plugs[plug]

    def set(self, plug: str, state: str) -> None:
        self.log("set", plug, state)
        if plug not in self.plugs:
            raise FenceError(f"no plug {plug}")
        if state in self.refuse:
            return
        self.pending[plug] = (state, self.lag)


class ToyFence(FenceAgent):
    name = "fence_toy"
    version = "0.9"
    shortdesc = "Toy <fence> agent & friends"
    longdesc = 'Powers "nothing" at all; for <tests> & such.'
    vendor_url = "https://example.org/?a=1&b=2"
    options = (
        FenceOption("address", "Where the switch is", short="a", metavar="host"),
        FenceOption("retries", "How often to retry", type="integer", default="1", metavar="n"),
    )

    def __init__(self, switch: Switch | None = None) -> None:
        self.switch = switch or Switch()

    def validate(self, ctx):
        if ctx.options.address == "bad":
            raise FenceError("option address: 'bad' is a bad address")

    def connect(self, ctx):
        self.switch.log("connect")
        self.switch.passwords.append(ctx.password)
        if not self.switch.reachable:
            raise FenceError("cannot reach the switch")
        return self.switch

    def close(self, ctx, session):
        session.log("close")

    def get_power_status(self, ctx, session, plug):
        return session.status(plug)

    def set_power_status(self, ctx, session, plug, state):
        session.set(plug, state)

    def list_plugs(self, ctx, session):
        session.log("list")
        if session.list_error:
            raise FenceError(session.list_error)
        return [Plug(name, f"alias-{name}", state) for name, state in session.plugs.items()]


@dataclass
class Outcome:
    rc: int
    stdout: str
    stderr: str
    lines: list[str] = field(default_factory=list)


def fence(agent: FenceAgent, *args: str, stdin: str = "", runner=None) -> Outcome:
    """Run the agent with ``args`` on the command line, or ``stdin`` when there are none,
    on the host of its switch (the switch's fake clock)."""
    out, err = io.StringIO(), io.StringIO()
    rc = fencing.run(
        agent,
        ["fence_toy", *args],
        stdin=io.StringIO(stdin),
        stdout=out,
        stderr=err,
        runner=runner,
        host=agent.switch.clock or FakeClock(),
    )
    return Outcome(rc, out.getvalue(), err.getvalue(), out.getvalue().splitlines())
