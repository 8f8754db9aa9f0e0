"""`havirt domain history|diff|revert|edit|import`: the definition store's commands.

Parse and render only; the store is havirt.tools.domains (imported inside the commands,
so that `havirt --help` stays fast). These commands join the ``domain`` group of
tools/cli/records.py in tools/cli/main.py.

Their world (who changes, the clock, the editor, where the editor's copy goes) is the
command's :class:`~havirt.tools.cli.world.ClusterWorld`: this machine's, or the one a
test passes as the click context object. Exit codes as tools/cli/exit_codes.py: 0 done
(also: nothing to change), 2 bad input or refused (nothing changed; a refused ``edit
--apply`` leaves the new revision stored, not applied), 3 another admin changed the
guest meanwhile, 1 ``edit --apply`` did not get there (a live change failed part of the
way, or the restart did not complete).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click
from havirt.tools.cli.common import seconds_option
from havirt.tools.cli.lock import WAIT_LOCK_OPTION
from havirt.tools.cli.node_access import NodeAccess, node_options, reach
from havirt.tools.cli.world import command_world
from havirt.tools.errors import BadRequest, Conflict, HavirtError, Refused

if TYPE_CHECKING:
    from havirt.tools.domains import Change, DefinitionStore
    from havirt.tools.domains.apply import ApplyReport, LiveApplier
    from havirt.tools.domains.change import Item


def _change(why: str) -> Change:
    from havirt.tools.domains import Change

    world = command_world()
    return Change(world.who(), world.now(), why)


def store_root(store: str | None, inventory: str | None) -> str | None:
    """Where the store is: --store, else the inventory's [definitions] path (None when
    neither is given)."""
    if store is not None:
        return store
    if inventory is not None:
        from havirt.tools.inventory import load

        return load(inventory).definitions
    return None


def open_store(store: str | None, inventory: str | None) -> DefinitionStore:
    from havirt.tools.domains import DefinitionStore
    from havirt.tools.inventory.schema import DEFAULT_STORE

    return DefinitionStore(store_root(store, inventory) or DEFAULT_STORE)


# Where the store is: --store, else the inventory's [definitions] path, else the default.
store_option = click.option(
    "--store",
    metavar="DIR",
    help="The definition store's directory (default: the inventory's [definitions] "
    "path, /srv/havirt-shared/definitions unless it says otherwise).",
)


def xml_option(help: str, required: bool = True) -> Callable[..., Any]:
    """``--xml FILE``: a domain XML file the command reads (its parameter ``xml_file``)."""
    return click.option("--xml", "xml_file", metavar="FILE", required=required, help=help)


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--store``, and ``--inventory`` to take the store from (for the commands that
    read no other inventory)."""
    command = click.option(
        "--inventory",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="Take the store's directory from this inventory's [definitions] path.",
    )(command)
    return store_option(command)


def _revision(number: int) -> str:
    return f"revision {number}"


def _show_stored(
    store: DefinitionStore, name: str, number: int, base: int | None, note: bool = True
) -> None:
    if base is not None:
        diff = store.diff(name, base, number)
        click.echo(diff, nl=False)
    click.echo(
        f"{name}: {_revision(number)} stored"
        + (f" (from {base})" if base is not None else "")
        + f"; current definition: {store.current_path(name)}"
    )
    if note:
        click.echo("  note: a running guest keeps its definition until its next start")


@contextlib.contextmanager
def _keeping(path: str) -> Iterator[None]:
    """A refusal says where the admin's edited text was kept."""
    try:
        yield
    except HavirtError as exc:
        kept = f"your edited XML is kept in {path}"
        hint = f"{exc.hint}; {kept}" if exc.hint else kept
        raise type(exc)(exc.message, hint) from None


@click.command("history")
@click.argument("name")
@store_options
@click.option("--json", "as_json", is_flag=True, help="The revisions as JSON.")
def domain_history(name: str, store: str | None, inventory: str | None, as_json: bool) -> None:
    """The revisions of guest NAME's definition, oldest first; the last is current."""
    where = open_store(store, inventory)
    revisions = where.history(name)
    if as_json:
        data = {
            "guest": name,
            "store": where.root,
            "current": where.current_path(name),
            "revisions": [r.to_dict() for r in revisions],
        }
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    for r in revisions:
        base = "" if r.base is None else f" (from {r.base})"
        click.echo(f"{r.number:>4}  {r.when}  {r.who}{base}: {r.why or '-'}")


@click.command("diff")
@click.argument("name")
@click.argument("revisions", nargs=-1, type=click.IntRange(min=1), metavar="[REV [REV]]")
@store_options
def domain_diff(
    name: str, revisions: tuple[int, ...], store: str | None, inventory: str | None
) -> None:
    """What changed in guest NAME's definition: no REV, its last change; one REV, from
    that revision to the current one; two, from the first to the second."""
    if len(revisions) > 2:
        raise BadRequest("diff takes at most two revisions", "name one or two revisions")
    where = open_store(store, inventory)
    latest = where.latest(name)
    if not revisions:
        if latest == 1:
            click.echo(f"{name} has one revision: nothing to compare")
            return
        old, new = latest - 1, latest
    elif len(revisions) == 1:
        old, new = revisions[0], latest
    else:
        old, new = revisions
    text = where.diff(name, old, new)
    click.echo(text if text else f"{name}: revisions {old} and {new} are the same", nl=not text)


@click.command("revert")
@click.argument("name")
@click.argument("revision", type=click.IntRange(min=1), metavar="REV")
@click.option("--why", default="", help='Why (default: "revert to REV").')
@store_options
def domain_revert(
    name: str, revision: int, why: str, store: str | None, inventory: str | None
) -> None:
    """Make REV's definition the current one again, as a new revision."""
    where = open_store(store, inventory)
    base = where.latest(name)
    stored = where.revert(name, revision, _change(why), base=base)
    _show_stored(where, name, stored.number, base)


@click.command("edit")
@click.argument("name")
@xml_option("Store this file as the new definition instead of opening an editor.", False)
@click.option(
    "--base",
    type=click.IntRange(min=1),
    metavar="REV",
    help="The revision FILE was made from: refused (exit 3) if the guest changed since "
    "(default: the current revision, read now).",
)
@click.option("--why", default="", help="Why the change is made (kept in the history).")
@click.option(
    "--apply",
    "apply_now",
    is_flag=True,
    help="Apply the stored change to the running guest: live where libvirt allows it "
    "(on its node, over SSH), else only with --restart.",
)
@click.option(
    "--restart",
    is_flag=True,
    help="With --apply: when the change needs a restart, restart the guest through "
    "Pacemaker (stop, then start).",
)
@seconds_option(
    "--wait",
    "restart_wait",
    default=300.0,
    help="With --restart: how long to wait for the guest to stop, and then to start.",
)
@WAIT_LOCK_OPTION
@node_options
@store_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def domain_edit(
    name: str,
    xml_file: str | None,
    base: int | None,
    why: str,
    apply_now: bool,
    restart: bool,
    restart_wait: float,
    wait_lock: float,
    access: NodeAccess,
    store: str | None,
    as_json: bool,
) -> None:
    """Change guest NAME's definition: in $EDITOR (like virsh edit) or from --xml FILE.

    The new revision is checked as `domain add` checks it (libvirt's schema, the
    definition's name and UUID), stored, shown as a diff, and what it needs is said:
    nothing, the next start, a live change, or a restart. --apply applies it to the
    running guest (live changes with virsh on its node, over SSH as `domain sync`:
    --host, -u, -i, ...; a restart only with --restart, through Pacemaker). An
    unchanged file changes nothing; a refused edit changes nothing and keeps the
    edited text; a refused apply leaves the new revision stored and not applied.
    """
    from havirt.tools.domains.change import classify, overall

    if restart and not apply_now:
        raise BadRequest("--restart goes with --apply", "add --apply, or leave out --restart")
    if base is not None and xml_file is None:
        raise BadRequest("--base goes with --xml", "name the edited file with --xml FILE")
    where = open_store(store, None if access.inventory is None else str(access.inventory))
    base = where.latest(name) if base is None else base
    current = where.get(name, base)
    new, unchanged = _edited(where, name, xml_file, base, current, why)
    if new is None:
        if as_json:
            data = {"guest": name, "stored": False, "revision": base, "said": unchanged}
            click.echo(json.dumps(data, indent=2))
        else:
            click.echo(unchanged)
        return
    number = base + 1
    items = classify(current, new)
    applied = None
    if not as_json:
        _show_stored(where, name, number, base, note=False)
        click.echo(_needs_text(name, items, apply_now))
    if apply_now:
        applied = _apply(name, number, items, access, restart, restart_wait, wait_lock, as_json)
    if as_json:
        data = {
            "guest": name,
            "stored": True,
            "revision": number,
            "base": base,
            "current": where.current_path(name),
            "diff": where.diff(name, base, number),
            "needs": overall(items),
            "changes": [i.to_dict() for i in items],
            "apply": applied.to_dict() if applied is not None else None,
        }
        click.echo(json.dumps(data, indent=2))
    if applied is not None and not applied.ok:
        sys.exit(1)


def _edited(
    where: DefinitionStore, name: str, xml_file: str | None, base: int, current: str, why: str
) -> tuple[str | None, str]:
    """The new definition, checked and stored as the revision after ``base``; None when
    it is the same as ``current`` (nothing stored), with the words that say so."""
    from havirt.tools.domains import read_definition

    if xml_file is not None:
        new = read_definition(xml_file, "the XML (--xml)")
        if new == current:
            return None, f"{name}: {xml_file} is the same as {_revision(base)}; nothing stored"
        _check_and_store(where, name, new, base, why, f"the XML in {xml_file}")
        return new, ""
    world = command_world()
    prefix = f"havirt-{name}-r{base}-"
    fd, path = tempfile.mkstemp(dir=world.scratch(), prefix=prefix, suffix=".xml")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(current)
    with _keeping(path):
        world.edit(path)
        new = read_definition(path, "the edited XML")
        if new == current:
            os.unlink(path)
            return None, f"{name}: unchanged; nothing stored"
        _check_and_store(where, name, new, base, why, f"the edited XML of {name}")
    os.unlink(path)
    return new, ""


def _check_and_store(
    where: DefinitionStore, name: str, text: str, base: int, why: str, what: str
) -> None:
    """libvirt's schema and the definition's own checks (as domain add's; the nodes are
    not asked), then the store's compare-and-set."""
    from havirt.tools.domains.add import read
    from havirt.tools.domains.schema import SCHEMA_DIR

    read(name, text, what, command_world().schemas or SCHEMA_DIR)
    where.commit(name, text, base, _change(why), what)


def _needs_text(name: str, items: list[Item], applying: bool) -> str:
    """What the change needs, in plain words (after its diff)."""
    from havirt.tools.domains import change as C

    needs = C.overall(items)
    if needs == C.NOTHING:
        return f"{name}: nothing that matters changed (only layout or comments); nothing to apply"
    lines = [f"  {_KIND_WORDS[i.kind]}: {i.what}" for i in items]
    restart = f"havirt domain stop {name} --wait, then havirt domain start {name} --wait"
    if needs == C.NEXT_START:
        head = "the change takes effect at its next start; nothing to apply now"
    elif needs == C.LIVE:
        head = "the change can be applied live while it runs"
        if not applying:
            head += f" (--apply does that); else it takes effect at its next start ({restart})"
    else:
        head = "the change needs a restart to take effect"
        if not applying:
            head += f" (--apply --restart does that through the cluster, or: {restart})"
    return "\n".join([f"{name}: {head}", *lines])


_KIND_WORDS = {"next start": "next start", "live": "live", "restart": "needs restart"}


def _apply(
    name: str,
    number: int,
    items: list[Item],
    access: NodeAccess,
    restart: bool,
    wait: float,
    wait_lock: float,
    as_json: bool,
) -> ApplyReport:
    """Apply revision ``number``'s change (``items``) to the running guest, under the
    cluster lock; a refusal says that the revision is stored and not applied."""
    from havirt.tools.cli import moving
    from havirt.tools.domains.apply import NeedsRestart, PartlyApplied, apply_change

    run = moving.Run(wait * 2, wait_lock, False, False, as_json)
    # a restart's start asks every node's libvirt for a copy outside Pacemaker, as
    # domain start does (its default connection)
    env = run.env().seeing(command_world().libvirt(None, access.command_timeout, False))
    with contextlib.ExitStack() as sessions:
        try:
            report = run.locked(
                env,
                f"domain edit {name} --apply",
                lambda dry: apply_change(
                    env,
                    name,
                    items,
                    applier=_appliers(access, sessions),
                    restart=restart,
                    wait=wait,
                    dry_run=dry,
                ),
                interrupted=f"{name} may be stopped now (havirt domain locate {name}; "
                f"havirt domain start {name} --wait)",
            )
        except NeedsRestart as exc:
            raise Refused(
                f"{exc.message}; revision {number} is stored and not applied",
                f"add --restart to restart it through the cluster now, or later: {exc.hint}",
            ) from None
        except PartlyApplied as exc:
            raise HavirtError(f"{exc.message}; revision {number} is stored", exc.hint) from None
        except HavirtError as exc:
            kind = next((k for k in (BadRequest, Refused, Conflict) if isinstance(exc, k)), None)
            message = f"{exc.message}; revision {number} is stored and not applied"
            raise (kind or HavirtError)(message, exc.hint) from None
    if not as_json:
        click.echo(_applied_text(report, number, wait))
    return report


def _appliers(access: NodeAccess, sessions: contextlib.ExitStack) -> Callable[[str], LiveApplier]:
    """How the guest's node is reached: over SSH as the node options say (none: the
    node by its cluster name); each session is closed when ``sessions`` ends."""

    def applier(node: str) -> LiveApplier:
        from havirt.tools.domains.apply import VirshApplier
        from havirt.tools.validate import ssh

        named = access.hosts or access.inventory is not None
        nodes, connector = reach(access if named else replace(access, hosts=(node,)), "apply on")
        target = next((t for t in nodes if t.name == node), None)
        if target is None:
            raise Refused(
                f"the guest runs on {node}, which is not among the nodes named; nothing was "
                "applied",
                f"name it: --host {node}=ADDRESS, or the inventory that lists it",
            )
        try:
            session = connector.connect(target)
        except ssh.ConnectError as exc:
            said = getattr(exc, "message", None) or str(exc)
            raise HavirtError(
                f"cannot reach {node}: {said}; nothing was applied",
                "check the SSH options (-u, -i, --known-hosts), then edit again with --apply",
            ) from None
        close = getattr(session, "close", None)
        if close is not None:
            sessions.callback(close)
        return VirshApplier(session, node, access.command_timeout)

    return applier


def _applied_text(report: ApplyReport, number: int, wait: float) -> str:
    from havirt.tools.cli.moving import move_line
    from havirt.tools.domains import apply as A

    name, node = report.guest, report.node
    if report.outcome == A.NOT_RUNNING:
        return f"{name}: not running; nothing to apply (its next start uses revision {number})"
    if report.outcome == A.NOTHING_TO_APPLY:
        return f"{name}: runs on {node}; nothing to apply to it now"
    if report.outcome == A.APPLIED_LIVE:
        return f"{name}: applied live on {node}: {'; '.join(i.what for i in report.applied)}"
    lines = [move_line(r.move) for r in (report.stop, report.start) if r and r.move]
    if report.outcome == A.NOT_STARTED:
        lines.append(
            f"{name}: stopped, but not started again: {report.detail}; it stays stopped "
            f"(havirt domain start {name} --wait)"
        )
    elif report.start is None:
        lines.append(
            f"{name}: did not stop within {wait:g} s, so it was not started again; its "
            f"target-role is Stopped (havirt domain locate {name}; havirt domain start "
            f"{name} --wait)"
        )
    elif not report.start.ok:
        lines.append(
            f"{name}: stopped, but did not start again as planned (havirt domain locate {name})"
        )
    else:
        lines.append(f"{name}: restarted through the cluster; it runs revision {number}")
    return "\n".join(lines)


@click.command("import")
@click.argument("name")
@xml_option("The guest's domain XML (virsh dumpxml --inactive NAME > FILE).")
@click.option("--why", default="imported", show_default=True, help="Kept in the history.")
@store_options
def domain_import(
    name: str, xml_file: str, why: str, store: str | None, inventory: str | None
) -> None:
    """Store an existing guest's XML as the first revision of NAME (for guests that
    ran before havirt: see docs/domains.md). Touches neither libvirt nor Pacemaker."""
    from havirt.tools.domains import read_definition

    where = open_store(store, inventory)
    text = read_definition(xml_file, "the XML (--xml)")
    stored = where.create(name, text, _change(why), f"the XML in {xml_file}")
    _show_stored(where, name, stored.number, None)


DOMAIN_COMMANDS = (domain_history, domain_diff, domain_revert, domain_edit, domain_import)
