"""`havirt inventory ...`, `havirt generate` and `havirt apply`: parse and render only.

The work is done by havirt.tools.inventory, havirt.tools.generate and the
Pacemaker adapter (havirt.tools.pacemaker); they are imported inside the
commands so that `havirt --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click
from havirt.tools.cli.common import print_json
from havirt.tools.cli.world import command_world

if TYPE_CHECKING:
    from havirt.tools.generate.apply import Comparison
    from havirt.tools.inventory import Inventory, Problem


def _problem_line(problem: Problem) -> str:
    color = "red" if problem.severity == "error" else "yellow"
    return click.style(str(problem), fg=color)


def _summary(inv: Inventory) -> str:
    def n(count: int, word: str) -> str:
        plural = "" if count == 1 or word == "storage" else "s"
        return f"{count} {word}{plural}"

    return ", ".join(
        [
            n(len(inv.nodes), "node"),
            n(len(inv.guests), "guest"),
            n(len(inv.storage), "storage"),
            n(len(inv.networks), "network"),
        ]
    )


@click.group("inventory")
def inventory_group() -> None:
    """Check, show and import the cluster inventory (one TOML file)."""


@inventory_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def inventory_check(file: str, as_json: bool) -> None:
    """Check an inventory: exit 0 when it has no errors (warnings allowed), else 1.

    Every problem is reported with its line: FILE:LINE: PATH: MESSAGE.
    """
    from havirt.tools.inventory import check_file

    result = check_file(file)
    errors = [p for p in result.problems if p.severity == "error"]
    if as_json:
        print_json(
            {
                "file": file,
                "ok": result.ok,
                "errors": len(errors),
                "warnings": len(result.problems) - len(errors),
                "problems": [p.to_dict() for p in result.problems],
            }
        )
    else:
        from havirt.tools.inventory.problem import SHOWN_PROBLEMS

        for problem in result.problems[:SHOWN_PROBLEMS]:
            click.echo(_problem_line(problem))
        if len(result.problems) > SHOWN_PROBLEMS:
            click.echo(f"... and {len(result.problems) - SHOWN_PROBLEMS} more (--json lists all)")
        if result.inventory is not None:
            click.echo(f"{file}: ok ({_summary(result.inventory)})")
        else:
            click.echo(f"{file}: {len(errors)} error{'' if len(errors) == 1 else 's'}")
    if not result.ok:
        sys.exit(1)


def _show_text(inv: Inventory) -> str:
    from havirt.tools.inventory.model import duration_text, size_text

    pol = inv.policies
    lines = [f"cluster {inv.cluster.name} ({inv.source}): {_summary(inv)}", "", "nodes:"]
    for node in inv.nodes:
        addrs = ", ".join(str(a) for a in node.addresses)
        lines.append(
            f"  {node.name:<12} {addrs:<34} {size_text(node.memory):>8} {node.vcpus:>3} vCPUs"
            f"  fence {node.fence.agent}"
        )
    if inv.storage:
        lines += ["", "storage:"]
        for s in inv.storage:
            source = f"{s.server}:{s.export}" if s.type == "nfs" else "(shared directory)"
            managed = "  managed by Pacemaker" if s.clustered else ""
            lines.append(f"  {s.name:<12} {s.type:<4} {source} -> {s.target}{managed}")
    if inv.networks:
        lines += ["", "networks:"]
        for net in inv.networks:
            extra = f" {net.address}" if net.address else (f" {net.subnet}" if net.subnet else "")
            lines.append(f"  {net.name:<12} {net.forward:<8} bridge {net.bridge}{extra}")
    if inv.guests:
        lines += ["", "guests:"]
        for g in inv.guests:
            facts = [f"{size_text(g.memory):>8}", f"{g.vcpus:>2} vCPUs"]
            if g.ip:
                facts.append(f"ip {g.ip}")
            if g.preferred_nodes:
                facts.append("prefers " + ",".join(g.preferred_nodes))
            if g.anti_affinity:
                facts.append("apart: " + ",".join(g.anti_affinity))
            if not g.migrate:
                facts.append("no live migration")
            lines.append(f"  {g.name:<12} " + "  ".join(facts))
    lines += [
        "",
        f"policies: migration over {pol.migration_transport}, stickiness {pol.stickiness}, "
        f"placement {pol.placement_strategy}, monitor every "
        f"{duration_text(pol.monitor_interval)}",
    ]
    return "\n".join(lines)


@inventory_group.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The inventory with every default filled in.")
def inventory_show(file: str, as_json: bool) -> None:
    """Show an inventory as havirt reads it (defaults filled in)."""
    from havirt.tools.inventory import load

    inv = load(file)
    if as_json:
        print_json(inv.to_dict())
    else:
        click.echo(_show_text(inv))


def _write_output(text: str, output: str | None) -> None:
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    from havirt.tools.userinput import write_atomically

    write_atomically(output, text, "pass another file as -o")


@inventory_group.command("import")
@click.argument("cluster_conf", type=click.Path(dir_okay=False))
@click.option(
    "--into",
    type=click.Path(dir_okay=False, exists=True),
    help="An inventory to append the guests to (the result is checked as a whole).",
)
@click.option("-o", "--output", metavar="FILE", help="Write here (default: stdout).")
def inventory_import(cluster_conf: str, into: str | None, output: str | None) -> None:
    """Turn the seed runbook's tab-delimited cluster.conf into [[guests]] tables.

    Fields per line: name, MAC, IP, RAM (MB), disk (GB), CPU count, hostgroups.
    Nothing is written unless the whole file (and, with --into, the whole
    resulting inventory) is valid.
    """
    from havirt.tools.inventory.cluster_conf import import_text
    from havirt.tools.userinput import output_file, read_text

    if output not in (None, "-"):
        # before reading anything: nothing is written on errors
        output_file(output, "-o", command_world().writable)
    text = read_text(cluster_conf, "cluster.conf")
    into_text = None if into is None else read_text(into, "inventory (--into)")
    result = import_text(
        text,
        os.path.basename(cluster_conf),
        into_text,
        os.path.basename(output or into or "inventory.toml"),
    )
    _write_output(result, output)


# -- generate / apply ---------------------------------------------------------------------


def _comparison_text(cmp: Comparison, verbose_diff: bool = True) -> str:
    m = cmp.merge
    lines = [f"live CIB version {cmp.live_version}:"]
    if not m.has_changes:
        lines.append("  the live CIB already has everything the inventory asks for")
    for label, items in (("add", m.added), ("change", m.changed)):
        lines += [f"  {label:<7}{item}" for item in items]
    for rid in m.not_in_inventory:
        lines.append(
            f"  note: live guest {rid} is not in the inventory; left alone "
            f"(remove it with 'pcs resource delete {rid}')"
        )
    if verbose_diff and cmp.diff:
        lines += ["", cmp.diff.rstrip("\n")]
    return "\n".join(lines)


@click.command("generate")
@click.argument("inventory", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "directory", required=True, metavar="DIR", help="Where to write.")
@click.option("--diff", is_flag=True, help="Also compare the CIB with the live cluster's.")
@click.option(
    "--apply",
    is_flag=True,
    help="Compare with the live CIB, then push the changes as one transaction.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def generate_command(
    inventory: str, directory: str, diff: bool, apply: bool, as_json: bool
) -> None:
    """Write the cluster's configuration files for INVENTORY into DIR.

    corosync.conf, cib.xml (crm_verify -x accepts it), cib.pcs (the same as
    one pcs -f script), libvirt pool/network XML per node, hosts,
    dnsmasq-hosts.conf and ssh_config. Nothing is written when the inventory
    has errors. With --diff, the live CIB is read (on a cluster node, or from
    CIB_file) and the changes are shown; --apply also pushes them.
    """
    from havirt.tools import generate
    from havirt.tools.generate.apply import apply_directory, record_live
    from havirt.tools.inventory import InventoryError, check_file
    from havirt.tools.userinput import output_dir, read_bytes

    output_dir(directory, "-o", command_world().writable)  # before anything is read or written
    checked = check_file(inventory)
    if checked.inventory is None:
        raise InventoryError(os.path.basename(inventory), checked.problems)
    inv = checked.inventory
    warnings = [str(p) for p in checked.problems]  # only warnings are left
    if not as_json:
        for warning in warnings:
            click.echo(click.style(warning, fg="yellow"), err=True)
    digest = generate.sha256(read_bytes(inventory, "inventory"))
    files = generate.render(inv)
    report = generate.write(directory, files, generate.manifest(inv, digest, files))
    data: dict[str, Any] = {
        "warnings": warnings,
        "directory": directory,
        "written": report.written,
        "unchanged": report.unchanged,
        "removed": report.removed,
    }
    summary = f"{directory}: {len(report.written)} written, {len(report.unchanged)} unchanged"
    if report.removed:
        summary += f", {len(report.removed)} removed"
    if not as_json:
        click.echo(summary)  # before reading the cluster, which may fail
    if diff or apply:
        pacemaker = command_world().pacemaker()
        cmp = record_live(directory, pacemaker)
        data["comparison"] = cmp.to_dict()
        if not as_json:
            click.echo(_comparison_text(cmp, verbose_diff=diff))
        if apply:
            applied = apply_directory(directory, pacemaker)
            data["apply"] = applied.to_dict()
            if not as_json:
                click.echo(_apply_text(applied))
    if as_json:
        print_json(data)


def _apply_text(report: Any) -> str:
    if not report.pushed:
        lines = ["nothing to push: the live CIB already matches"]
    else:
        count = len(report.merge["added"]) + len(report.merge["changed"])
        lines = [f"pushed {count} change(s) to the CIB in one transaction"]
        lines += [f"  crm_verify warning: {w}" for w in report.warnings]
    lines += [click.style(f"WARNING: {w}", fg="red", bold=True) for w in report.unsafe]
    return "\n".join(lines)


@click.command("apply")
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def apply_command(directory: str, as_json: bool) -> None:
    """Push DIR's cib.xml to the cluster as ONE transaction.

    DIR must have been compared with the live CIB (havirt generate --diff);
    refuses, changing nothing, when the live configuration changed since (exit
    3), when cib.xml was edited, or when crm_verify rejects the result.
    """
    from havirt.tools.generate.apply import apply_directory

    report = apply_directory(directory, command_world().pacemaker())
    if as_json:
        print_json(report.to_dict())
    else:
        click.echo(_apply_text(report))
