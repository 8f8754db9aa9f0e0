"""Where a live migration goes (remote URI, migration URI and flags) and how
migrate_to shares out its timeout.

Pure functions with the same meaning as ``ocf:heartbeat:VirtualDomain``'s
parameters (remoteuri, migration_transport, migration_user,
migration_network_suffix, migrateuri, migrateport, migrate_options), but
parsed and checked instead of passed to virsh as text.
"""

from __future__ import annotations

from havirt.ocf.params import shown
from havirt.ocf.record import Record

_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_USER_FIRST = _LOWER | {"_"}
_USER_REST = _USER_FIRST | frozenset("0123456789-.")
_DRIVER = _LOWER | frozenset("0123456789")


def valid_user(name: str) -> bool:
    """A POSIX-style user name, as the stock agent accepts for migration_user."""
    return bool(name) and name[0] in _USER_FIRST and set(name) <= _USER_REST


TRANSPORTS = ("", "ssh", "tcp", "tls", "unix", "ext", "libssh", "libssh2")
# virsh migrate switches that take no value and map onto libvirt flags.
FLAG_SWITCHES = (
    "--live",
    "--p2p",
    "--peer2peer",
    "--tunnelled",
    "--tunneled",
    "--persistent",
    "--undefinesource",
    "--suspend",
    "--copy-storage-all",
    "--copy-storage-inc",
    "--copy-storage-synchronous-writes",
    "--change-protection",
    "--unsafe",
    "--compressed",
    "--auto-converge",
    "--rdma-pin-all",
    "--abort-on-error",
    "--postcopy",
    "--tls",
    "--parallel",
)


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


class MigrationBudget(Record):
    """How migrate_to shares out its timeout ``total``; each field in seconds.

    Counted back from Pacemaker's timeout (the ends follow one another)::

        start .. abort_at .. settle_by .. answer_by .. watchdog .. timeout
                 |<- abort_reserve ->|<- final ->|<- watchdog_abort + margin ->|

    The agent aborts the job at ``abort_at``, waits for libvirt to end it until
    ``settle_by``, checks the guest's state and answers by ``answer_by``. The
    watchdog fires ``watchdog_abort`` before its answer (``answer_margin``
    before the timeout) and spends that time aborting the job itself.
    """

    total: float
    answer_margin: float  # the watchdog answers this long before the timeout
    watchdog_abort: float  # the watchdog's own abortJob, before it answers
    final: float  # the agent's last state check (half of it at most) and its answer
    abort_reserve: float  # from the agent's abort to settle_by: abortJob, libvirt's cleanup
    abort_call: float  # the longest the agent waits for abortJob's answer

    @property
    def answer_by(self) -> float:
        """Seconds after the start by which the agent answers (the watchdog fires then)."""
        return self.total - self.answer_margin - self.watchdog_abort

    @property
    def settle_by(self) -> float:
        return self.answer_by - self.final

    @property
    def abort_at(self) -> float:
        """Seconds after the start at which the agent aborts a migration still running
        (0: at once, the timeout is too short for a migration)."""
        return max(0.0, self.settle_by - self.abort_reserve)


def migration_budget(total: float) -> MigrationBudget:
    """The budget of a migrate_to with a timeout of ``total`` seconds.

    Each reserve scales with the timeout and has a floor that holds on a busy
    machine (both cores taken: libvirtd, QEMU and the agent wait for CPU), and a
    ceiling so a long timeout is spent migrating rather than waiting."""
    from havirt.ocf.watchdog import answer_margin

    abort_reserve = _clamp(total * 0.15, 2.5, 20.0)
    return MigrationBudget(
        total=total,
        answer_margin=answer_margin(total),
        watchdog_abort=_clamp(total * 0.05, 1.5, 5.0),
        final=_clamp(total * 0.03, 1.0, 3.0),
        abort_reserve=abort_reserve,
        abort_call=min(5.0, abort_reserve / 2),
    )


class MigrationConfigError(ValueError):
    pass


class MigrateOptions(Record):
    switches: tuple[str, ...]
    migrateuri: str | None


# Never part of a libvirt URI, but of a shell command line ("qemu:///system;id").
_SHELL_CHARS = frozenset(";|&`$<>\\\"'(){}*!")
# Paths of the local drivers' URIs (qemu:///system, lxc:///, ...): anything else is a typo.
_QEMU_PATHS = ("/system", "/session", "/embed")


def check_uri(uri: str, what: str) -> str | None:
    """An error text when ``uri`` is not a usable libvirt URI, else None."""
    plain = _plain_text_error(
        uri, f"contains white space; {what} must be one libvirt URI", "; not a libvirt URI"
    )
    if plain:
        return plain
    head = uri.split("?", 1)[0]  # a query (?keyfile=...&no_verify=1) may hold '&'
    bad = sorted(set(head) & _SHELL_CHARS) or sorted(
        set(uri.partition("?")[2]) & (_SHELL_CHARS - {"&"})
    )
    if bad:
        return (
            f"{shown(uri)} contains {' '.join(repr(c) for c in bad)}: not a libvirt URI "
            "(e.g. qemu:///system or qemu+ssh://node2/system)"
        )
    # Parsed by hand, not with urllib or re: this runs in every monitor (hypervisor=...).
    # driver[+transport]://[user@][host][:port][/path][?query]
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return f"{shown(uri)} is not a libvirt URI (missing '://', e.g. qemu:///system)"
    driver, _, transport = scheme.partition("+")
    if not driver or driver[0] not in _LOWER or not set(scheme) <= _DRIVER | {"+"}:
        return f"{shown(uri)} is not a libvirt URI (expected e.g. qemu:///system)"
    if transport not in TRANSPORTS:
        return (
            f"{shown(uri)} uses unknown transport {shown(transport)} "
            f"(one of: {', '.join(TRANSPORTS[1:])})"
        )
    authority = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    if authority.startswith("["):  # [IPv6]:port
        port = authority.partition("]")[2].partition(":")[2] or None
    else:
        _host, colon, port = authority.partition(":")
        port = port if colon else None
    if port is not None and not (port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
        return f"{shown(uri)} has a malformed port"
    if driver == "qemu":
        path = "/" + rest.split("?", 1)[0].partition("/")[2] if "/" in rest else ""
        if path not in _QEMU_PATHS:
            return (
                f"{shown(uri)} has the path {shown(path or '(none)')}; a qemu URI ends in "
                "/system (or /session), e.g. qemu:///system"
            )
    return None


URI_LIMIT = 1024


def _plain_text_error(value: str, white_space: str, tail: str = "") -> str | None:
    """The first checks of any URI: at most URI_LIMIT characters, no white space (the
    ``white_space`` text says why not), printable ASCII; ``tail`` ends the texts of the
    other two. None when ``value`` passes them."""
    if len(value) > URI_LIMIT:
        return f"{shown(value)} is longer than {URI_LIMIT} characters{tail}"
    if any(c.isspace() for c in value):
        return f"{shown(value)} {white_space}"
    if not value.isprintable() or not value.isascii():
        return f"{shown(value)} contains control or non-ASCII characters{tail}"
    return None


def check_migrateuri(value: str) -> str | None:
    """An error text when ``value`` cannot be a migration URI (tcp://host:port,
    tcp:host:port, rdma://..., unix:///path, a bare host), else None."""
    if not value:
        return "is empty: give a URI like tcp://%n:49152, or leave it out"
    plain = _plain_text_error(value, "must not contain white space")
    if plain:
        return plain
    bad = sorted(set(value) & _SHELL_CHARS)
    if bad:
        return f"{shown(value)} contains {' '.join(repr(c) for c in bad)}: not a migration URI"
    if value.startswith("-"):
        return f"{shown(value)} starts with '-': not a migration URI"
    return None


def parse_migrate_options(text: str | None) -> MigrateOptions:
    """Split ``migrate_options`` into flag switches and an optional --migrateuri."""
    if not text:
        return MigrateOptions((), None)
    try:
        import shlex  # only when there are options to parse

        words = shlex.split(text)
    except ValueError as exc:
        raise MigrationConfigError(f"cannot parse {shown(text)}: {exc}") from None
    switches: list[str] = []
    migrateuri = None
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--migrateuri=") or (word == "--migrateuri" and i + 1 < len(words)):
            if "=" in word:
                migrateuri = word.split("=", 1)[1]
            else:
                i += 1
                migrateuri = words[i]
            problem = check_migrateuri(migrateuri)
            if problem:
                raise MigrationConfigError(f"--migrateuri {problem}")
        elif word in FLAG_SWITCHES:
            switches.append(word)
        else:
            raise MigrationConfigError(
                f"unsupported option {shown(word)} (supported: {' '.join(FLAG_SWITCHES)} "
                "--migrateuri=URI; bandwidth and downtime have their own parameters)"
            )
        i += 1
    return MigrateOptions(tuple(switches), migrateuri)


def with_suffix(node: str, suffix: str | None) -> str:
    """Insert the migration network suffix before the first dot of an FQDN."""
    if not suffix:
        return node
    head, dot, tail = node.partition(".")
    return f"{head}{suffix}{dot}{tail}"


class Route(Record):
    """How migrations reach another node, from the guest agent's parameters, derived
    like the stock agent does: the node's hypervisor URI (``remoteuri``, else the local
    URI's driver with ``transport``, ``user`` and the node name with ``network_suffix``)
    and the URI of the migration data stream (``migrateuri``, the ``--migrateuri`` of
    migrate_options, the suffixed node with ``port``, or libvirt's choice)."""

    remoteuri: str | None
    transport: str | None
    user: str | None
    network_suffix: str | None
    migrateuri: str | None
    options_uri: str | None
    port: int | None
    _defaults = dict.fromkeys(
        ("remoteuri", "transport", "user", "network_suffix", "migrateuri", "options_uri", "port")
    )

    def remote_uri(self, local_uri: str, target_node: str) -> str:
        """The URI of the target node's hypervisor."""
        if self.remoteuri:
            return self.remoteuri.replace("%n", target_node)
        host = with_suffix(target_node, self.network_suffix)
        if self.user:
            host = f"{self.user}@{host}"
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(local_uri)
        driver, _, local_transport = parts.scheme.partition("+")
        transport = self.transport
        if not transport and local_transport != "unix":  # unix cannot reach another node
            transport = local_transport
        scheme = f"{driver}+{transport}" if transport else driver
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((scheme, netloc, parts.path or "/system", parts.query, ""))

    def data_uri(self, local_uri: str, target_node: str) -> str | None:
        """The URI for the migration data stream; None lets libvirt choose."""
        if self.migrateuri:
            return self.migrateuri.replace("%n", target_node)
        if self.options_uri:
            return self.options_uri.replace("%n", target_node)
        if self.network_suffix:
            host = with_suffix(target_node, self.network_suffix)
            if local_uri.partition(":")[0].partition("+")[0] == "qemu":
                return f"tcp://{host}:{self.port}" if self.port else f"tcp://{host}"
            return host
        if self.port:
            return f"tcp://{target_node}:{self.port}"
        return None
