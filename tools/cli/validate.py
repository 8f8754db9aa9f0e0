"""``havirt validate``: the click command (parse, call the library, render).

fabric, paramiko and lxml are imported only when the command runs, so that
``havirt --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import click
from havirt.tools.cli.common import Number, seconds_option
from havirt.tools.validate.catalog import CATALOG, SKIPPABLE

_CHECK_LIST = "\n".join(
    textwrap.fill(c.compares, 78, initial_indent=f"  {c.id:<13} ", subsequent_indent=" " * 16)
    for c in CATALOG
)

LIMIT = Number(float, 1, 3600, unit="seconds")  # the connection's and each command's


@click.command(
    "validate",
    epilog="\b\nChecks:\n" + _CHECK_LIST + "\n\n"
    "Exit status: 0 every check passed (warnings allowed unless --strict), 1 some check "
    "failed or a node could not be checked, 2 validate could not run (bad options, no nodes).",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="NAME[=[USER@]ADDRESS[:PORT]]",
    help="A cluster node (repeat for each). NAME is the node's name in the cluster; "
    "ADDRESS where to reach it over SSH (default: NAME).",
)
@click.option(
    "--inventory",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Take the nodes from an inventory file.",
)
@click.option(
    "--new-host",
    metavar="NAME[=[USER@]ADDRESS[:PORT]]",
    help="A host about to join: compared against the nodes given, which are the reference.",
)
@click.option(
    "--user",
    "-u",
    metavar="USER",
    help="SSH user where a node names none (default: ssh_config's User, else your user "
    "name). Non-root works if the user is in the libvirt group.",
)
@click.option(
    "--port",
    "-p",
    type=Number(int, 1, 65535),
    help="SSH port where a node names none (default: ssh_config's Port, else 22).",
)
@click.option(
    "--identity",
    "-i",
    "identities",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Private key to use (repeatable); only these keys are tried. "
    "Default: ~/.ssh/id_* and the SSH agent.",
)
@click.option(
    "--known-hosts",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="known_hosts file to verify host keys against (repeatable). Default: "
    "~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts. Unknown or changed keys are refused.",
)
@click.option(
    "--ssh-config",
    type=click.Path(dir_okay=False),
    help="ssh_config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config.",
)
@click.option(
    "--migration-user",
    metavar="USER",
    help="User in the qemu+ssh:// URIs between nodes (the guest agent's migration_user). "
    "Default: the SSH user.",
)
@click.option(
    "--skip",
    multiple=True,
    type=click.Choice(SKIPPABLE),
    metavar="CHECK",
    help="Do not run this check (repeatable).",
)
@seconds_option(
    "--max-clock-offset",
    default=1.0,
    help="Largest tolerated clock difference from the other nodes.",
    kind=Number(float, 0, 3600, unit="seconds"),
)
@click.option(
    "--memory-reserve",
    type=Number(int, 0, 1 << 30, unit="MiB"),
    default=1024,
    show_default=True,
    metavar="MIB",
    help="Memory each node keeps for itself in the N+1 check.",
)
@seconds_option("--connect-timeout", default=10.0, kind=LIMIT)
@seconds_option(
    "--timeout", "command_timeout", default=20.0, help="Limit for each remote command.", kind=LIMIT
)
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def validate_command(
    hosts: tuple[str, ...],
    inventory: Path | None,
    new_host: str | None,
    user: str | None,
    port: int | None,
    identities: tuple[str, ...],
    known_hosts: tuple[str, ...],
    ssh_config: str | None,
    migration_user: str | None,
    skip: tuple[str, ...],
    max_clock_offset: float,
    memory_reserve: int,
    connect_timeout: float,
    command_timeout: float,
    strict: bool,
    as_json: bool,
) -> None:
    """Check that the cluster's hosts agree where live migration and failover need it.

    Connects to every node in parallel over SSH (host keys checked against
    known_hosts, never accepted blindly) and compares libvirt networks, storage
    pools, SSH trust between nodes, CPUs, versions, host UUIDs, name resolution,
    clocks, the lock manager and N+1 memory. Every mismatch names the node, the
    item and the fix.
    """
    import os

    from havirt.tools.cli.world import command_world
    from havirt.tools.errors import BadRequest, HavirtError
    from havirt.tools.userinput import read_bytes
    from havirt.tools.validate import engine, ssh, targets
    from havirt.tools.validate.checks.context import CheckOptions
    from havirt.tools.validate.render import render

    nodes = targets.parse_hosts(hosts, user, port)
    if inventory is not None:
        nodes = targets.from_inventory(inventory, user) + nodes
        targets.check_distinct(nodes)
    joining = targets.parse_host(new_host, user, port) if new_host else None
    if not nodes:
        raise BadRequest(
            "no nodes to validate",
            hint="name them with --host NAME=ADDRESS (once per node), or --inventory FILE",
        )
    # paramiko would block on a FIFO or read /dev/zero until memory runs out
    files = [(p, "--known-hosts") for p in known_hosts] + [(p, "--identity") for p in identities]
    for path, option in [*files, *([(ssh_config, "--ssh-config")] if ssh_config else [])]:
        if os.path.lexists(path) and os.path.realpath(path) != os.devnull:  # ssh -F /dev/null
            try:
                read_bytes(path, f"{option} file", 1 << 20)
            except HavirtError as exc:  # a bad option: validate cannot run
                raise BadRequest(exc.message, exc.hint) from None
    connector = command_world().connector(known_hosts, identities, ssh_config, connect_timeout)
    options = engine.Options(
        skip=skip,
        checks=CheckOptions(max_clock_offset, memory_reserve, migration_user),
        command_timeout=command_timeout,
    )
    report = engine.validate(
        nodes, connector, options, new_host=joining, connect_errors=(ssh.ConnectError,)
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(strict), indent=2))
    else:
        click.echo(render(report, strict, click.style))
    if not report.ok(strict):
        sys.exit(1)
