"""What a resource agent declares, and what its action handlers receive."""

from __future__ import annotations

from havirt.ocf.agent_env import AgentEnv
from havirt.ocf.carried import Carrying
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.host import Host
from havirt.ocf.params import Parameter, ParameterSet, Params
from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import ClassVar

    from havirt.ocf.environment import Deadline, OcfEnvironment
    from havirt.ocf.errors import OcfError
    from havirt.ocf.log import OcfLogger
    from havirt.ocf.runner import Runner


class ActionSpec(Record):
    """An action as advertised in meta-data; ``timeout`` is the default, in seconds."""

    _defaults = {
        "interval": None,
        "depth": None,
        "role": None,
        "since_ocf": (1, 0),
        "until_ocf": None,
    }

    name: str
    timeout: int
    interval: int | None
    depth: int | None
    role: str | None
    # Which OCF versions advertise it (reload-agent only exists from OCF 1.1 on).
    since_ocf: tuple[int, int]
    until_ocf: tuple[int, int] | None  # first OCF version that no longer lists it


def monitor_actions(timeout: int, interval: int, deep_timeout: int) -> tuple[ActionSpec, ...]:
    """``status`` (monitor's old name) and ``monitor`` every ``interval`` seconds at depth
    0, and a deeper ``monitor`` (depth 10) every minute."""
    return (
        ActionSpec("status", timeout, interval=interval, depth=0),
        ActionSpec("monitor", timeout, interval=interval, depth=0),
        ActionSpec("monitor", deep_timeout, interval=60, depth=10),
    )


def admin_actions(timeout: int) -> tuple[ActionSpec, ...]:
    """``meta-data``, then ``validate-all`` and the reload actions, which check the
    parameters and so get the same ``timeout``. OCF 1.0 ``reload`` (``reload-agent``
    from OCF 1.1 on): Pacemaker then reloads instead of restarting the resource for
    changes of non-unique parameters."""
    return (
        ActionSpec("meta-data", 5),
        ActionSpec("validate-all", timeout),
        ActionSpec("reload", timeout, until_ocf=(1, 1)),
        ActionSpec("reload-agent", timeout, since_ocf=(1, 1)),
    )


class ActionContext(Carrying):
    # A plain class, not a dataclass: importing dataclasses costs the guest agent's
    # monitor (run every few seconds per guest) more than all of its own work.
    def __init__(
        self,
        env: OcfEnvironment,
        params: Params,
        log: OcfLogger,
        deadline: Deadline,
        agent_env: AgentEnv,
        exit_reason: str | None = None,
        answer_by: Deadline | None = None,
    ) -> None:
        self.env = env
        self.params = params
        self.log = log
        self.deadline = deadline  # Pacemaker's timeout: it kills the agent then
        # When the watchdog answers for a handler that has not returned yet: a handler
        # that means to give its own answer must have it by then.
        self.answer_by = deadline if answer_by is None else answer_by
        # The agent's world (the dispatcher's, or a test's fakes); its host (programs,
        # clock, signals) and command runner are also reached directly.
        self.agent_env = agent_env
        self.runner: Runner = agent_env.runner
        self.host: Host = agent_env.host
        self.exit_reason = exit_reason  # set by a handler for a failure it returns as a code
        self.state: object = None  # see carried(): what validate leaves for the action
        self.warning: str | None = None  # said as the exit reason of a success
        # What the watchdog does, bounded by the agent's timeout_reserve, before it
        # answers for a handler still running (e.g. abort a migration job). Called with
        # the seconds it may take; returns what happened, for the log and exit reason.
        self.on_timeout: Callable[[float], str] | None = None

    def fail(self, reason: str) -> None:
        self.exit_reason = reason

    def warn_reason(self, reason: str) -> None:
        """Succeed, but say why all is not well (kept in the operation's history)."""
        self.warning = reason


class ResourceAgent:
    """Base of every havirt OCF agent.

    A subclass declares ``name``, ``parameters`` and ``actions`` and implements
    a method per action (``start``, ``stop``, ``monitor``, ``migrate_to``, ...,
    ``reload_agent`` for ``reload-agent``). Handlers return an ``OcfExit`` or
    raise ``OcfError``; the dispatcher applies the protocol rules around them.
    """

    name: ClassVar[str]
    provider: ClassVar[str] = "havirt"
    version: ClassVar[str] = "1.0"
    shortdesc: ClassVar[str]
    longdesc: ClassVar[str]
    parameters: ClassVar[tuple[Parameter, ...]]
    actions: ClassVar[tuple[ActionSpec, ...]]

    # What the dispatcher builds as the agent's view of the machine and its world,
    # unless it is handed them (a test's fakes): an agent needing more than Host or
    # AgentEnv declares a subclass.
    host_class: ClassVar[type[Host]] = Host
    env_class: ClassVar[type[AgentEnv]] = AgentEnv

    # OCF 1.0 meta-data validates against ra-api-1.dtd; 1.1 adds reloadable/deprecated.
    metadata_ocf_version: ClassVar[tuple[int, int]] = (1, 0)

    _parameter_set: ClassVar[ParameterSet | None] = None

    @classmethod
    def parameter_set(cls) -> ParameterSet:
        found: ParameterSet | None = cls.__dict__.get("_parameter_set")  # never a base's
        if found is None:
            found = cls._parameter_set = ParameterSet(cls.parameters)
        return found

    @classmethod
    def environment(cls, host: Host, runner: Runner, state_dir: str) -> AgentEnv:
        """The real world of one action (the one place production code builds it)."""
        return cls.env_class(host, runner, state_dir)

    @classmethod
    def action_spec(cls, name: str) -> ActionSpec | None:
        for spec in cls.actions:
            if spec.name == name:
                return spec
        return None

    # -- hooks with protocol-safe defaults ---------------------------------
    def timeout_reserve(self, action: str, total: float) -> float:
        """Seconds the watchdog keeps, before it answers for ``action`` (timeout ``total``),
        for the handler's ``ctx.on_timeout`` step; it fires that much earlier."""
        return 0.0

    def validate(self, ctx: ActionContext) -> None:
        """Check the environment (files, tools, values across parameters); raise OcfError."""

    def stop_unconfigured(self, ctx: ActionContext, error: OcfError) -> OcfExit:
        """stop with an invalid configuration: nothing this agent could have started."""
        ctx.log.info(f"stop with invalid configuration ({error.reason}): considered stopped")
        return OcfExit.SUCCESS

    def probe_unconfigured(self, ctx: ActionContext, error: OcfError) -> OcfExit:
        """A probe with an invalid configuration; override to look for a running copy."""
        ctx.log.info(f"probe with invalid configuration ({error.reason}): not running")
        return OcfExit.NOT_RUNNING

    def monitor_unconfigured(self, ctx: ActionContext, error: OcfError) -> OcfExit:
        """A recurring monitor with an invalid configuration: by default the error itself.

        Override to keep a healthy running copy running: a configuration file that
        vanished must not make Pacemaker restart a guest that is fine.
        """
        return error.code

    def usage(self) -> str:
        names = "|".join(a.name for a in self.actions)
        return f"usage: {self.name} {{{names}}}"
