"""How a command reaches the cluster's nodes over SSH: the options (``--host``,
``--inventory``, the SSH user, port, keys, known_hosts, ssh_config and the time limits)
and turning them into targets and a connector. Shared by ``havirt validate`` and
``havirt domain sync``; fabric and paramiko load only when a command runs.
"""

from __future__ import annotations

from collections.abc import Callable
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


def node_options(new_host: bool = False) -> Callable[[F], F]:
    """The options that say which nodes and how to reach them (with ``new_host``: also
    ``--new-host``, validate's)."""
    options = [
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
        *(
            [
                click.option(
                    "--new-host",
                    metavar=HOST,
                    help="A host about to join: compared against the nodes given, which are "
                    "the reference.",
                )
            ]
            if new_host
            else []
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
    ]

    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def time_options(command: F) -> F:
    """``--connect-timeout`` and ``--timeout`` (each remote command)."""
    command = seconds_option(
        "--timeout",
        "command_timeout",
        default=20.0,
        help="Limit for each remote command.",
        kind=LIMIT,
    )(command)
    return seconds_option("--connect-timeout", default=10.0, kind=LIMIT)(command)


def reach(
    hosts: tuple[str, ...],
    inventory: Path | None,
    user: str | None,
    port: int | None,
    identities: tuple[str, ...],
    known_hosts: tuple[str, ...],
    ssh_config: str | None,
    connect_timeout: float,
    purpose: str,
) -> tuple[list[Target], Connector]:
    """The nodes the options name (``--host`` ones after the inventory's) and the SSH
    connector to reach them; BadRequest when they name none or a file is unusable."""
    import os

    from havirt.tools.cli.world import command_world
    from havirt.tools.errors import BadRequest, HavirtError
    from havirt.tools.userinput import read_bytes
    from havirt.tools.validate import targets

    nodes = targets.parse_hosts(hosts, user, port)
    if inventory is not None:
        nodes = targets.from_inventory(inventory, user) + nodes
        targets.check_distinct(nodes)
    if not nodes:
        raise BadRequest(
            f"no nodes to {purpose}",
            hint="name them with --host NAME=ADDRESS (once per node), or --inventory FILE",
        )
    # paramiko would block on a FIFO or read /dev/zero until memory runs out
    files = [(p, "--known-hosts") for p in known_hosts] + [(p, "--identity") for p in identities]
    for path, option in [*files, *([(ssh_config, "--ssh-config")] if ssh_config else [])]:
        if os.path.lexists(path) and os.path.realpath(path) != os.devnull:  # ssh -F /dev/null
            try:
                read_bytes(path, f"{option} file", 1 << 20)
            except HavirtError as exc:  # a bad option: the command cannot run
                raise BadRequest(exc.message, exc.hint) from None
    connector = command_world().connector(known_hosts, identities, ssh_config, connect_timeout)
    return nodes, connector
