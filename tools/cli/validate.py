"""``havirt validate``: the click command (parse, call the library, render).

fabric, paramiko and lxml are imported only when the command runs, so that
``havirt --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import click
from havirt.tools.cli.common import Number, seconds_option
from havirt.tools.cli.node_access import HOST, NodeAccess, node_options, reach
from havirt.tools.validate.catalog import CATALOG, SKIPPABLE

_CHECK_LIST = "\n".join(
    textwrap.fill(c.compares, 78, initial_indent=f"  {c.id:<13} ", subsequent_indent=" " * 16)
    for c in CATALOG
)


@click.command(
    "validate",
    epilog="\b\nChecks:\n" + _CHECK_LIST + "\n\n"
    "Exit status: 0 every check passed (warnings allowed unless --strict), 1 some check "
    "failed or a node could not be checked, 2 validate could not run (bad options, no nodes).",
)
@node_options
@click.option(
    "--new-host",
    metavar=HOST,
    help="A host about to join: compared against the nodes given, which are the reference.",
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
@click.option(
    "--store",
    metavar="DIR",
    help="Compare the nodes' persistent guest definitions with this definition store "
    "(default: the inventory's [definitions] path, when this machine has it).",
)
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def validate_command(
    access: NodeAccess,
    new_host: str | None,
    migration_user: str | None,
    skip: tuple[str, ...],
    max_clock_offset: float,
    memory_reserve: int,
    store: str | None,
    strict: bool,
    as_json: bool,
) -> None:
    """Check that the cluster's hosts agree where live migration and failover need it.

    Connects to every node in parallel over SSH (host keys checked against
    known_hosts, never accepted blindly) and compares libvirt networks, storage
    pools, SSH trust between nodes, CPUs, versions, host UUIDs, name resolution,
    clocks, the lock manager, N+1 memory, and guests' persistent definitions against
    the definition store. Every mismatch names the node, the item and the fix.
    """
    from havirt.tools.validate import engine, ssh, targets
    from havirt.tools.validate.checks.context import CheckOptions
    from havirt.tools.validate.render import render

    nodes, connector = reach(access, "validate")
    joining = targets.parse_host(new_host, access.user, access.port) if new_host else None
    definitions, no_store = stored_definitions(store, access.inventory)
    options = engine.Options(
        skip=skip,
        checks=CheckOptions(max_clock_offset, memory_reserve, migration_user),
        command_timeout=access.command_timeout,
        definitions=definitions,
        no_store=no_store,
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


def stored_definitions(store: str | None, inventory: Path | None) -> tuple[Any, str]:
    """The definition store's current definitions to compare nodes with, or None and why
    not: --store must exist; the inventory's [definitions] path only where it exists."""
    import os

    from havirt.tools.cli.domains import store_root
    from havirt.tools.domains import DefinitionStore

    path = store_root(store, str(inventory) if inventory is not None else None)
    if path is None:
        return None, "no definition store given (--store or --inventory)"
    if store is None and not os.path.isdir(path):
        return None, f"no definition store at {path} on this machine"
    return DefinitionStore(path).current(), ""
