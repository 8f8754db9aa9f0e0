"""The nodes to validate: name, address, SSH user and port.

A target comes from ``--host NAME[=[USER@]ADDRESS[:PORT]]`` or from the
inventory (``--inventory FILE``): :func:`from_inventory` turns its node list
into the same :class:`Target` objects.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from havirt.tools.errors import BadRequest, HavirtError

# Exit code for "validate could not run at all" (bad options, no nodes): 1 means "mismatches".

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]*\$?$", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """One node: ``name`` as the cluster knows it, where to reach it over SSH and as whom.

    ``user`` and ``port`` None let the SSH configuration decide (ssh_config
    ``User``/``Port``, else the local user name and 22), as ``ssh`` does.
    """

    name: str
    address: str
    user: str | None = None
    port: int | None = None

    @property
    def name_is_address(self) -> bool:
        """True when the node is known only by an IP address (no name to check)."""
        return is_ip(self.name)

    def describe(self) -> str:
        who = f"{self.user}@" if self.user else ""
        host = f"[{self.address}]" if ":" in self.address else self.address
        port = f":{self.port}" if self.port not in (None, 22) else ""
        return f"{who}{host}{port}"


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _bad(spec: str, why: str) -> BadRequest:
    return BadRequest(
        f"invalid host '{spec}': {why}",
        hint="write NAME or NAME=ADDRESS, optionally NAME=USER@ADDRESS:PORT "
        "(an IPv6 address in brackets: NAME=[fd00::1]:22)",
    )


def parse_host(
    spec: str, default_user: str | None = None, default_port: int | None = None
) -> Target:
    """``NAME[=[USER@]ADDRESS[:PORT]]`` -> :class:`Target` (raises HavirtError)."""
    name, sep, where = spec.partition("=")
    name = name.strip()
    if not name or not _NAME_RE.match(name):
        raise _bad(spec, "the node name is empty or has characters a host name cannot have")
    if not sep:
        return Target(name, name, default_user, default_port)
    user, at, hostport = where.rpartition("@")
    if not at:
        user = ""
    if at and not _USER_RE.match(user):
        raise _bad(spec, f"'{user}' is not a user name")
    address, port_text = hostport, ""
    if hostport.startswith("["):  # [IPv6]:port
        address, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _bad(spec, "unbalanced brackets around the address")
        port_text = rest[1:]
    elif hostport.count(":") == 1:
        address, _, port_text = hostport.partition(":")
    if not address or any(c.isspace() for c in address):
        raise _bad(spec, "the address is empty or contains white space")
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _bad(spec, f"'{port_text}' is not a port number")
        port = int(port_text)
    return Target(name, address, user or default_user, port)


def parse_hosts(
    specs: Iterable[str], default_user: str | None = None, default_port: int | None = None
) -> list[Target]:
    targets = [parse_host(spec, default_user, default_port) for spec in specs]
    check_distinct(targets)
    return targets


def check_distinct(targets: list[Target]) -> None:
    seen: set[str] = set()
    for target in targets:
        if target.name in seen:
            raise BadRequest(
                f"node '{target.name}' is given twice",
                hint="name each node once (the new host is not a member yet)",
            )
        seen.add(target.name)


def from_inventory(path: Path, default_user: str | None = None) -> list[Target]:
    """The nodes of an inventory file (``havirt inventory``), as targets: each node by
    its name at its first address; the user is ``default_user`` (None: ssh decides).

    An inventory with problems raises the inventory's own line-numbered error."""
    from havirt.tools.inventory import loader

    try:
        inventory = loader.load(str(path))
    except HavirtError as exc:  # validate cannot run on it: a bad request
        raise BadRequest(exc.message, exc.hint) from None
    return [Target(node.name, str(node.addresses[0].ip), default_user) for node in inventory.nodes]
