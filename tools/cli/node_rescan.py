"""`havirt node rescan`: make nodes look at their iSCSI targets again and show the LUNs
each now sees (the library: havirt.tools.validate.rescan). Parse and render only.

Exit codes: 0 every chosen pool was refreshed, 1 a node could not be reached or a
refresh failed, 2 bad input (unknown node or pool; nothing refreshed).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click
from havirt.tools.cli.node_access import NodeAccess, node_options, reach

if TYPE_CHECKING:
    from havirt.tools.validate.rescan import Row


@click.command("rescan")
@click.argument("nodes", nargs=-1, metavar="[NODE]...")
@click.option("--all", "every", is_flag=True, help="Rescan every node.")
@click.option("--pool", metavar="NAME", help="Refresh only this iSCSI pool.")
@node_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def node_rescan(
    nodes: tuple[str, ...], every: bool, pool: str | None, access: NodeAccess, as_json: bool
) -> None:
    """Refresh every active iSCSI storage pool (iscsi-direct, iscsi) of NODE, or of
    every node with --all (virsh pool-refresh), then list the LUNs each now sees:
    number, capacity and, where libiscsi's iscsi-inq is installed, the serial.

    Run it after the target changed (a LUN added, grown or removed), until
    'havirt validate' finds every node seeing the same LUNs. Guests are not touched.
    """
    from havirt.tools.errors import BadRequest
    from havirt.tools.validate import ssh
    from havirt.tools.validate.rescan import choose, rescan

    if every and nodes:
        raise BadRequest("NODE and --all were both given", "name nodes, or give --all alone")
    if not every and not nodes:
        raise BadRequest("no node to rescan", "name the nodes (NODE...), or give --all")
    targets, connector = reach(access, "rescan")
    report = rescan(
        choose(targets, nodes, every),
        connector,
        pool,
        connect_errors=(ssh.ConnectError,),
        timeout=access.command_timeout,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _render(report.rows)
    if not report.ok:
        sys.exit(1)


def _render(rows: list[Row]) -> None:
    from havirt.tools.validate import rescan as R

    width = max((len(r.node) for r in rows), default=0)
    for row in rows:
        where = f"{row.node:<{width}}  " + (f"pool {row.pool}: " if row.pool else "")
        if row.state == R.REFRESHED:
            click.echo(f"{where}refreshed, {len(row.luns)} data LUN(s)")
            for lun in row.luns:
                size = f"{lun.capacity} bytes" if lun.capacity is not None else "size unknown"
                serial = f", serial {lun.serial}" if lun.serial else ""
                click.echo(f"  LUN {lun.number}: {size}{serial}")
        elif row.state in (R.FAILED, R.UNREACHABLE):
            click.echo(f"{where}{row.state.upper()}: {row.detail}")
        else:
            click.echo(f"{where}{row.state}")
