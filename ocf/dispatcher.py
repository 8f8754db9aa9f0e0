"""The one place that owns the OCF protocol rules for every havirt agent.

- ``meta-data`` and ``usage`` work without root, libvirt or a valid environment.
- Parameters are parsed and the agent's ``validate`` runs before any action.
  When that fails: ``stop`` asks the agent whether anything could still be
  running (default: success), a probe answers "not running" only through the
  agent's ``probe_unconfigured`` hook, a recurring monitor through
  ``monitor_unconfigured`` (default: the error), everything else returns the error.
- ``stop`` never returns 7 (not running means stopped: success); only monitor
  may return 7.
- Every failure writes one ``ocf-exit-reason:`` line to stderr.
- The action's deadline comes from ``OCF_RESKEY_CRM_meta_timeout`` (ms), or
  the action's advertised timeout; a watchdog answers with a clear reason just
  before Pacemaker would kill us, so a hang never becomes a silent timeout.
"""

from __future__ import annotations

import os
import sys

from havirt.ocf.agent import ActionContext, ResourceAgent
from havirt.ocf.agent_env import AgentEnv
from havirt.ocf.environment import OcfEnvironment
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.host import Host
from havirt.ocf.log import OcfLogger
from havirt.ocf.params import Params
from havirt.ocf.runner import CommandRunner
from havirt.ocf.watchdog import Watchdog, answer_margin, run_bounded

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import TextIO

    from havirt.ocf.runner import Runner

# Old names: "status" is monitor; OCF 1.0's "reload" is served by reload-agent.
ALIASES = {"status": "monitor", "reload": "reload-agent"}


def _handler_name(action: str) -> str:
    return ALIASES.get(action, action).replace("-", "_")


EXIT_REASON_MAX = 512


def write_exit_reason(stream: TextIO, reason: str) -> None:
    # Pacemaker reads only the first line; keep it one short, printable line (a
    # reason may quote a file's bytes or a huge parameter value).
    line = " ".join(reason.split())
    line = "".join(c if c.isprintable() else "?" for c in line)
    if len(line) > EXIT_REASON_MAX:
        line = line[: EXIT_REASON_MAX - 3] + "..."
    stream.write("ocf-exit-reason:" + line + "\n")
    stream.flush()


def run(
    agent: ResourceAgent,
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    runner: Runner | None = None,
    watchdog: bool = False,
    host: Host | None = None,
    spent: float = 0.0,
    agent_env: AgentEnv | None = None,
    exit_process: Callable[[int], object] | None = None,
    watchdog_class: type[ActionWatchdog] | None = None,
) -> int:
    """Run one OCF action and return its exit code (never raises).

    ``agent_env`` is the agent's world (its host: programs, clock, signals, syslog; its
    command runner; its state directory; what more its ``env_class`` holds). By default the
    agent builds the real one, from ``runner`` and ``host`` when given (a test's
    fakes); a test hands in a whole fake world as ``agent_env``. ``spent``: seconds of
    the action's timeout already gone before this call (the process's start-up:
    Pacemaker's clock runs from the fork). ``exit_process``: how the watchdog ends the
    process (``os._exit``; a test's fake). ``watchdog_class``: the watchdog armed when
    ``watchdog`` is on (:class:`ActionWatchdog`; a test's subclass that records it)."""
    environ = os.environ if environ is None else environ
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    action = argv[1] if len(argv) > 1 else ""

    if action == "meta-data":
        from havirt.ocf import metadata  # lxml is only needed here

        # Rendered in the version the agent declares, not the one the caller offers:
        # Pacemaker announces OCF 1.1, but admins and ocf-tester validate what
        # crm_resource --show-metadata prints against ra-api-1.dtd (OCF 1.0).
        out.write(metadata.render(type(agent), type(agent).metadata_ocf_version))
        out.flush()
        return OcfExit.SUCCESS
    if action in ("usage", "help", "--help", "-h"):
        out.write(agent.usage() + "\n")
        return OcfExit.SUCCESS
    if len(argv) != 2:
        err.write(agent.usage() + "\n")
        write_exit_reason(err, "exactly one action argument is expected")
        return OcfExit.ERR_ARGS

    handler_name = _handler_name(action)
    spec = type(agent).action_spec(action) or type(agent).action_spec(ALIASES.get(action, ""))
    handler = getattr(agent, handler_name, None) if spec is not None else None
    if handler is None and action != "validate-all":
        write_exit_reason(err, f"action '{action}' is not implemented by {agent.name}")
        return OcfExit.ERR_UNIMPLEMENTED

    env = OcfEnvironment.from_environ(action, environ)
    default_timeout = float(spec.timeout) if spec else 20.0
    if agent_env is None:
        agent_env = type(agent).environment(
            type(agent).host_class() if host is None else host,
            runner or CommandRunner(environ),
            env.state_dir,
        )
    # Its messages go to ``err`` and, when Pacemaker passes a facility, the host's syslog.
    log = OcfLogger(f"{agent.name}({env.resource})", environ, err, agent_env.host)
    deadline = env.deadline(default_timeout, agent_env.host.monotonic)
    deadline.end -= spent
    reserve = _timeout_reserve(agent, handler_name, deadline.total)
    ctx = ActionContext(
        env=env,
        params=Params(),
        log=log,
        deadline=deadline,
        agent_env=agent_env,
        answer_by=deadline.sooner(answer_margin(deadline.total) + reserve),
    )
    guard = (
        (watchdog_class or ActionWatchdog)(
            action, deadline.total, err, ctx, reserve, spent, exit_process
        )
        if watchdog
        else None
    )
    try:
        rc = _run_action(agent, action, handler, ctx)
    finally:
        if guard is not None:
            guard.disarm()  # after this the watchdog can no longer answer for us
    rc = _apply_protocol_rules(action, env, rc, ctx)
    if rc not in (OcfExit.SUCCESS, OcfExit.RUNNING_PROMOTED) and not (
        rc == OcfExit.NOT_RUNNING and env.is_monitor and not ctx.exit_reason
    ):
        write_exit_reason(err, ctx.exit_reason or f"{action} failed with {OcfExit(rc).name}")
    elif rc == OcfExit.SUCCESS and ctx.warning:
        write_exit_reason(err, ctx.warning)
    return int(rc)


def _timeout_reserve(agent: ResourceAgent, handler_name: str, total: float) -> float:
    try:
        return max(0.0, float(agent.timeout_reserve(handler_name, total)))
    except Exception:  # a bug in the hook must not cost the action its watchdog
        return 0.0


def _run_action(
    agent: ResourceAgent, action: str, handler: Callable[..., OcfExit] | None, ctx: ActionContext
) -> OcfExit:
    env = ctx.env
    try:
        ctx.params = type(agent).parameter_set().parse(env.reskeys)
        agent.validate(ctx)
    except OcfError as invalid:
        problem = invalid
        ctx.log.log("err" if not env.is_probe else "info", problem.reason)
        if action == "stop":
            rc = _guarded(lambda: agent.stop_unconfigured(ctx, problem), ctx, action)
        elif env.is_probe:
            rc = _guarded(lambda: agent.probe_unconfigured(ctx, problem), ctx, action)
        elif action == "monitor":
            rc = _guarded(lambda: agent.monitor_unconfigured(ctx, problem), ctx, action)
            if rc == OcfExit.NOT_RUNNING and not ctx.exit_reason:
                ctx.exit_reason = problem.reason  # a recurring monitor's 7 is a failure
        else:
            ctx.exit_reason = problem.reason
            return problem.code
        if rc not in (OcfExit.SUCCESS, OcfExit.NOT_RUNNING) and not ctx.exit_reason:
            ctx.exit_reason = problem.reason  # the configuration error explains the failure
        return rc
    except Exception as exc:  # a bug in validate() or in a parameter's check
        return _internal_error(ctx, action, exc)
    if action == "validate-all":
        unknown = type(agent).parameter_set().unknown(env.reskeys)
        if unknown:
            ctx.log.warn(f"ignoring parameters {agent.name} does not know: {', '.join(unknown)}")
        if handler is None:
            return OcfExit.SUCCESS
    assert handler is not None
    return _guarded(lambda: handler(ctx), ctx, action)


def _guarded(call: Callable[[], OcfExit], ctx: ActionContext, action: str) -> OcfExit:
    try:
        return OcfExit(call())
    except OcfError as problem:
        ctx.exit_reason = problem.reason
        ctx.log.error(problem.reason)
        return problem.code
    except Exception as exc:  # a bug must still give Pacemaker a definite answer
        return _internal_error(ctx, action, exc)


def _internal_error(ctx: ActionContext, action: str, exc: Exception) -> OcfExit:
    import traceback  # only on this rare path: it is slow to import

    ctx.log.error(f"{action}: internal error: {exc!r}\n{traceback.format_exc()}")
    ctx.exit_reason = f"{action}: internal error in the agent: {exc!r}"
    return OcfExit.ERR_GENERIC


def _apply_protocol_rules(
    action: str, env: OcfEnvironment, rc: OcfExit, ctx: ActionContext
) -> OcfExit:
    if action == "stop" and rc == OcfExit.NOT_RUNNING:
        return OcfExit.SUCCESS  # already stopped is a successful stop
    if rc == OcfExit.NOT_RUNNING and not env.is_monitor:
        ctx.exit_reason = ctx.exit_reason or f"{action}: the resource is not running"
        return OcfExit.ERR_GENERIC
    return rc


class ActionWatchdog(Watchdog):
    """Answers ERR_GENERIC with a reason just before Pacemaker's timeout would hit.

    With ``reserve`` seconds it fires that much earlier and first runs the handler's
    ``ctx.on_timeout`` step (if one is set), bounded by the reserve."""

    def __init__(
        self,
        action: str,
        seconds: float,
        err: TextIO,
        ctx: ActionContext | None = None,
        reserve: float = 0.0,
        spent: float = 0.0,
        exit_process: Callable[[int], object] | None = None,
    ) -> None:
        def answer() -> None:
            reason = f"{action} did not finish within its timeout of {seconds:.0f}s; giving up"
            step = ctx.on_timeout if ctx is not None else None
            if ctx is not None and step is not None:
                reason += f" ({_last_resort(ctx, step, reserve)})"
            write_exit_reason(err, reason)

        margin = answer_margin(seconds) + reserve
        super().__init__(seconds - spent - margin, answer, OcfExit.ERR_GENERIC, exit_process)


def _last_resort(ctx: ActionContext, step: Callable[[float], str], reserve: float) -> str:
    """Run the handler's on_timeout step for at most ``reserve`` seconds; what happened."""
    # The step bounds its own calls a little sooner, so it can still say what it saw.
    finished, outcome = run_bounded(lambda: step(max(0.1, reserve - 0.25)), reserve)
    if not finished:
        what = f"its last-resort step did not finish within {reserve:.1f}s"
    elif isinstance(outcome, BaseException):
        what = f"its last-resort step failed: {outcome!r}"
    else:
        what = str(outcome)
    ctx.log.warn(f"{ctx.env.action} timed out: {what}")
    return what


def main(agent_factory: Callable[[], ResourceAgent], argv: Sequence[str] | None = None) -> None:
    """Entry point of an installed agent executable."""
    argv = list(sys.argv if argv is None else argv)
    rc = run(agent_factory(), argv, watchdog=True, spent=startup_seconds())
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: a libvirt call stuck in a worker thread must not keep us alive.
    os._exit(rc)


def entry_point(agent_factory: Callable[[], ResourceAgent]) -> Callable[[], None]:
    """An agent module's ``main``, which its installed executable calls: :func:`main`
    for the agent ``agent_factory`` makes."""

    def run_agent() -> None:
        main(agent_factory)

    return run_agent


# Longer than this is no start-up but a clock to distrust: count nothing then.
MAX_STARTUP = 10.0


def startup_seconds(
    stat: str | None = None, uptime: str | None = None, ticks: int | None = None
) -> float:
    """How long ago this process was forked (its interpreter start-up and imports: on a
    busy machine a second or more of the action's timeout); 0.0 when unknown.

    From /proc/self/stat (start time in clock ticks after boot) and /proc/uptime,
    unless given."""
    try:
        if stat is None:
            with open("/proc/self/stat", encoding="ascii") as handle:
                stat = handle.read()
        if uptime is None:
            with open("/proc/uptime", encoding="ascii") as handle:
                uptime = handle.read()
        ticks = ticks or os.sysconf("SC_CLK_TCK")
        # The command name (field 2) may hold spaces and parentheses: split after it.
        started = int(stat.rpartition(")")[2].split()[19]) / ticks
        age = float(uptime.split()[0]) - started
    except (OSError, ValueError, IndexError):
        return 0.0
    return age if 0.0 <= age <= MAX_STARTUP else 0.0
