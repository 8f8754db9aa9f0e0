"""Where a live migration goes: remote URI, migration URI and flags.

Pure functions with the same meaning as ``ocf:heartbeat:VirtualDomain``'s
parameters (remoteuri, migration_transport, migration_user,
migration_network_suffix, migrateuri, migrateport, migrate_options), but
parsed and checked instead of passed to virsh as text.
"""

from __future__ import annotations

import re
import shlex
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

USER_RE = re.compile(r"^[a-z_][-a-z0-9_.]*$")
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


class MigrationConfigError(ValueError):
    pass


class MigrateOptions(NamedTuple):
    switches: tuple[str, ...]
    migrateuri: str | None


def check_uri(uri: str, what: str) -> str | None:
    """An error text when ``uri`` is not a usable libvirt URI, else None."""
    if any(c.isspace() for c in uri):
        return f"'{uri}' contains white space; {what} must be one libvirt URI"
    parts = urlsplit(uri)
    if not parts.scheme or not re.fullmatch(r"[a-z][a-z0-9]*(\+[a-z0-9]+)?", parts.scheme):
        return f"'{uri}' is not a libvirt URI (expected e.g. qemu:///system)"
    if "://" not in uri:
        return f"'{uri}' is not a libvirt URI (missing '://', e.g. qemu:///system)"
    transport = parts.scheme.partition("+")[2]
    if transport not in TRANSPORTS:
        return f"'{uri}' uses unknown transport '{transport}' (one of: {', '.join(TRANSPORTS[1:])})"
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return f"'{uri}' has a malformed port"
    return None


def parse_migrate_options(text: str | None) -> MigrateOptions:
    """Split ``migrate_options`` into flag switches and an optional --migrateuri."""
    if not text:
        return MigrateOptions((), None)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise MigrationConfigError(f"cannot parse '{text}': {exc}") from None
    switches: list[str] = []
    migrateuri = None
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--migrateuri="):
            migrateuri = word.split("=", 1)[1]
        elif word == "--migrateuri" and i + 1 < len(words):
            i += 1
            migrateuri = words[i]
        elif word in FLAG_SWITCHES:
            switches.append(word)
        else:
            raise MigrationConfigError(
                f"unsupported option '{word}' (supported: {' '.join(FLAG_SWITCHES)} "
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


def remote_uri(
    local_uri: str,
    target_node: str,
    *,
    remoteuri: str | None = None,
    transport: str | None = None,
    user: str | None = None,
    network_suffix: str | None = None,
) -> str:
    """The URI of the target node's hypervisor, derived like the stock agent does."""
    if remoteuri:
        return remoteuri.replace("%n", target_node)
    host = with_suffix(target_node, network_suffix)
    if user:
        host = f"{user}@{host}"
    parts = urlsplit(local_uri)
    driver, _, local_transport = parts.scheme.partition("+")
    if not transport and local_transport != "unix":  # unix cannot reach another node
        transport = local_transport
    scheme = f"{driver}+{transport}" if transport else driver
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((scheme, netloc, parts.path or "/system", parts.query, ""))


def migrate_uri(
    local_uri: str,
    target_node: str,
    *,
    migrateuri: str | None = None,
    options_uri: str | None = None,
    network_suffix: str | None = None,
    port: int | None = None,
) -> str | None:
    """The URI for the migration data stream; None lets libvirt choose."""
    if migrateuri:
        return migrateuri.replace("%n", target_node)
    if options_uri:
        return options_uri.replace("%n", target_node)
    if network_suffix:
        host = with_suffix(target_node, network_suffix)
        if urlsplit(local_uri).scheme.partition("+")[0] == "qemu":
            return f"tcp://{host}:{port}" if port else f"tcp://{host}"
        return host
    if port:
        return f"tcp://{target_node}:{port}"
    return None
