"""How a command reaches the cluster's nodes over SSH: the options (``--host``,
``--inventory``, the SSH user, port, keys, known_hosts, ssh_config and the time limits)
and turning them into targets and a connector. Shared by ``havirt validate`` and
``havirt domain sync``; fabric and paramiko load only when a command runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from havirt.tools.cli.common import Number, seconds_option

if TYPE_CHECKING:
    from havirt.tools.validate.engine import Connector
    from havirt.tools.validate.targets import Target

F = TypeVar("F", bound=Callable[..., Any])
LIMIT = Number(float, 1, 3600, unit="seconds")  # the connection's and each command's
HOST = "NAME[=[USER@]ADDRESS[:PORT]]"


@dataclass(frozen=True)
class NodeAccess:
    """Which nodes, and how to reach them: what :func:`node_options` parsed."""

    hosts: tuple[str, ...]
    inventory: Path | None
    user: str | None
    port: int | None
    identities: tuple[str, ...]
    known_hosts: tuple[str, ...]
    ssh_config: str | None
    connect_timeout: float
    command_timeout: float  # each remote command


def node_options(command: F) -> F:
    """The options that say which nodes and how to reach them; the command gets them as
    one :class:`NodeAccess`, its parameter ``access``."""
    names = [f.name for f in fields(NodeAccess)]

    @functools.wraps(command)
    def with_access(*args: Any, **kwargs: Any) -> Any:
        access = NodeAccess(**{name: kwargs.pop(name) for name in names})
        return command(*args, access=access, **kwargs)

    for option in reversed(_OPTIONS):
        with_access = option(with_access)
    return with_access  # type: ignore[return-value]


_OPTIONS = (
    click.option(
        "--host",
        "hosts",
        multiple=True,
        metavar=HOST,
        help="A cluster node (repeat for each). NAME is the node's name in the cluster; "
        "ADDRESS where to reach it over SSH (default: NAME).",
    ),
    click.option(
        "--inventory",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Take the nodes from an inventory file.",
    ),
    click.option(
        "--user",
        "-u",
        metavar="USER",
        help="SSH user where a node names none (default: ssh_config's User, else your "
        "user name). Non-root works if the user is in the libvirt group.",
    ),
    click.option(
        "--port",
        "-p",
        type=Number(int, 1, 65535),
        help="SSH port where a node names none (default: ssh_config's Port, else 22).",
    ),
    click.option(
        "--identity",
        "-i",
        "identities",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False),
        help="Private key to use (repeatable); only these keys are tried. "
        "Default: ~/.ssh/id_* and the SSH agent.",
    ),
    click.option(
        "--known-hosts",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="known_hosts file to verify host keys against (repeatable). Default: "
        "~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts. Unknown or changed keys are "
        "refused.",
    ),
    click.option(
        "--ssh-config",
        type=click.Path(dir_okay=False),
        help="ssh_config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config.",
    ),
    seconds_option("--connect-timeout", default=10.0, kind=LIMIT),
    seconds_option(
        "--timeout",
        "command_timeout",
        default=20.0,
        help="Limit for each remote command.",
        kind=LIMIT,
    ),
)


def reach(access: NodeAccess, purpose: str) -> tuple[list[Target], Connector]:
    """The nodes the options name (``--host`` ones after the inventory's) and the SSH
    connector to reach them; BadRequest when they name none or a file is unusable."""
    import os

    from havirt.tools.cli.world import command_world
    from havirt.tools.errors import BadRequest, HavirtError
    from havirt.tools.userinput import read_bytes
    from havirt.tools.validate import targets

    a = access
    nodes = targets.parse_hosts(a.hosts, a.user, a.port)
    if a.inventory is not None:
        nodes = targets.from_inventory(a.inventory, a.user) + nodes
        targets.check_distinct(nodes)
    if not nodes:
        raise BadRequest(
            f"no nodes to {purpose}",
            hint="name them with --host NAME=ADDRESS (once per node), or --inventory FILE",
        )
    # paramiko would block on a FIFO or read /dev/zero until memory runs out
    files = [(p, "--known-hosts") for p in a.known_hosts]
    files += [(p, "--identity") for p in a.identities]
    files += [(a.ssh_config, "--ssh-config")] if a.ssh_config else []
    for path, option in files:
        if os.path.lexists(path) and os.path.realpath(path) != os.devnull:  # ssh -F /dev/null
            try:
                read_bytes(path, f"{option} file", 1 << 20)
            except HavirtError as exc:  # a bad option: the command cannot run
                raise BadRequest(exc.message, exc.hint) from None
    connector = command_world().connector(
        a.known_hosts, a.identities, a.ssh_config, a.connect_timeout
    )
    return nodes, connector
