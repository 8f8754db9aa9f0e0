"""`havirt domain sync`: bring the nodes' persistent guest definitions back in step with
the definition store (the library: havirt.tools.domains.sync). Parse and render only.

Exit codes: 0 every node is in step (or would be, with --dry-run), 1 a node could not
be reached or a definition could not be synced, 2 bad input (nothing changed).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import TYPE_CHECKING

import click
from havirt.tools.cli.domains import open_store, store_option
from havirt.tools.cli.node_access import NodeAccess, node_options, reach
from havirt.tools.cli.world import command_world

if TYPE_CHECKING:
    from havirt.tools.domains.sync import Row


@click.command("sync")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@node_options
@store_option
@click.option("--dry-run", is_flag=True, help="Say what is out of step; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def domain_sync(
    names: tuple[str, ...],
    access: NodeAccess,
    store: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Make every node's persistent definition of NAME (default: of every guest in the
    store) the store's current revision again, as `havirt validate` asks.

    A node's definition that differs is kept in /var/lib/havirt/definitions on that
    node, replaced by the store's, and stamped so that validate knows it; no
    definition is created where a node has none, nothing is undefined, and guests the
    store does not know are only reported.
    """
    from havirt.tools.domains.sync import sync
    from havirt.tools.validate import ssh

    nodes, connector = reach(access, "sync")
    inventory = str(access.inventory) if access.inventory is not None else None
    where = open_store(store, inventory)
    world = command_world()
    report = sync(
        nodes,
        connector,
        where.current(),
        names,
        dry_run=dry_run,
        connect_errors=(ssh.ConnectError,),
        timeout=access.command_timeout,
        now=lambda: world.now().timestamp(),
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _render(report.rows, dry_run)
    if not report.ok:
        sys.exit(1)


def _render(rows: list[Row], dry_run: bool) -> None:
    from havirt.tools.domains import sync as S

    if not rows:
        click.echo("no node holds a persistent definition of these guests: nothing to sync")
        return
    width = max(len(r.node) for r in rows)
    for row in rows:
        if row.state == S.SYNCED:
            said = f"synced to {row.detail}; its former XML is kept in {row.backup}"
        elif row.state == S.UNKNOWN:
            said = "unknown to the store: left alone (import it, or undefine it there)"
        elif row.state == S.FAILED:
            kept = f" (its former XML is kept in {row.backup})" if row.backup else ""
            said = f"FAILED: {row.detail}{kept}"
        elif row.detail:
            said = f"{row.state}: {row.detail}"
        else:
            said = row.state
        guest = f"{row.guest}  " if row.guest else ""
        click.echo(f"{row.node:<{width}}  {guest}{said}")
    counts = Counter(row.state for row in rows)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    click.echo(("dry run: " if dry_run else "") + summary)
