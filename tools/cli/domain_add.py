"""`havirt domain add NAME --xml FILE --inventory FILE`: a new guest, checked on every
node before anything changes (the library: havirt.tools.domains.add). Parse and render.

Exit codes: 0 added (or, with --dry-run, it could be), 1 the cluster refused the
resource (the store is left as it was), 2 bad input or refused (nothing changed).
"""

from __future__ import annotations

import json

import click
from havirt.tools.cli.domains import open_store, store_option, xml_option
from havirt.tools.cli.node_access import NodeAccess, node_options, reach
from havirt.tools.cli.world import command_world


@click.command("add")
@click.argument("name")
@xml_option("The guest's domain XML (it becomes revision 1 in the store).")
@node_options
@store_option
@click.option("--why", default="added", show_default=True, help="Kept in the history.")
@click.option("--dry-run", is_flag=True, help="Check everything; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def domain_add(
    name: str,
    xml_file: str,
    access: NodeAccess,
    store: str | None,
    why: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Add the guest NAME from its domain XML: checked against libvirt's schema and on
    every node of the inventory (networks and bridges, its disks inside a shared pool
    and present, emulator, machine type, KVM or not, memory; no guest of that name or
    UUID running anywhere), then stored as revision 1 and created as a stopped
    Pacemaker resource, ordered after the cluster's storage, in one CIB transaction.
    Start it with `havirt domain start NAME`.
    """
    from havirt.tools.domains import Change, read_definition
    from havirt.tools.domains import add as library
    from havirt.tools.domains.schema import SCHEMA_DIR
    from havirt.tools.errors import BadRequest, Refused
    from havirt.tools.inventory import load
    from havirt.tools.validate import engine, ssh
    from havirt.tools.validate.probe import ProbeOptions

    if access.inventory is None:
        raise BadRequest(
            "domain add needs the cluster's inventory",
            "pass --inventory FILE (its nodes, storage and policies)",
        )
    inventory = load(str(access.inventory))
    text = read_definition(xml_file, "the XML (--xml)")
    world = command_world()
    schemas = world.schemas or SCHEMA_DIR
    needs = library.read(name, text, f"the XML in {xml_file}", schemas)
    nodes, connector = reach(access, "check")
    probe = ProbeOptions(trust=False, command_timeout=access.command_timeout, paths=needs.paths)
    facts, failures = engine.gather(nodes, connector, probe, (ssh.ConnectError,))
    blocking = [f for f in failures if f.severity == "error"]
    if blocking:
        first = blocking[0]
        raise Refused(
            f"cannot check {first.node}: {first.message}; nothing was changed",
            first.fix or "make every node reachable, then try again",
        )
    try:
        report = library.add(
            world.pacemaker(),
            open_store(store, str(access.inventory)),
            text,
            needs,
            facts,
            policies=inventory.policies,
            clones=[s.clone_id for s in inventory.clustered_storage],
            storage={s.name: s.target for s in inventory.storage},
            change=Change(world.who(), world.now(), why),
            dry_run=dry_run,
            scratch=world.scratch,
        )
    except library.NotRunnable as refused:
        for finding in refused.findings:
            where = "every node" if finding.node in (None, "*") else finding.node
            click.echo(f"  {where}: {finding.message}; fix: {finding.fix}", err=True)
        raise
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    checked = ", ".join(report.nodes)
    if dry_run:
        click.echo(f"{name} can be added (checked on {checked}); nothing was changed")
        return
    count = len(report.constraints)
    ties = f"{count} constraints to the storage" if count else "no storage constraints"
    click.echo(
        f"added {name}: revision {report.revision} in the store, resource {name} (stopped, "
        f"{ties}); checked on {checked}"
    )
    click.echo(f"start it with: havirt domain start {name}")
