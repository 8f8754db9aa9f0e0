"""Fence options declared as data: :class:`FenceOption`, the options every agent takes
(:data:`COMMON_OPTIONS`), and :class:`OptionTable`, which reads them from the command line
(``-o off``, ``--plug vm1``) or from standard input (``name=value`` lines, as Pacemaker
passes them) and converts them to typed values with one clear message per bad option."""

from __future__ import annotations

from havirt.ocf.fencing.actions import ACTIONS, FenceError
from havirt.ocf.params import Params, is_decimal, is_integer, parse_bool, shown
from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import Any, TypeVar

    T = TypeVar("T")

# Names Pacemaker (and the old fenced) pass on standard input besides the options:
# accepted without a warning, not used.
SILENT_NAMES = frozenset({"nodename", "nodeid", "agent"})
MAX_SECONDS = 86400  # a bound of any "second" option: no fencing waits a day
WARN_EXAMPLES = 3  # unknown options or stray lines named in the one warning of each kind


class FenceOption(Record):
    """One option, as Pacemaker passes it on stdin (``name``) and as typed on the
    command line (``-short`` / ``--long``)."""

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
        pending = iter(args)  # an option's value may be the next argument
        for arg in pending:
            if arg.startswith("--") and len(arg) > 2:
                name, eq, value = arg[2:].partition("=")
                spelled = f"--{name}"
                opt = self._given(self.by_long, name, spelled)
                if opt.type == "boolean":
                    if eq:
                        raise FenceError(f"option {spelled} takes no value")
                    value = "1"
                elif not eq:
                    value = _next_value(pending, opt, spelled)
                raw.set(opt, spelled, value)
            elif arg.startswith("-") and len(arg) > 1 and arg != "--":
                # Letters may be bundled (-vV); the first that takes a value ends the bundle,
                # the rest of the argument (or the next one) being its value.
                for end, letter in enumerate(arg[1:], 2):
                    spelled = f"-{letter}"
                    opt = self._given(self.by_short, letter, spelled)
                    if opt.type == "boolean":
                        raw.set(opt, spelled, "1")
                        continue
                    raw.set(opt, spelled, arg[end:] or _next_value(pending, opt, spelled))
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
            lines = _examples("line", stray, str)
            raw.warnings.append(f"ignoring {lines} of standard input: not name=value")
        if unknown:
            raw.warnings.append(f"ignoring unknown {_examples('option', unknown, shown)}")
        return raw

    def _given(self, index: dict[str, FenceOption], key: str, spelled: str) -> FenceOption:
        """The option the command line names as ``spelled``, if it may be given there."""
        opt = index.get(key)
        if opt is None:
            raise FenceError(f"unknown option {spelled}")
        if opt.secret:
            raise FenceError(
                f"{spelled}: a {opt.name} must not be given on the command line, where every "
                f"user can read it (ps, /proc): use --{opt.name}-file=PATH, "
                f"--{opt.name}-script=COMMAND or {opt.name}= on standard input"
            )
        return opt

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


def _next_value(pending: Iterator[str], opt: FenceOption, spelled: str) -> str:
    """The argument after an option that takes a value (``-n vm1``, ``--plug vm1``)."""
    value = next(pending, None)
    if value is None:
        raise FenceError(f"option {spelled} needs a value: {opt.spelled()}")
    return value


def _examples(noun: str, items: Sequence[T], show: Callable[[T], str]) -> str:
    """``noun`` (plural for more than one) and the first WARN_EXAMPLES of ``items``,
    each as ``show`` says: ``lines 1, 2, 3 and 4 more``."""
    named = ", ".join(show(item) for item in items[:WARN_EXAMPLES])
    more = f" and {len(items) - WARN_EXAMPLES} more" if len(items) > WARN_EXAMPLES else ""
    return f"{noun if len(items) == 1 else noun + 's'} {named}{more}"


def _boolean(text: str, what: str) -> bool:
    value = parse_bool(text)
    if value is None:
        raise FenceError(f"{what} is not a boolean (use 1/0, yes/no, true/false, on/off)")
    return value


def _integer(text: str, what: str) -> int:
    if not is_integer(text.strip()) or len(text.strip()) > 18:
        raise FenceError(f"{what} is not a whole number in range")
    return int(text.strip(), 10)


def _seconds(text: str, what: str) -> float:
    if not is_decimal(text.strip()):
        raise FenceError(f"{what} is not a number of seconds (e.g. 5 or 2.5)")
    value = float(text.strip())
    if value > MAX_SECONDS:
        raise FenceError(
            f"{what} is more than {MAX_SECONDS} seconds; Pacemaker's fencing timeout is far shorter"
        )
    return value


def _string(text: str, what: str) -> str:
    if any((ord(c) < 32 and c != "\t") or c == "\x7f" for c in text):
        raise FenceError(f"{what} contains control characters")
    return text


# The value of an option of each type (FenceOption.type) from its text; ``what`` starts
# the error message ("option --plug: 'x'"). Any other type is a string.
_CONVERT: dict[str, Callable[[str, str], Any]] = {
    "boolean": _boolean,
    "integer": _integer,
    "second": _seconds,
}


def _typed(opt: FenceOption, spelled: str, text: str) -> Any:
    quoted = "(hidden)" if opt.secret else shown(text)
    value = _CONVERT.get(opt.type, _string)(text, f"option {spelled}: {quoted}")
    if opt.check is not None:
        problem = opt.check(value)
        if problem:
            raise FenceError(f"option {spelled}: {problem}")
    return value
