"""`havirt node list`, `havirt domain list` and `havirt domain locate`: parse and render only.

The work is done by havirt.tools.records (imported inside the commands, so that
`havirt --help` stays fast). ``node list`` joins the ``node`` group of
tools/cli/maintenance.py in tools/cli/main.py.

Exit codes of these commands (docs/records.md):
0 listed (with --check: nothing flagged, every node asked answered);
1 with --check: something is flagged; 2 the command could not do its work
(Pacemaker does not answer, an unknown guest or node, a bad option);
3 with --check: nothing flagged, but a node's libvirt did not answer.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click
from havirt.tools.cli.common import Number, print_json
from havirt.tools.cli.exit_codes import fail
from havirt.tools.cli.world import command_world
from havirt.tools.errors import HavirtError

if TYPE_CHECKING:
    from havirt.tools.findings import Finding
    from havirt.tools.records import (
        DomainListing,
        Guest,
        GuestLocation,
        NodeRecord,
        NodeScan,
        Sources,
    )

EXIT_OK, EXIT_FLAGGED, EXIT_TROUBLE, EXIT_INCOMPLETE = 0, 1, 2, 3
TIMEOUT = 5.0  # seconds per node; havirt.tools.records.DEFAULT_TIMEOUT (not imported here)


@contextlib.contextmanager
def _trouble() -> Iterator[None]:
    """Any failure of these commands exits 2, apart from --check's 1 and 3."""
    try:
        yield
    except HavirtError as exc:
        fail(exc, EXIT_TROUBLE)


LIBVIRT_OPTIONS = (
    click.option(
        "--connect-template",
        "template",
        envvar="HAVIRT_CONNECT_TEMPLATE",
        metavar="URI",
        help="How to reach a node's libvirt, {node} standing for the node's name, "
        "e.g. 'qemu+ssh://root@{node}/system'. Default: the URI the guests' agents "
        "migrate to (their hypervisor and migration_transport parameters), and "
        "the local hypervisor for this node. Env: HAVIRT_CONNECT_TEMPLATE.",
    ),
    click.option(
        "--timeout",
        type=Number(float, 0.1, 3600, unit="seconds"),
        default=TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="How long each node's libvirt may take to answer (all are asked at once).",
    ),
    click.option(
        "--all-nodes",
        is_flag=True,
        help="Also ask the nodes Pacemaker has offline (a guest may run on a node "
        "whose cluster stack is down).",
    ),
)
"""How the nodes' libvirt is reached (--connect-template, --timeout, --all-nodes): the
options of every command that asks it (``domain start`` too)."""


def reach_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The libvirt options and --json: those of the records' commands."""
    json = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    for option in reversed((*LIBVIRT_OPTIONS, json)):
        command = option(command)
    return command


def _sources(template: str | None, timeout: float, all_nodes: bool) -> Sources:
    """Read crm_mon, the CIB and every node's libvirt, as the command's world does
    (tools/cluster/env.py: this machine's unless the caller passed another)."""
    return command_world().sources(template, timeout, all_nodes)


# -- rendering ----------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(click.unstyle(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [c + " " * (w - len(click.unstyle(c))) for c, w in zip(cells, widths, strict=True)]
        return "  ".join(padded).rstrip()

    return [line(header), *(line(r) for r in rows)]


def _red(text: str) -> str:
    return click.style(text, fg="red", bold=True)


def _flag_word(code: str) -> str:
    return code.replace("-", " ").upper()


def _flag(flag: Finding, guest: str = "") -> list[str]:
    """A flag and its fix, the line after (``guest`` before it, in a list of guests)."""
    word = _flag_word(flag.code)
    head = f"{guest}: " if guest else ""
    lines = [f"{head}{_red(word) if flag.severity == 'error' else word}: {flag.message}"]
    return [*lines, f"  fix: {flag.fix}"] if flag.fix else lines


def _flags_cell(g: Guest) -> str:
    words = [_red(_flag_word(f.code)) for f in g.errors]
    words += [f"({f.code})" for f in g.flags if f.severity != "error"]
    return " ".join(words)


def _pacemaker_cell(g: Guest) -> str:
    if g.resource is None:
        return "(no resource)"
    role = g.role or "Stopped"
    text = f"{role} {', '.join(g.pacemaker_nodes)}".strip()
    extras = [w for w, on in (("FAILED", g.failed), ("unmanaged", g.managed is False)) if on]
    return f"{text} ({', '.join(extras)})" if extras else text


def _libvirt_cell(g: Guest) -> str:
    parts = []
    for node in g.running_on:
        dom = g.libvirt[node]
        parts.append(node if dom.state == "running" else f"{node} ({dom.state})")
    parts += [f"{n}?" for n in g.unverified]
    return ", ".join(parts) or "-"


def _scan_line(scan: NodeScan) -> str:
    if not scan.asked:
        return f"{scan.node}: not asked (offline in Pacemaker; --all-nodes asks it)"
    if scan.ok:
        return f"{scan.node}: answered in {scan.seconds or 0:.2f} s ({scan.uri})"
    return _red(f"{scan.node}: NO ANSWER from {scan.uri}: {scan.error}")


def _footer(scans: dict[str, NodeScan] | Any) -> list[str]:
    silent = [s for s in scans.values() if s.asked and not s.ok]
    lines = []
    if silent:
        names = ", ".join(s.node for s in silent)
        lines.append(_red(f"VIEW INCOMPLETE: the libvirt of {names} did not answer"))
        lines += [f"  {_scan_line(s)}" for s in silent]
        lines.append(
            "  fix: check libvirtd there, or how it is reached (--connect-template, --timeout)"
        )
    lines += [f"  {_scan_line(s)}" for s in scans.values() if not s.asked]
    return lines


def render_domains(listing: DomainListing) -> str:
    lines = []
    if listing.maintenance_mode:
        lines.append(
            "cluster in maintenance mode: Pacemaker neither monitors nor acts; its view "
            "may be stale"
        )
    rows = [
        [
            g.name,
            g.resource or "-",
            _pacemaker_cell(g),
            _libvirt_cell(g),
            ", ".join(g.defined_on) or "-",
            _flags_cell(g),
        ]
        for g in listing.guests
    ]
    header = ["GUEST", "RESOURCE", "PACEMAKER", "LIBVIRT RUNNING", "DEFINED ON", "FLAGS"]
    lines += _table(header, rows) if rows else ["no guests: no VirtualDomain resource, no domain"]
    details = [(g, f) for g in listing.guests for f in g.flags]
    if details:
        lines.append("")
    for g, flag in details:
        lines += _flag(flag, g.name)
    answered = [s.node for s in listing.scans.values() if s.ok]
    flagged = len(listing.flagged)
    summary = f"{len(listing.guests)} guest{'s' if len(listing.guests) != 1 else ''}, "
    summary += _red(f"{flagged} flagged") if flagged else "none flagged"
    summary += f"; libvirt answered on {', '.join(answered) or 'no node'}"
    lines += ["", summary, *_footer(listing.scans)]
    return "\n".join(lines)


def render_nodes(records: tuple[NodeRecord, ...]) -> str:
    names = list(records[0].utilization) if records else []
    rows = []
    for r in records:
        state = r.state if r.state in ("online", "standby") else _red(r.state.upper())
        guests = f"{len(r.guests)} ({', '.join(r.guests)})" if r.guests else "0"
        usage = []
        for name in names:
            u = r.utilization[name]
            usage.append(f"{u.used}/{u.capacity if u.capacity is not None else '-'}")
        scan = r.libvirt
        if not scan.asked:
            libvirt = "not asked"
        elif scan.ok:
            libvirt = f"reachable, {len(r.libvirt_running)} running"
        else:
            libvirt = _red("UNREACHABLE")
        rows.append([r.name, state, "DC" if r.is_dc else "", guests, *usage, libvirt])
    header = ["NODE", "STATE", "DC", "GUESTS", *(f"{n.upper()} used/cap" for n in names)]
    lines = _table([*header, "LIBVIRT"], rows) if rows else ["no nodes in the cluster"]
    silent = [r.libvirt for r in records if r.libvirt.asked and not r.libvirt.ok]
    if silent:
        lines.append("")
        lines += [_scan_line(s) for s in silent]
    return "\n".join(lines)


def render_location(loc: GuestLocation) -> str:
    g = loc.guest
    what = f"resource {g.resource} ({g.agent})" if g.resource else "no cluster resource"
    lines = [f"{g.name}: {what}" + (f", uuid {g.uuid}" if g.uuid else "")]
    if g.config:
        lines.append(f"  config: {g.config}")
    if g.identity_problem:
        lines.append(f"  domain name taken from the resource id: {g.identity_problem}")
    if g.resource:
        where = f" on {', '.join(g.pacemaker_nodes)}" if g.pacemaker_nodes else ""
        managed = "" if g.managed is not False else " (unmanaged)"
        lines.append(f"Pacemaker: {g.role or 'Stopped'}{where}{managed}")
    lines.append("libvirt:")
    rows = []
    for node, scan in loc.scans.items():
        dom = g.libvirt.get(node)
        if not scan.asked:
            text = "not asked (offline in Pacemaker)"
        elif not scan.ok:
            text = _red(f"NO ANSWER ({scan.error})")
        elif dom is None:
            text = "not known"
        else:
            kind = "defined" if dom.persistent else "transient"
            text = f"{dom.state} ({dom.reason}), {kind}"
        rows.append([f"  {node}", text])
    lines += _table(["  NODE", "DOMAIN"], rows)
    if loc.locations:
        lines.append("location constraints:")
        crows = []
        for c in loc.locations:
            target = c.node or (f"rule: {c.rule}" if c.rule else "-")
            note = ""
            if c.origin in ("move", "ban"):
                what = "a move" if c.origin == "move" else "a ban"
                note = f"left by {what}: 'pcs resource clear {g.resource}' removes it"
            elif c.origin == "havirt-move":
                note = "a havirt move's, temporary: 'havirt place --clear-moves' removes it"
            elif c.origin == "havirt-place":
                note = f"havirt place's: 'havirt place {g.resource} --clear' removes it"
            crows.append([f"  {c.id}", target, c.score, note])
        lines += _table(["  ID", "NODE", "SCORE", ""], crows)
    elif g.resource:
        lines.append("location constraints: none")
    for flag in g.flags:
        lines += _flag(flag)
    lines += _footer(loc.scans)
    return "\n".join(lines)


# -- commands -----------------------------------------------------------------------------


@click.command("list")
@reach_options
def node_list(template: str | None, timeout: float, all_nodes: bool, as_json: bool) -> None:
    """Each node: its state in Pacemaker, its guests, capacity and use, libvirt.

    STATE is Pacemaker's (online, standby, maintenance, offline, unclean, ...);
    GUESTS the guest resources Pacemaker has active there; each utilization
    column is what the active resources' utilization adds up to, against the
    node's capacity (its utilization in the CIB); LIBVIRT whether the node's
    libvirt answered and how many domains it runs. See docs/records.md.
    """
    from havirt.tools import records

    with _trouble():
        sources = _sources(template, timeout, all_nodes)
        found = records.nodes(sources)
    if as_json:
        print_json({"nodes": [r.to_dict() for r in found]})
    else:
        click.echo(render_nodes(found))


@click.group("domain")
def domain_group() -> None:
    """Guests (libvirt domains): where they run, according to Pacemaker and to libvirt."""


@domain_group.command("list")
@click.option("--node", metavar="NODE", help="Only the guests running or defined on NODE.")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when anything is flagged, 3 when a node's libvirt did not answer.",
)
@reach_options
def domain_list(
    node: str | None,
    check: bool,
    template: str | None,
    timeout: float,
    all_nodes: bool,
    as_json: bool,
) -> None:
    """Every guest, as Pacemaker and every node's libvirt see it; flags what is wrong.

    A guest is a VirtualDomain resource (ocf:havirt: or ocf:heartbeat:) with the
    domain its config file names, or a domain some node's libvirt runs or
    defines that no resource describes. Flagged: a guest running on two nodes,
    a domain running outside Pacemaker's knowledge, Pacemaker and libvirt
    disagreeing, a failed or blocked resource. A node whose libvirt does not
    answer makes the view incomplete (said at the end). See docs/records.md.
    """
    from havirt.tools import records

    with _trouble():
        listing = records.guests(_sources(template, timeout, all_nodes))
        if node:
            listing = records.guests_on(listing, node)
    if as_json:
        print_json(listing.to_dict())
    else:
        click.echo(render_domains(listing))
    if check:
        if listing.flagged:
            sys.exit(EXIT_FLAGGED)
        if not listing.complete:
            sys.exit(EXIT_INCOMPLETE)


@domain_group.command("locate")
@click.argument("guest")
@reach_options
def domain_locate(
    guest: str, template: str | None, timeout: float, all_nodes: bool, as_json: bool
) -> None:
    """Where GUEST runs and is defined, by Pacemaker and by each node's libvirt.

    GUEST is a resource id, a domain name or a domain UUID. Also lists the
    location constraints naming it (those left by a move or a ban are marked).
    """
    from havirt.tools import records

    with _trouble():
        found = records.locate(_sources(template, timeout, all_nodes), guest)
    if as_json:
        print_json(found.to_dict())
    else:
        click.echo(render_location(found))
