"""`havirt domain history|diff|revert|edit|import`: the definition store's commands.

Parse and render only; the store is havirt.tools.domains (imported inside the commands,
so that `havirt --help` stays fast). These commands join the ``domain`` group of
tools/cli/records.py in tools/cli/main.py.

Their world (who changes, the clock, the editor, where the editor's copy goes) is the
command's :class:`~havirt.tools.cli.world.ClusterWorld`: this machine's, or the one a
test passes as the click context object. Exit codes as tools/cli/exit_codes.py: 0 done
(also: nothing to change), 2 bad input or refused (nothing changed), 3 another admin
changed the guest meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click
from havirt.tools.cli.world import command_world
from havirt.tools.errors import BadRequest, HavirtError

if TYPE_CHECKING:
    from havirt.tools.domains import Change, DefinitionStore


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


def _show_stored(store: DefinitionStore, name: str, number: int, base: int | None) -> None:
    if base is not None:
        diff = store.diff(name, base, number)
        click.echo(diff, nl=False)
    click.echo(
        f"{name}: {_revision(number)} stored"
        + (f" (from {base})" if base is not None else "")
        + f"; current definition: {store.current_path(name)}"
    )
    click.echo(
        "  note: a running guest keeps its definition until its next start (applying "
        "changes live is not there yet)"
    )


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
@store_options
def domain_edit(
    name: str,
    xml_file: str | None,
    base: int | None,
    why: str,
    store: str | None,
    inventory: str | None,
) -> None:
    """Change guest NAME's definition: in $EDITOR (like virsh edit) or from --xml FILE.
    An unchanged file changes nothing; a refused edit changes nothing and keeps the
    edited text."""
    from havirt.tools.domains import read_definition

    if base is not None and xml_file is None:
        raise BadRequest("--base goes with --xml", "name the edited file with --xml FILE")
    where = open_store(store, inventory)
    base = where.latest(name) if base is None else base
    current = where.get(name, base)
    if xml_file is not None:
        new = read_definition(xml_file, "the XML (--xml)")
        if new == current:
            click.echo(f"{name}: {xml_file} is the same as {_revision(base)}; nothing stored")
            return
        stored = where.commit(name, new, base, _change(why), f"the XML in {xml_file}")
        _show_stored(where, name, stored.number, base)
        return
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
            click.echo(f"{name}: unchanged; nothing stored")
            return
        stored = where.commit(name, new, base, _change(why), f"the edited XML of {name}")
    os.unlink(path)
    _show_stored(where, name, stored.number, base)


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
