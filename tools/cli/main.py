"""The `havirt` command: the group every command hangs on, and the one place a
library error becomes a message and an exit code (tools/cli/exit_codes.py).

Each command group lives in its own module of this package; heavy imports happen
inside the commands, when they run, so `havirt --help` stays fast.
"""

from __future__ import annotations

from typing import Any

import click
from havirt.tools.cli.demo import demo_command
from havirt.tools.cli.domain_add import domain_add
from havirt.tools.cli.domain_run import DOMAIN_COMMANDS as RUN_COMMANDS
from havirt.tools.cli.domain_sync import domain_sync
from havirt.tools.cli.domains import DOMAIN_COMMANDS as STORE_COMMANDS
from havirt.tools.cli.exit_codes import fail
from havirt.tools.cli.install import install_agents
from havirt.tools.cli.inventory import apply_command, generate_command, inventory_group
from havirt.tools.cli.lab import lab_group
from havirt.tools.cli.maintenance import cluster_group, node_group
from havirt.tools.cli.node_rescan import node_rescan
from havirt.tools.cli.placement import balance_command, place_command
from havirt.tools.cli.records import domain_group, node_list
from havirt.tools.cli.validate import validate_command
from havirt.tools.errors import HavirtError


class HavirtGroup(click.Group):
    """Turns HavirtError into a clear message and a non-zero exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HavirtError as exc:
            fail(exc)


@click.group(cls=HavirtGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="havirt")
def main() -> None:
    """High availability for libvirt/KVM guests on Pacemaker/Corosync."""


# node standby|unstandby (maintenance), node list (records), node rescan (node_rescan)
node_group.add_command(node_list)
node_group.add_command(node_rescan)
# domain list|locate (records), start|stop|migrate (domain_run), the store's (domains),
# add (domain_add), sync (domain_sync)
for domain_command in (domain_add, *RUN_COMMANDS, *STORE_COMMANDS, domain_sync):
    domain_group.add_command(domain_command)
for command in (
    install_agents,
    demo_command,
    lab_group,
    validate_command,
    inventory_group,
    generate_command,
    apply_command,
    node_group,
    domain_group,
    cluster_group,
    balance_command,
    place_command,
):
    main.add_command(command)
