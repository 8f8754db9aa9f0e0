"""The fencing protocol of fence-agents' FenceAgentAPI, for havirt's fence agents.

Knows nothing of libvirt. One option table, declared as data, drives:

- the command line (``-o off``, ``--action=off``, ``-n vm1``, ``--plug vm1``);
- standard input, where Pacemaker passes ``name=value`` lines (``#`` comments,
  unknown names warned about and ignored, the last of repeated names wins);
- validation with one clear message per malformed option;
- the meta-data XML (``fence_metadata``) and the ``--help`` text.

Protocol rules that live here and not in agents:

- exit codes: 0 success (``status``: on), 2 only from ``status`` (off), 1 for
  every failure, usage errors included (a 2 would read as "off");
- ``delay`` is waited before ``off`` and ``reboot`` only;
- after every power change the state is queried until it is the wanted one
  (``power_wait``, then up to ``power_timeout``); not reaching it is a failure;
- ``reboot`` is ``off`` (verified) then ``on``; it succeeds when ``off`` did;
- the whole run is bounded: a watchdog answers exit 1 when it overruns;
- a password is read from standard input, a file or a script, never from the
  command line (``ps`` shows every argument to every user), and never logged.

An agent supplies only ``connect``, ``get_power_status``, ``set_power_status``
and ``list_plugs`` (and may add checks in ``validate``).
"""

from __future__ import annotations

import os
import sys

from .environment import Deadline
from .host import Host
from .log import OcfLogger
from .params import Params, _is_integer, is_decimal, parse_bool, shown
from .record import Record
from .watchdog import Watchdog

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import Any, ClassVar, TextIO

    from .runner import CommandRunner

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_OFF = 2  # only ``status`` answers it

ON = "on"
OFF = "off"

ACTIONS = (
    "on",
    "off",
    "reboot",
    "status",
    "list",
    "list-status",
    "monitor",
    "metadata",
    "validate-all",
)
ACTION_ALIASES = {"meta-data": "metadata"}  # the OCF spelling some callers use
POWER_ACTIONS = ("on", "off", "reboot")
PLUG_ACTIONS = (*POWER_ACTIONS, "status")  # those that act on one plug
# Names Pacemaker (and the old fenced) pass on standard input besides the options:
# accepted without a warning, not used.
SILENT_NAMES = frozenset({"nodename", "nodeid", "agent"})
# Standard input is a few name=value lines; more is a mistake, never read whole.
STDIN_LIMIT = 1 << 20
MAX_SECONDS = 86400  # a bound of any "second" option: no fencing waits a day
WARN_EXAMPLES = 3  # unknown options or stray lines named in the one warning of each kind
POLL_INTERVAL = 0.5  # seconds between status queries while waiting for a change
WATCHDOG_SLACK = 1.0  # seconds past the computed bound before the watchdog answers


class FenceError(Exception):
    """A failure to report to the caller (exit 1); the message names the fix where it can."""


class FenceOption(Record):
    """One option, as Pacemaker passes it on stdin (``name``) and as typed on the
    command line (``-short`` / ``--long``)."""

    __slots__ = (
        "name",
        "shortdesc",
        "type",
        "default",
        "required",
        "short",
        "long",
        "metavar",
        "alias_of",
        "secret",
        "check",
    )
    _defaults = {
        "type": "string",
        "default": None,
        "required": False,
        "short": None,
        "long": None,
        "metavar": "value",
        "alias_of": None,
        "secret": False,
        "check": None,
    }
    name: str
    shortdesc: str
    type: str  # string, boolean, integer, second
    default: str | None  # as the text a caller would pass
    required: bool  # as fence-agents' meta-data says it (the plug is required per action)
    short: str | None  # one letter
    long: str | None  # defaults to the name with '-' for '_'
    metavar: str  # shown as --long=[metavar]
    alias_of: str | None  # an old name of another option (meta-data: deprecated)
    secret: bool  # never logged, never accepted on the command line
    check: Callable[[Any], str | None] | None  # error text for a parsed value, or None

    @property
    def longopt(self) -> str:
        return self.long if self.long is not None else self.name.replace("_", "-")

    def spelled(self) -> str:
        """How the help text and meta-data show it: ``-n, --plug=[id]``."""
        if self.secret:
            return f"{self.name}=[{self.metavar}] (standard input only)"
        value = "" if self.type == "boolean" else f"=[{self.metavar}]"
        prefix = f"-{self.short}, " if self.short else ""
        return f"{prefix}--{self.longopt}{value}"


def _separator(value: str) -> str | None:
    return None if value and "\n" not in value else "must be one or more characters"


COMMON_OPTIONS: tuple[FenceOption, ...] = (
    FenceOption(
        "action",
        "Fencing action (on, off, reboot, status, list, list-status, monitor, metadata, "
        "validate-all)",
        default="reboot",
        required=True,
        short="o",
        metavar="action",
    ),
    FenceOption(
        "plug",
        "The machine to act on (its name or UUID at the fence device)",
        required=True,
        short="n",
        metavar="id",
    ),
    FenceOption("port", "The machine to act on (old name of plug)", alias_of="plug", metavar="id"),
    FenceOption(
        "password",
        "Password or passphrase, if the device asks for one (standard input only)",
        secret=True,
        short="p",
        metavar="password",
    ),
    FenceOption(
        "password_file",
        "File whose first line is the password",
        metavar="path",
    ),
    FenceOption(
        "password_script",
        "Command whose output's first line is the password (run without a shell)",
        short="S",
        metavar="command",
    ),
    FenceOption(
        "delay",
        "Wait this many seconds before off or reboot",
        type="second",
        default="0",
        metavar="seconds",
    ),
    FenceOption(
        "login_timeout",
        "Give up connecting to the device after this many seconds",
        type="second",
        default="5",
        metavar="seconds",
    ),
    FenceOption(
        "power_timeout",
        "Wait up to this many seconds for the new power state after on or off",
        type="second",
        default="20",
        metavar="seconds",
    ),
    FenceOption(
        "power_wait",
        "Wait this many seconds after on or off before checking the new state",
        type="second",
        default="0",
        metavar="seconds",
    ),
    FenceOption(
        "separator",
        "Separator of the fields that list and list-status print",
        default=",",
        short="C",
        metavar="char",
        check=_separator,
    ),
    FenceOption(
        "verbose",
        "Log debug messages to standard error",
        type="boolean",
        short="v",
    ),
    FenceOption(
        "debug_file",
        "Also append the agent's messages to this file",
        short="D",
        metavar="path",
    ),
    FenceOption("version", "Print the version and exit", type="boolean", short="V"),
    FenceOption("help", "Print the usage and exit", type="boolean", short="h"),
)


class Plug(Record):
    """One line of ``list``: the plug, an alias (may be empty), and on/off/None."""

    __slots__ = (
        "id",
        "alias",
        "status",
    )
    _defaults = {"alias": "", "status": None}
    id: str
    alias: str
    status: str | None


class RawOptions:
    """Option values as given (text), by canonical name, with how each was spelled."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.spelled: dict[str, str] = {}
        self.warnings: list[str] = []

    def set(self, opt: FenceOption, spelled: str, value: str) -> None:
        name = opt.alias_of or opt.name
        previous = self.values.get(name)
        if previous is not None and previous != value and opt.alias_of:
            other = self.spelled[name]
            warning = f"both {other} and {spelled} are given: the last one, {spelled}, is used"
            if other != spelled and warning not in self.warnings:  # once, however often
                self.warnings.append(warning)
        self.values[name] = value
        self.spelled[name] = spelled


class OptionTable:
    """The options of one agent: the common ones, then the agent's own."""

    def __init__(self, options: Iterable[FenceOption]) -> None:
        self.options: tuple[FenceOption, ...] = tuple(options)
        self.by_name: dict[str, FenceOption] = {}
        self.by_long: dict[str, FenceOption] = {}
        self.by_short: dict[str, FenceOption] = {}
        for opt in self.options:
            for index, key in (
                (self.by_name, opt.name),
                (self.by_long, opt.longopt),
                (self.by_short, opt.short),
            ):
                if not key:
                    continue
                if key in index:
                    raise ValueError(f"option {key!r} is declared twice")
                index[key] = opt

    def __iter__(self) -> Iterator[FenceOption]:
        return iter(self.options)

    # -- input ---------------------------------------------------------------
    def parse_argv(self, args: Sequence[str]) -> RawOptions:
        """Options from the command line; raises FenceError on anything it cannot take."""
        raw = RawOptions()
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg.startswith("--") and len(arg) > 2:
                name, eq, value = arg[2:].partition("=")
                opt = self.by_long.get(name)
                if opt is None:
                    raise FenceError(f"unknown option --{name}")
                spelled = f"--{name}"
                _refuse_secret(opt, spelled)
                if opt.type == "boolean":
                    if eq:
                        raise FenceError(f"option {spelled} takes no value")
                    value = "1"
                elif not eq:
                    if i >= len(args):
                        raise FenceError(f"option {spelled} needs a value: {opt.spelled()}")
                    value = args[i]
                    i += 1
                raw.set(opt, spelled, value)
            elif arg.startswith("-") and len(arg) > 1 and arg != "--":
                j = 1
                while j < len(arg):
                    letter = arg[j]
                    j += 1
                    opt = self.by_short.get(letter)
                    if opt is None:
                        raise FenceError(f"unknown option -{letter}")
                    spelled = f"-{letter}"
                    _refuse_secret(opt, spelled)
                    if opt.type == "boolean":
                        raw.set(opt, spelled, "1")
                        continue
                    value = arg[j:]
                    if not value:
                        if i >= len(args):
                            raise FenceError(f"option {spelled} needs a value: {opt.spelled()}")
                        value = args[i]
                        i += 1
                    raw.set(opt, spelled, value)
                    break
            else:
                # fence-agents warn and carry on with the default action (reboot!) when
                # someone types `fence_x status ...`: refuse instead.
                hint = " (give the action as -o ACTION)" if arg.lower() in ACTIONS else ""
                raise FenceError(f"unexpected argument {shown(arg)}{hint}")
        return raw

    def parse_stdin(self, text: str) -> RawOptions:
        """``name=value`` lines as Pacemaker writes them; never raises."""
        raw = RawOptions()
        stray: list[int] = []
        unknown: list[str] = []
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            name, eq, value = line.lstrip().partition("=")
            name = name.strip()
            if not eq or not name:
                stray.append(number)  # not echoed: a stray line may well be a password
                continue
            key = name.replace("-", "_")
            if key in SILENT_NAMES:
                continue
            opt = self.by_name.get(key)
            if opt is None:
                unknown.append(name)
                continue
            # A password is taken as given (spaces and all); everything else trimmed.
            raw.set(opt, name, value if opt.secret else value.strip())
        # One warning of each kind, however many lines: a flood of junk on standard
        # input must not become a flood of log lines.
        if stray:
            lines = ", ".join(str(n) for n in stray[:WARN_EXAMPLES])
            more = f" and {len(stray) - WARN_EXAMPLES} more" if len(stray) > WARN_EXAMPLES else ""
            noun = "line" if len(stray) == 1 else "lines"
            raw.warnings.append(f"ignoring {noun} {lines}{more} of standard input: not name=value")
        if unknown:
            names = ", ".join(shown(n) for n in unknown[:WARN_EXAMPLES])
            more = (
                f" and {len(unknown) - WARN_EXAMPLES} more" if len(unknown) > WARN_EXAMPLES else ""
            )
            noun = "option" if len(unknown) == 1 else "options"
            raw.warnings.append(f"ignoring unknown {noun} {names}{more}")
        return raw

    # -- typed values ----------------------------------------------------------
    def convert(self, raw: RawOptions) -> Params:
        """Typed values with defaults applied; raises FenceError naming the bad option."""
        values = Params()
        for opt in self.options:
            if opt.alias_of:
                continue
            text = raw.values.get(opt.name)
            spelled = raw.spelled.get(opt.name, opt.name)
            if text is None:
                text = opt.default
            values[opt.name] = None if text is None else _typed(opt, spelled, text)
            if opt.type == "boolean" and values[opt.name] is None:
                values[opt.name] = False
        return values


def _refuse_secret(opt: FenceOption, spelled: str) -> None:
    if opt.secret:
        raise FenceError(
            f"{spelled}: a {opt.name} must not be given on the command line, where every "
            f"user can read it (ps, /proc): use --{opt.name}-file=PATH, "
            f"--{opt.name}-script=COMMAND or {opt.name}= on standard input"
        )


def _typed(opt: FenceOption, spelled: str, text: str) -> Any:
    quoted = "(hidden)" if opt.secret else shown(text)
    value: Any
    if opt.type == "boolean":
        value = parse_bool(text)
        if value is None:
            raise FenceError(
                f"option {spelled}: {quoted} is not a boolean (use 1/0, yes/no, true/false, on/off)"
            )
    elif opt.type == "integer":
        if not _is_integer(text.strip()) or len(text.strip()) > 18:
            raise FenceError(f"option {spelled}: {quoted} is not a whole number in range")
        value = int(text.strip(), 10)
    elif opt.type == "second":
        if not is_decimal(text.strip()):
            raise FenceError(
                f"option {spelled}: {quoted} is not a number of seconds (e.g. 5 or 2.5)"
            )
        value = float(text.strip())
        if value > MAX_SECONDS:
            raise FenceError(
                f"option {spelled}: {quoted} is more than {MAX_SECONDS} seconds; "
                "Pacemaker's fencing timeout is far shorter"
            )
    else:
        value = text
        if any((ord(c) < 32 and c != "\t") or c == "\x7f" for c in text):
            raise FenceError(f"option {spelled}: {quoted} contains control characters")
    if opt.check is not None:
        problem = opt.check(value)
        if problem:
            raise FenceError(f"option {spelled}: {problem}")
    return value


class FenceContext:
    """What the agent's callbacks receive."""

    def __init__(
        self,
        action: str,
        options: Params,
        log: OcfLogger,
        deadline: Deadline,
        runner: CommandRunner | None,
        host: Host | None = None,
    ) -> None:
        self.action = action
        # The machine: programs, clock (the framework's and the agent's; a test's fake).
        self.host = Host() if host is None else host
        self.options = options
        self.log = log
        self.deadline = deadline  # the whole run's bound; libvirt calls use it
        self._runner = runner
        self.password: str | None = None  # set from password/_file/_script before connect
        # What one callback leaves for the next: the agent's own typed object, which
        # it creates and checks the type of (``isinstance``).
        self.state: object = None

    @property
    def runner(self) -> CommandRunner:
        if self._runner is None:
            from .runner import CommandRunner

            self._runner = CommandRunner()
        return self._runner

    @property
    def plug(self) -> str:
        plug: str = self.options.plug
        return plug


class FenceAgent:
    """Base of every havirt fence agent.

    A subclass declares ``name``, ``shortdesc``, ``longdesc``, ``vendor_url``
    and its own ``options``, and implements the callbacks below. Callbacks
    raise ``FenceError`` for a failure the admin must read.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1.0"
    shortdesc: ClassVar[str]
    longdesc: ClassVar[str]
    vendor_url: ClassVar[str] = ""
    options: ClassVar[tuple[FenceOption, ...]] = ()

    _table: ClassVar[OptionTable | None] = None

    @classmethod
    def option_table(cls) -> OptionTable:
        table: OptionTable | None = cls.__dict__.get("_table")  # never a base class's
        if table is None:
            table = cls._table = OptionTable((*COMMON_OPTIONS, *cls.options))
        return table

    def validate(self, ctx: FenceContext) -> None:
        """Checks across options, without touching the device; raise FenceError."""

    def connect(self, ctx: FenceContext) -> Any:
        """A session with the fence device, handed to the other callbacks."""
        return None

    def close(self, ctx: FenceContext, session: Any) -> None:
        """End the session; must not raise."""

    def get_power_status(self, ctx: FenceContext, session: Any, plug: str) -> str:
        """ON or OFF."""
        raise NotImplementedError

    def set_power_status(self, ctx: FenceContext, session: Any, plug: str, state: str) -> None:
        """Ask the device to turn ``plug`` ON or OFF; the framework verifies the outcome."""
        raise NotImplementedError

    def list_plugs(self, ctx: FenceContext, session: Any) -> list[Plug]:
        raise NotImplementedError

    def monitor(self, ctx: FenceContext, session: Any) -> None:
        """Is the device reachable and working? Listing its plugs says so."""
        self.list_plugs(ctx, session)


def usage(agent: type[FenceAgent]) -> str:
    lines = [
        f"Usage: {agent.name} [options]",
        f"       {agent.name} < options-file   (name=value lines, as Pacemaker passes them)",
        "",
        "Options:",
    ]
    for opt in agent.option_table():
        if opt.alias_of:
            continue
        default = f" (default: {opt.default})" if opt.default not in (None, "") else ""
        lines.append(f"  {opt.spelled():<34} {opt.shortdesc}{default}")
    lines += [
        "",
        f"Exit codes: {EXIT_OK} success (status: on), {EXIT_OFF} status: off, "
        f"{EXIT_ERROR} any failure.",
    ]
    return "\n".join(lines) + "\n"


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
    runner: CommandRunner | None = None,
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
        return EXIT_ERROR

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
                raise FenceError(
                    f"standard input is larger than {STDIN_LIMIT >> 10} KiB: "
                    "Pacemaker passes a few name=value lines"
                )
            raw = table.parse_stdin(text)
    except UnicodeDecodeError:
        return fail(f"standard input is not UTF-8 text; see {agent.name} --help")
    except FenceError as exc:
        return fail(f"{exc}; see {agent.name} --help")
    for warning in raw.warnings:
        err.write(f"WARNING: {warning}\n")
    if parse_bool(raw.values.get("help", "")):
        out.write(usage(type(agent)))
        return EXIT_OK
    if parse_bool(raw.values.get("version", "")):
        out.write(f"{agent.name} {agent.version}\n")
        return EXIT_OK
    action = raw.values.get("action", "reboot").strip().lower()
    action = ACTION_ALIASES.get(action, action)
    if action == "metadata":  # needs no valid options: Pacemaker passes only the action
        from .fence_metadata import render

        out.write(render(type(agent)))
        out.flush()
        return EXIT_OK
    if action not in ACTIONS:
        return fail(f"unknown action {shown(action)} (one of: {', '.join(ACTIONS)})")
    try:
        options = table.convert(raw)
    except FenceError as exc:
        return fail(str(exc))
    options["action"] = action
    log = _logger(agent, options, err)
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


def _logger(agent: FenceAgent, options: Params, err: TextIO) -> OcfLogger:
    environ = {"HA_debug": "1" if options.verbose else "0"}
    if options.debug_file:
        environ["HA_DEBUGLOG"] = options.debug_file
    log = OcfLogger(agent.name, environ, err)
    # Pacemaker's fencer logs what a fence agent writes to stderr: always write it.
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

    return Watchdog(total + WATCHDOG_SLACK, answer, EXIT_ERROR)


def _run_action(agent: FenceAgent, ctx: FenceContext, out: TextIO, started: float) -> int:
    log = ctx.log
    session: Any = None
    connected = False
    try:
        if ctx.action in PLUG_ACTIONS and not ctx.options.plug:
            raise FenceError(
                f"no plug given for {ctx.action}: set plug=NAME_OR_UUID "
                "(Pacemaker passes it from pcmk_host_map or the node name; "
                "on the command line: -n NAME)"
            )
        _check_password_sources(ctx)
        agent.validate(ctx)
        if ctx.action == "validate-all":
            _validate_password_sources(ctx)
            log.debug("the options are valid")
            return EXIT_OK
        if ctx.action in ("off", "reboot") and ctx.options.delay > 0:
            wait = ctx.options.delay - (ctx.host.monotonic() - started)
            if wait > 0:
                log.info(f"waiting {wait:.1f}s (delay) before {ctx.action}")
                ctx.host.sleep(wait)
        ctx.password = _read_password(ctx)
        session = agent.connect(ctx)
        connected = True
        return _act(agent, ctx, session, out)
    except FenceError as exc:
        log.error(str(exc))
        return EXIT_ERROR
    except Exception as exc:  # a bug must still give the fencer a definite answer
        import traceback  # only on this rare path

        log.error(f"{ctx.action}: internal error: {exc!r}\n{traceback.format_exc()}")
        return EXIT_ERROR
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
        return EXIT_OK
    if action == "monitor":
        agent.monitor(ctx, session)
        return EXIT_OK
    status = _status(agent, ctx, session, plug)
    if action == "status":
        say(f"Status: {status.upper()}")
        return EXIT_OK if status == ON else EXIT_OFF
    if action in (ON, OFF):
        if status == action:
            say(f"Success: Already {status.upper()}")
            return EXIT_OK
        _change(agent, ctx, session, plug, action)
        say(f"Success: Powered {action.upper()}")
        return EXIT_OK
    # reboot: off, verified, then on; the fencing is done once off is verified.
    if status != OFF:
        _change(agent, ctx, session, plug, OFF)
    else:
        ctx.log.info(f"{plug} is already OFF")
    try:
        _change(agent, ctx, session, plug, ON)
    except FenceError as exc:
        ctx.log.warn(f"{plug} is OFF (fenced), but powering it ON again failed: {exc}")
    say("Success: Rebooted")
    return EXIT_OK


def _status(agent: FenceAgent, ctx: FenceContext, session: Any, plug: str) -> str:
    status = agent.get_power_status(ctx, session, plug)
    if status not in (ON, OFF):
        raise FenceError(f"the device reported an unknown state {shown(status)} for {plug}")
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
        problem: FenceError | None = None
        try:
            current = _status(agent, ctx, session, plug)
        except FenceError as exc:
            current, problem = None, exc
        if current == state:
            ctx.log.info(f"verified: {plug} is {state.upper()}")
            return
        if window.expired():
            seen = f"the last query failed: {problem}" if problem else f"it is {current}"
            raise FenceError(
                f"{plug} did not reach {state.upper()} within power_timeout="
                f"{opts.power_timeout:g}s ({seen})"
            )
        ctx.host.sleep(min(POLL_INTERVAL, window.remaining()))


# -- passwords -------------------------------------------------------------------------


def _check_password_sources(ctx: FenceContext) -> None:
    given = [n for n in ("password", "password_file", "password_script") if ctx.options.get(n)]
    if len(given) > 1:
        raise FenceError(f"give only one of {', '.join(given)}: they all set the password")


def _validate_password_sources(ctx: FenceContext) -> None:
    """validate-all: the file is readable and the script exists, without reading or running."""
    path = ctx.options.get("password_file")
    if path and not os.access(path, os.R_OK):
        raise FenceError(f"password_file {path} cannot be read")
    script = ctx.options.get("password_script")
    if script:
        argv = _script_argv(script)
        program = argv[0]
        if "/" in program:
            found = os.access(program, os.X_OK)
        else:
            found = ctx.host.which(program) is not None
        if not found:
            raise FenceError(f"password_script: {program} is not an executable program")


def _script_argv(script: str) -> list[str]:
    import shlex  # only when a password script is configured

    try:
        argv = shlex.split(script)
    except ValueError as exc:
        raise FenceError(
            f"password_script: cannot split {shown(script)} into words: {exc}"
        ) from None
    if not argv:
        raise FenceError("password_script is empty")
    return argv


def _read_password(ctx: FenceContext) -> str | None:
    opts = ctx.options
    if opts.get("password"):
        password: str = opts.password
        return password
    if opts.get("password_file"):
        path = opts.password_file
        from .files import FileProblem, read_text

        try:  # without blocking on a FIFO, never past 64 KiB (/dev/zero), regular files only
            first = read_text(path, "password_file", limit=64 << 10).split("\n", 1)[0]
        except FileProblem as exc:
            raise FenceError(exc.reason) from None
        first = first.rstrip("\r")
        if not first:
            raise FenceError(f"password_file {path} is empty")
        return first
    if opts.get("password_script"):
        argv = _script_argv(opts.password_script)
        seconds = max(0.1, min(opts.login_timeout, ctx.deadline.remaining()))
        result = ctx.runner.run(argv, timeout=seconds)
        # Never quote its standard output in a message: that is the password.
        if result.timed_out:
            raise FenceError(f"password_script {argv[0]} did not finish within {seconds:g}s")
        if result.returncode != 0:
            detail = result.stderr.strip().splitlines()
            tail = f": {detail[-1]}" if detail else ""
            raise FenceError(f"password_script {argv[0]} exited {result.returncode}{tail}")
        lines = result.stdout.splitlines()
        if not lines or not lines[0]:
            raise FenceError(f"password_script {argv[0]} printed no password")
        return lines[0]
    return None


def main(agent_factory: Callable[[], FenceAgent], argv: Sequence[str] | None = None) -> None:
    """Entry point of an installed fence agent."""
    argv = list(sys.argv if argv is None else argv)
    rc = run(agent_factory(), argv, watchdog=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: a libvirt call stuck in a worker thread must not keep us alive.
    os._exit(rc)
