"""`havirt domain add NAME (--xml FILE | --from-store | --from-inventory) --inventory FILE
[--start]`: a new guest (from its XML, or rendered from the inventory's declaration, with
the inventory's wishes), or a removed one again from the definition store, checked on
every node before anything changes (the library: havirt.tools.domains.add), then with
--start started as `havirt domain start NAME --wait` does (havirt.tools.placement.domain).
Parse and render.

Exit codes: 0 added (or, with --dry-run, it could be), and with --start running; 1 the
cluster refused the resource (the store is left as it was), or it was added but did not
start; 2 bad input or refused (nothing changed).
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource
from havirt.tools.cli import moving
from havirt.tools.cli.domain_run import DEFAULT_WAIT, WAIT_OPTION, state_line
from havirt.tools.cli.domains import open_store, store_option, xml_option
from havirt.tools.cli.lock import WAIT_LOCK_OPTION
from havirt.tools.cli.node_access import NodeAccess, node_options, reach
from havirt.tools.cli.world import command_env, command_world
from havirt.tools.errors import BadRequest, HavirtError, Refused

if TYPE_CHECKING:
    from collections.abc import Mapping

    from havirt.tools.domains.add import AddReport, Wishes
    from havirt.tools.inventory import Inventory
    from havirt.tools.placement.domain import DomainReport
    from havirt.tools.placement.guest_move import GuestMove


def _definition(
    name: str, xml_file: str | None, store: str | None, inventory: str
) -> tuple[str, str]:
    """The XML to add and what it is called in messages: the file's, or the store's
    current revision of ``name`` (refused, naming --xml, when the store does not know it)."""
    from havirt.tools.domains import add as library
    from havirt.tools.domains import read_definition

    if xml_file is not None:
        return read_definition(xml_file, "the XML (--xml)"), f"the XML in {xml_file}"
    try:
        revision, text = library.stored(open_store(store, inventory), name)
    except library.NotInStore as refused:
        raise Refused(refused.message, "add it from its domain XML: --xml FILE") from None
    return text, f"revision {revision} of {name} in the definition store"


def _rendered(name: str, inventory: Inventory, domain_type: str) -> tuple[str, str, Wishes]:
    """The domain XML of the inventory's guest ``name`` (a new UUID), what it is called
    in messages, and the inventory's wishes for its resource."""
    from havirt.tools.domains import from_inventory

    guest = from_inventory.guest_of(inventory, name)
    text = from_inventory.render(inventory, guest, lambda: str(uuid.uuid4()), domain_type)
    what = f"the XML rendered for {name} from {inventory.source}"
    return text, what, from_inventory.wishes(inventory, guest)


@click.command("add")
@click.argument("name")
@xml_option("The guest's domain XML (it becomes revision 1 in the store).", required=False)
@click.option(
    "--from-store",
    is_flag=True,
    help="Add the guest again from its current revision in the definition store (where "
    "'havirt domain remove' leaves it); nothing new is stored.",
)
@click.option(
    "--from-inventory",
    is_flag=True,
    help="Add the guest the inventory declares ([[guests]] NAME): its domain XML rendered "
    "from there (its disk must exist), its resource with the inventory's wishes.",
)
@click.option(
    "--domain-type",
    type=click.Choice(["kvm", "qemu"]),
    default="kvm",
    show_default=True,
    help="With --from-inventory: the rendered domain's type (qemu: emulated, no KVM).",
)
@node_options
@store_option
@click.option(
    "--why",
    default="added",
    show_default=True,
    help="Kept in the history (--from-inventory: 'added from the inventory').",
)
@click.option("--start", is_flag=True, help="Then start it, as 'havirt domain start --wait'.")
@WAIT_OPTION
@WAIT_LOCK_OPTION
@moving.QUIET_OPTION
@click.option("--dry-run", is_flag=True, help="Check everything; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def domain_add(
    name: str,
    xml_file: str | None,
    from_store: bool,
    from_inventory: bool,
    domain_type: str,
    access: NodeAccess,
    store: str | None,
    why: str,
    start: bool,
    wait: float | None,
    wait_lock: float,
    quiet: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Add the guest NAME from its domain XML (--xml), from its declaration in the
    inventory (--from-inventory), or again from the definition store (--from-store: its
    current revision there, after 'havirt domain remove'):
    checked against libvirt's schema and on every node of the inventory (networks and
    bridges, its disks inside a shared pool and present, emulator, machine type, KVM or
    not, memory; no guest of that name or UUID running anywhere), then (--xml) stored as
    revision 1 and created as a stopped Pacemaker resource, ordered after the cluster's
    storage, in one CIB transaction. --from-inventory renders the XML (its disk
    NAME.qcow2 in its storage, which must exist) and gives the resource the inventory's
    parameters, migration setting, preferred nodes and anti-affinity, as generate does.

    --start then starts it as 'havirt domain start NAME --wait' does, under the cluster
    lock (--wait SECONDS: how long to follow it; --wait-lock as there). Exit 1 when it was
    added but did not start: it stays added.
    """
    from havirt.tools.domains import Change
    from havirt.tools.domains import add as library
    from havirt.tools.domains.schema import SCHEMA_DIR
    from havirt.tools.inventory import load
    from havirt.tools.validate import engine, ssh
    from havirt.tools.validate.probe import ProbeOptions

    if [xml_file is not None, from_store, from_inventory].count(True) != 1:
        raise click.UsageError(
            "give exactly one of --xml FILE (a new guest's domain XML), --from-inventory "
            "(a guest the inventory declares) and --from-store (a removed guest's current "
            "revision in the definition store)"
        )
    ctx = click.get_current_context()

    def given(*options: str) -> list[str]:
        return [
            f"--{option.replace('_', '-')}"
            for option in options
            if ctx.get_parameter_source(option) is not ParameterSource.DEFAULT
        ]

    if given("domain_type") and not from_inventory:
        raise click.UsageError("--domain-type only applies with --from-inventory")
    needing_start = given("wait", "wait_lock")
    if needing_start and not start:
        verb = "applies" if len(needing_start) == 1 else "apply"
        raise click.UsageError(f"{' and '.join(needing_start)} only {verb} with --start")
    if from_inventory and not given("why"):
        why = "added from the inventory"
    if access.inventory is None:
        raise BadRequest(
            "domain add needs the cluster's inventory",
            "pass --inventory FILE (its nodes, storage and policies)",
        )
    inventory = load(str(access.inventory))
    wishes = None
    if from_inventory:
        text, what, wishes = _rendered(name, inventory, domain_type)
    else:
        text, what = _definition(name, xml_file, store, str(access.inventory))
    world = command_world()
    schemas = world.schemas or SCHEMA_DIR
    needs = library.read(name, text, what, schemas)
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
            from_store=from_store,
            wishes=wishes,
        )
    except library.InStore as refused:
        raise Refused(
            refused.message,
            f"add it again from the store: havirt domain add {name} --from-store (to "
            f"choose an older revision first: havirt domain revert {name} REV), or choose "
            "another name",
        ) from None
    except library.NotRunnable as refused:
        for finding in refused.findings:
            where = "every node" if finding.node in (None, "*") else finding.node
            click.echo(f"  {where}: {finding.message}; fix: {finding.fix}", err=True)
        raise
    if not as_json:
        for warning in report.warnings:
            click.echo(f"  warning: {warning}", err=True)
    if not start or dry_run:
        started = {"would_start": True} if start else None
        _show(report, started, _added_text(report, start), as_json)
        return
    wait = DEFAULT_WAIT if wait is None else wait
    _start(report, moving.Run(wait, wait_lock, False, quiet, as_json))


def _added_text(report: AddReport, start: bool) -> str:
    name, checked = report.guest, ", ".join(report.nodes)
    if report.dry_run:
        head = f"{name} can be added"
        if report.from_store:
            head += f" again from revision {report.revision} in the store"
        elif report.from_inventory:
            head += " from the inventory"
        then = "; with --start it would then be started" if start else ""
        text = f"{head} (checked on {checked}); nothing was changed{then}"
        if report.definition is not None:
            text += f"\nthe domain XML it would store as revision 1:\n{report.definition.rstrip()}"
        return text + _waiting(report)
    count = len(report.constraints)
    if report.from_inventory:
        ties = f"{count} constraints from the inventory"
    else:
        ties = f"{count} constraints to the storage" if count else "no storage constraints"
    if report.from_store:
        where = (
            f"added {name} again from revision {report.revision} in the store (nothing new stored)"
        )
    else:
        source = " from the inventory" if report.from_inventory else ""
        where = f"added {name}{source}: revision {report.revision} in the store"
    text = f"{where}, resource {name} (stopped, {ties}); checked on {checked}" + _waiting(report)
    return text if start else f"{text}\nstart it with: havirt domain start {name}"


def _waiting(report: AddReport) -> str:
    """The inventory's anti-affinity constraints not made yet, as a line (or nothing)."""
    if not report.waiting:
        return ""
    return (
        "\nnot made yet, as the other guest is not in the cluster (made when it is added "
        f"from the inventory): {', '.join(report.waiting)}"
    )


def _show(
    report: AddReport, started: Mapping[str, object] | None, human: str, as_json: bool
) -> None:
    """The add's result (and the start's, under "start"), as JSON with --json."""
    if as_json:
        body = report.to_dict()
        if started is not None:
            body["start"] = started
        click.echo(json.dumps(body, indent=2))
    else:
        click.echo(human)


def _start(report: AddReport, run: moving.Run) -> None:
    """Start the guest just added and follow it, as `havirt domain start NAME --wait`;
    exit 1 when it does not get to run (it stays added)."""
    from havirt.tools.placement.domain import start

    name, quiet = report.guest, run.quiet or run.as_json

    def show(move: GuestMove) -> None:
        if not quiet:
            click.echo(state_line(move, True), err=True)

    env = command_env(quiet).reporting(show)
    added = _added_text(report, True)
    try:
        started: DomainReport = run.locked(
            env,
            f"domain start {name}",
            lambda dry: start(env, name, wait=run.timeout, dry_run=dry),
            interrupted=f"{name} was added; its target-role stays as it is now and Pacemaker "
            f"carries on (havirt domain locate {name} shows where it runs)",
        )
    except HavirtError as exc:
        stays = (
            f"it stays added and stopped (target-role Stopped); start it with: havirt "
            f"domain start {name}"
            if isinstance(exc, (BadRequest, Refused))
            else f"it stays added; see where it is: havirt domain locate {name}"
        )
        _show(report, {"ok": False, "error": str(exc)}, added, run.as_json)
        click.echo(f"havirt: error: {exc}", err=True)
        click.echo(f"havirt: {name} was added but not started: {stays}", err=True)
        sys.exit(1)
    if started.changed:
        head = f"{name}: target-role set to Started"
    else:  # someone started it meanwhile
        head = f"{name}: already running on {', '.join(started.before) or '?'}"
    lines = [added, head, *(f"  note: {n}" for n in started.notes)]
    if started.move is not None:
        lines.append(state_line(started.move, True))
    _show(report, started.to_dict(), "\n".join(lines), run.as_json)
    if not started.ok:
        click.echo(
            f"havirt: {name} was added but did not start: it stays added with target-role "
            f"Started, and Pacemaker carries on; see where it is: havirt domain locate {name}",
            err=True,
        )
        sys.exit(1)
