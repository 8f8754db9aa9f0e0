"""A toy OCF agent and helpers shared by the protocol-layer tests.

Importable as ``ocf_toy`` (pytest puts this folder on ``sys.path``; the
subprocess tests add it themselves).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from havirt.ocf import dispatcher
from havirt.ocf.agent import ActionContext, ActionSpec, ResourceAgent
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.params import Deprecation, Parameter

REASON_PREFIX = "ocf-exit-reason:"
HERE = os.path.dirname(os.path.abspath(__file__))


def even(value: int) -> str | None:
    if value % 2 == 0:
        return None
    return f"{value} is odd: set an even number such as {value + 1}"


class ToyAgent(ResourceAgent):
    """Does nothing; each handler answers what ``behaviour`` says for its action.

    A behaviour is an ``OcfExit``/int to return, an exception to raise, or a
    callable taking the ``ActionContext``. Unlisted actions succeed.
    """

    name = "toy"
    version = "0.9"
    shortdesc = "Toy agent <for tests> & friends"
    longdesc = (
        'Manages nothing at all. Its descriptions carry "quotes", <angle brackets>, '
        "& ampersands and 'apostrophes' so that escaping is exercised."
    )
    parameters = (
        Parameter(
            "config",
            "Configuration file",
            "Absolute path of the <toy> configuration & its friends.",
            required=True,
            unique=True,
        ),
        Parameter(
            "mode",
            "Mode",
            "How hard to try.",
            choices=("safe", "fast", ""),
            default="safe",
        ),
        Parameter(
            "count",
            "Count",
            "How many things to juggle; must be even.",
            type="integer",
            default="4",
            minimum=2,
            unit="MiB/s",
            check=even,
        ),
        Parameter(
            "verbose",
            "Verbose",
            "Say more.",
            type="boolean",
            default="false",
            reloadable=True,
        ),
        Parameter("grace", "Grace period", "How long to wait.", type="time", default="30s"),
        Parameter(
            "legacy_path",
            "Old configuration file",
            "The configuration file, under its old name.",
            deprecated=Deprecation("Use config instead.", replaced_with="config"),
        ),
    )
    actions = (
        ActionSpec("start", timeout=30),
        ActionSpec("stop", timeout=40),
        ActionSpec("monitor", timeout=20, interval=10, depth=0),
        ActionSpec("monitor", timeout=20, interval=11, role="Promoted"),
        ActionSpec("migrate_to", timeout=60),
        ActionSpec("notify", timeout=5),  # advertised, but no handler: answers 3
        ActionSpec("reload-agent", timeout=10, since_ocf=(1, 1)),
        ActionSpec("meta-data", timeout=5),
        ActionSpec("validate-all", timeout=10),
    )

    def __init__(self, behaviour: Mapping[str, object] | None = None) -> None:
        self.behaviour: dict[str, object] = dict(behaviour or {})
        self.calls: list[tuple[str, ActionContext]] = []
        self.hook_calls: list[tuple[str, str]] = []  # (hook, reason of the config error)

    def _act(self, action: str, ctx: ActionContext) -> OcfExit:
        self.calls.append((action, ctx))
        what = self.behaviour.get(action, OcfExit.SUCCESS)
        if isinstance(what, BaseException):
            raise what
        if callable(what):
            return what(ctx)
        return what  # type: ignore[return-value]

    @property
    def called(self) -> list[str]:
        return [action for action, _ in self.calls]

    def validate(self, ctx: ActionContext) -> None:
        self._act("validate", ctx)

    def stop_unconfigured(self, ctx, error):
        self.hook_calls.append(("stop_unconfigured", error.reason))
        if "stop_unconfigured" in self.behaviour:
            return self._act("stop_unconfigured", ctx)
        return super().stop_unconfigured(ctx, error)

    def probe_unconfigured(self, ctx, error):
        self.hook_calls.append(("probe_unconfigured", error.reason))
        if "probe_unconfigured" in self.behaviour:
            return self._act("probe_unconfigured", ctx)
        return super().probe_unconfigured(ctx, error)

    def start(self, ctx: ActionContext) -> OcfExit:
        return self._act("start", ctx)

    def stop(self, ctx: ActionContext) -> OcfExit:
        return self._act("stop", ctx)

    def monitor(self, ctx: ActionContext) -> OcfExit:
        return self._act("monitor", ctx)

    def migrate_to(self, ctx: ActionContext) -> OcfExit:
        return self._act("migrate_to", ctx)

    def reload_agent(self, ctx: ActionContext) -> OcfExit:
        return self._act("reload_agent", ctx)


def base_env(**overrides: str | None) -> dict[str, str]:
    """What Pacemaker would hand the toy agent for a valid resource."""
    env = {
        "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RA_VERSION_MAJOR": "1",
        "OCF_RA_VERSION_MINOR": "1",
        "OCF_RESOURCE_INSTANCE": "toy1",
        "OCF_RESOURCE_TYPE": "toy",
        "OCF_RESOURCE_PROVIDER": "havirt",
        "OCF_EXIT_REASON_PREFIX": REASON_PREFIX,
        "OCF_RESKEY_crm_feature_set": "3.16.2",
        "OCF_RESKEY_config": "/etc/toy.conf",
        "OCF_RESKEY_CRM_meta_timeout": "20000",
        "HA_LOGFACILITY": "none",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class Outcome:
    rc: int
    stdout: str
    stderr: str
    agent: ResourceAgent
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        """The text of every ``ocf-exit-reason:`` line written to stderr."""
        return [
            line[len(REASON_PREFIX) :]
            for line in self.stderr.splitlines()
            if line.startswith(REASON_PREFIX)
        ]

    @property
    def reason(self) -> str:
        """The one exit reason; fails the test if there is not exactly one."""
        reasons = self.reasons
        assert len(reasons) == 1, f"expected exactly one exit reason, got {reasons!r}"
        return reasons[0]


def invoke(
    agent: ResourceAgent,
    *args: str,
    env: Mapping[str, str] | None = None,
    runner: object | None = None,
    argv0: str = "toy",
    host: object | None = None,
) -> Outcome:
    """Run one action as pacemaker-execd would, on a fake host (clock, programs)."""
    from fence_toy import FakeClock

    out, err = io.StringIO(), io.StringIO()
    rc = dispatcher.run(
        agent,
        [argv0, *args],
        environ=base_env() if env is None else env,
        stdout=out,
        stderr=err,
        runner=runner,  # type: ignore[arg-type]
        host=FakeClock() if host is None else host,  # type: ignore[arg-type]
    )
    return Outcome(rc, out.getvalue(), err.getvalue(), agent)
