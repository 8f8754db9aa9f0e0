"""One run of a fence agent under the fencing protocol of fence-agents' FenceAgentAPI.

Protocol rules that live here and not in agents:

- exit codes: 0 success (``status``: on), 2 only from ``status`` (off), 1 for
  every failure, usage errors included (a 2 would read as "off");
- ``delay`` is waited before ``off`` and ``reboot`` only;
- after every power change the state is queried until it is the wanted one
  (``power_wait``, then up to ``power_timeout``); not reaching it is a failure;
- ``reboot`` is ``off`` (verified) then ``on``; it succeeds when ``off`` did;
- the whole run is bounded: a watchdog answers exit 1 when it overruns;
- the password is read (:mod:`.passwords`) just before connecting.
"""

from __future__ import annotations

import os
import sys

from havirt.ocf.environment import Deadline
from havirt.ocf.fencing import actions, passwords
from havirt.ocf.fencing.agent import FenceAgent, FenceContext
from havirt.ocf.fencing.options import OptionTable
from havirt.ocf.fencing.usage import usage
from havirt.ocf.host import Host
from havirt.ocf.log import OcfLogger
from havirt.ocf.params import Params, parse_bool, shown
from havirt.ocf.watchdog import Watchdog

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TextIO

    from havirt.ocf.runner import Runner

# Standard input is a few name=value lines; more is a mistake, never read whole.
STDIN_LIMIT = 1 << 20
POLL_INTERVAL = 0.5  # seconds between status queries while waiting for a change
WATCHDOG_SLACK = 1.0  # seconds past the computed bound before the watchdog answers


def run_bound(options: Params, action: str) -> float:
    """The longest a run of ``action`` with these options may take, in seconds."""
    changes = {"on": 1, "off": 1, "reboot": 2}.get(action, 0)
    delay = options.delay if action in ("off", "reboot") else 0.0
    # Connecting, then one status query; then each power change with its verification.
    bound: float = (
        delay
        + 2 * options.login_timeout
        + changes * (options.power_wait + options.power_timeout)
        + 1.0
    )
    return bound


def run(
    agent: FenceAgent,
    argv: Sequence[str],
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    runner: Runner | None = None,
    watchdog: bool = False,
    host: Host | None = None,
) -> int:
    """Run one fencing action; return the exit code (never raises).

    ``runner`` and ``host`` (programs, clock) default to the real ones; a test
    hands in fakes."""
    host = Host() if host is None else host
    started = host.monotonic()
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    table = type(agent).option_table()

    def fail(message: str) -> int:
        err.write(f"ERROR: {message}\n")
        err.flush()
        return actions.EXIT_ERROR

    try:
        if len(argv) > 1:
            raw = table.parse_argv(argv[1:])
        else:
            source = stdin if stdin is not None else sys.stdin
            if _isatty(source):
                err.write(
                    f"{agent.name}: reading name=value options from standard input "
                    "(end with Ctrl-D; see --help)\n"
                )
            text = source.read(STDIN_LIMIT + 1)
            if len(text) > STDIN_LIMIT:
                raise actions.FenceError(
                    f"standard input is larger than {STDIN_LIMIT >> 10} KiB: "
                    "Pacemaker passes a few name=value lines"
                )
            raw = table.parse_stdin(text)
    except UnicodeDecodeError:
        return fail(f"standard input is not UTF-8 text; see {agent.name} --help")
    except actions.FenceError as exc:
        return fail(f"{exc}; see {agent.name} --help")
    for warning in raw.warnings:
        err.write(f"WARNING: {warning}\n")
    if parse_bool(raw.values.get("help", "")):
        out.write(usage(type(agent)))
        return actions.EXIT_OK
    if parse_bool(raw.values.get("version", "")):
        out.write(f"{agent.name} {agent.version}\n")
        return actions.EXIT_OK
    action = raw.values.get("action", "reboot").strip().lower()
    action = actions.ACTION_ALIASES.get(action, action)
    if action == "metadata":  # needs no valid options: Pacemaker passes only the action
        from havirt.ocf.fencing.metadata import render  # lxml: only for this action

        out.write(render(type(agent)))
        out.flush()
        return actions.EXIT_OK
    if action not in actions.ACTIONS:
        return fail(f"unknown action {shown(action)} (one of: {', '.join(actions.ACTIONS)})")
    try:
        options = table.convert(raw)
    except actions.FenceError as exc:
        return fail(str(exc))
    options["action"] = action
    log = _logger(agent, options, err, host)
    if options.verbose:
        log.debug("options: " + _describe(table, options))
    total = run_bound(options, action)
    ctx = FenceContext(action, options, log, Deadline(total, host.monotonic), runner, host)
    ctx.deadline.end = started + total  # the bound counts from the start of the process
    guard = _guard(agent, total, err) if watchdog else None
    try:
        return _run_action(agent, ctx, out, started)
    finally:
        if guard is not None:
            guard.disarm()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _logger(agent: FenceAgent, options: Params, err: TextIO, host: Host) -> OcfLogger:
    environ = {"HA_debug": "1" if options.verbose else "0"}
    if options.debug_file:
        environ["HA_DEBUGLOG"] = options.debug_file
    log = OcfLogger(agent.name, environ, err, host)
    # No syslog (no HA_LOGFACILITY): Pacemaker's fencer logs what a fence agent writes
    # to stderr, so always write it.
    log.to_stderr = True
    return log


def _describe(table: OptionTable, options: Params) -> str:
    shown = []
    for opt in table:
        value = options.get(opt.name)
        if opt.alias_of or value in (None, False, ""):
            continue
        shown.append(f"{opt.name}={'(hidden)' if opt.secret else value}")
    return ", ".join(shown)


def _guard(agent: FenceAgent, total: float, err: TextIO) -> Watchdog:
    def answer() -> None:
        err.write(f"ERROR: {agent.name} did not finish within {total:.0f}s; giving up\n")
        err.flush()

    return Watchdog(total + WATCHDOG_SLACK, answer, actions.EXIT_ERROR)


def _run_action(agent: FenceAgent, ctx: FenceContext, out: TextIO, started: float) -> int:
    log = ctx.log
    session: Any = None
    connected = False
    try:
        if ctx.action in actions.PLUG_ACTIONS and not ctx.options.plug:
            raise actions.FenceError(
                f"no plug given for {ctx.action}: set plug=NAME_OR_UUID "
                "(Pacemaker passes it from pcmk_host_map or the node name; "
                "on the command line: -n NAME)"
            )
        passwords.check_sources(ctx)
        agent.validate(ctx)
        if ctx.action == "validate-all":
            passwords.validate_sources(ctx)
            log.debug("the options are valid")
            return actions.EXIT_OK
        if ctx.action in ("off", "reboot") and ctx.options.delay > 0:
            wait = ctx.options.delay - (ctx.host.monotonic() - started)
            if wait > 0:
                log.info(f"waiting {wait:.1f}s (delay) before {ctx.action}")
                ctx.host.sleep(wait)
        ctx.password = passwords.read_password(ctx)
        session = agent.connect(ctx)
        connected = True
        return _act(agent, ctx, session, out)
    except actions.FenceError as exc:
        log.error(str(exc))
        return actions.EXIT_ERROR
    except Exception as exc:  # a bug must still give the fencer a definite answer
        import traceback  # only on this rare path

        log.error(f"{ctx.action}: internal error: {exc!r}\n{traceback.format_exc()}")
        return actions.EXIT_ERROR
    finally:
        if connected:
            try:
                agent.close(ctx, session)
            except Exception as exc:
                log.debug(f"closing the session failed: {exc!r}")


def _act(agent: FenceAgent, ctx: FenceContext, session: Any, out: TextIO) -> int:
    action, plug = ctx.action, ctx.plug

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    if action in ("list", "list-status"):
        sep = ctx.options.separator
        for entry in agent.list_plugs(ctx, session):
            fields = [entry.id, entry.alias or ""]
            if action == "list-status":
                status = (entry.status or "").upper()
                fields.append(status if status in ("ON", "OFF") else "UNKNOWN")
            say(sep.join(fields))
        return actions.EXIT_OK
    if action == "monitor":
        agent.monitor(ctx, session)
        return actions.EXIT_OK
    status = _status(agent, ctx, session, plug)
    if action == "status":
        say(f"Status: {status.upper()}")
        return actions.EXIT_OK if status == actions.ON else actions.EXIT_OFF
    if action in (actions.ON, actions.OFF):
        if status == action:
            say(f"Success: Already {status.upper()}")
            return actions.EXIT_OK
        _change(agent, ctx, session, plug, action)
        say(f"Success: Powered {action.upper()}")
        return actions.EXIT_OK
    # reboot: off, verified, then on; the fencing is done once off is verified.
    if status != actions.OFF:
        _change(agent, ctx, session, plug, actions.OFF)
    else:
        ctx.log.info(f"{plug} is already OFF")
    try:
        _change(agent, ctx, session, plug, actions.ON)
    except actions.FenceError as exc:
        ctx.log.warn(f"{plug} is OFF (fenced), but powering it ON again failed: {exc}")
    say("Success: Rebooted")
    return actions.EXIT_OK


def _status(agent: FenceAgent, ctx: FenceContext, session: Any, plug: str) -> str:
    status = agent.get_power_status(ctx, session, plug)
    if status not in (actions.ON, actions.OFF):
        raise actions.FenceError(f"the device reported an unknown state {shown(status)} for {plug}")
    return status


def _change(agent: FenceAgent, ctx: FenceContext, session: Any, plug: str, state: str) -> None:
    """Ask for ``state``, then query until the device reports it (or time runs out)."""
    opts = ctx.options
    window = ctx.deadline.within(opts.power_wait + opts.power_timeout)
    ctx.log.info(f"powering {plug} {state.upper()}")
    agent.set_power_status(ctx, session, plug, state)
    if opts.power_wait > 0:
        ctx.host.sleep(min(opts.power_wait, window.remaining()))
    while True:
        problem: actions.FenceError | None = None
        try:
            current = _status(agent, ctx, session, plug)
        except actions.FenceError as exc:
            current, problem = None, exc
        if current == state:
            ctx.log.info(f"verified: {plug} is {state.upper()}")
            return
        if window.expired():
            seen = f"the last query failed: {problem}" if problem else f"it is {current}"
            raise actions.FenceError(
                f"{plug} did not reach {state.upper()} within power_timeout="
                f"{opts.power_timeout:g}s ({seen})"
            )
        ctx.host.sleep(min(POLL_INTERVAL, window.remaining()))


def main(agent_factory: Callable[[], FenceAgent], argv: Sequence[str] | None = None) -> None:
    """Entry point of an installed fence agent."""
    argv = list(sys.argv if argv is None else argv)
    rc = run(agent_factory(), argv, watchdog=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: a libvirt call stuck in a worker thread must not keep us alive.
    os._exit(rc)
