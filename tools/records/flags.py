"""What is wrong with a guest, or worth knowing: its flags, findings of these codes.

* ``two-nodes`` (error): libvirt runs the guest on more than one node (outside a
  live migration), or Pacemaker itself sees it active on more than one;
* ``outside-pacemaker`` (error): a domain runs that no cluster resource describes;
* ``disagree`` (error): Pacemaker has it started on a node whose libvirt does not
  run it, or libvirt runs it where Pacemaker does not know it;
* ``failed`` / ``blocked`` (error): Pacemaker marks the resource so;
* ``migrating`` (note): two copies, one of them the end of a live migration;
* ``unverified`` (note): Pacemaker has it on a node whose libvirt did not answer;
* ``failed-actions`` (note): failed operations Pacemaker still records.

Pure functions of a joined :class:`~.model.Guest` and its sources.
"""

from __future__ import annotations

from dataclasses import replace

from havirt.tools.findings import ERROR, NOTE, Finding
from havirt.tools.records.model import Guest, Sources

TWO_NODES = "two-nodes"
OUTSIDE = "outside-pacemaker"
DISAGREE = "disagree"
FAILED = "failed"
BLOCKED = "blocked"
MIGRATING = "migrating"
UNVERIFIED = "unverified"
FAILED_ACTIONS = "failed-actions"


def _nodes(names: tuple[str, ...] | list[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def resource_flags(sources: Sources, g: Guest) -> tuple[Finding, ...]:
    """The flags of a guest a cluster resource describes."""
    flags: list[Finding] = []
    rid = g.resource or g.name
    running = g.running_on
    pcmk = g.pacemaker_nodes
    migrating = g.role == "Migrating" or (
        len(running) > 1 and any(g.libvirt[n].migrating for n in running)
    )
    if len(pcmk) > 1:
        flags.append(
            Finding(
                TWO_NODES,
                ERROR,
                f"Pacemaker sees it active on {_nodes(pcmk)}",
                "Pacemaker recovers a multiply-active resource by its multiple-active policy "
                "(default: stop every copy, start one); follow it with crm_mon",
            )
        )
    if migrating and len(running) > 1:
        states = ", ".join(f"{n} ({g.libvirt[n].state}/{g.libvirt[n].reason})" for n in running)
        flags.append(Finding(MIGRATING, NOTE, f"live migration in progress: {states}"))
    elif len(running) > 1:
        known = [n for n in running if n in pcmk]
        behind = f"; Pacemaker knows only the copy on {_nodes(known)}" if known else ""
        rogue = [n for n in running if n not in pcmk]
        flags.append(
            Finding(
                TWO_NODES,
                ERROR,
                f"libvirt runs it on {_nodes(running)}{behind}",
                f"two copies write the same disks: stop the one Pacemaker does not manage "
                f"now (on {_nodes(rogue or running)}: virsh destroy {g.name}), then "
                f"'crm_resource --refresh -r {rid}'",
            )
        )
    if not migrating:
        refresh = (
            f"let Pacemaker look again: crm_resource --refresh -r {rid} "
            f"(pcs resource refresh {rid})"
        )
        for node in pcmk:
            if sources.answered(node) and node not in running:
                there = g.libvirt.get(node)
                what = f"has it {there.state}" if there else "does not know it"
                flags.append(
                    Finding(
                        DISAGREE,
                        ERROR,
                        f"Pacemaker has it started on {node}, but libvirt there {what}",
                        refresh,
                        node=node,
                    )
                )
        if len(running) == 1 and running[0] not in pcmk:
            where = f"on {_nodes(pcmk)}" if pcmk else f"{(g.role or 'stopped').lower()}"
            flags.append(
                Finding(
                    DISAGREE,
                    ERROR,
                    f"libvirt runs it on {running[0]}, but Pacemaker has it {where}",
                    refresh,
                    node=running[0],
                )
            )
    for node in g.unverified:
        flags.append(
            Finding(
                UNVERIFIED,
                NOTE,
                f"Pacemaker has it on {node}, whose libvirt did not answer",
                node=node,
            )
        )
    if g.failed:
        flags.append(
            Finding(
                FAILED,
                ERROR,
                "Pacemaker marks the resource failed",
                f"fix the cause (crm_mon --failcounts), then pcs resource cleanup {rid}",
            )
        )
    if g.blocked:
        flags.append(
            Finding(
                BLOCKED,
                ERROR,
                "Pacemaker cannot act on the resource (blocked: a stop failed without fencing)",
                "see crm_mon; fix the node, then pcs resource cleanup " + rid,
            )
        )
    failures = [f for f in sources.status.failed_actions if f.resource == rid]
    if failures:
        text = "; ".join(
            f"{f.task} on {f.node}: {f.exitstatus or f.exitcode}"
            + (f" ({f.exitreason})" if f.exitreason else "")
            for f in failures
        )
        flags.append(
            Finding(FAILED_ACTIONS, NOTE, f"failed actions: {text}", f"pcs resource cleanup {rid}")
        )
    return tuple(replace(f, guest=g.name) for f in flags)


def loose_flags(g: Guest) -> tuple[Finding, ...]:
    """The flags of a domain no cluster resource describes."""
    name, running = g.name, g.running_on
    flags: list[Finding] = []
    if running:
        flags.append(
            Finding(
                OUTSIDE,
                ERROR,
                f"runs on {_nodes(running)} outside Pacemaker's knowledge (no cluster "
                "resource describes this domain)",
                f"make it a cluster resource (pcs resource create {name} "
                "ocf:havirt:VirtualDomain config=FILE ...) or stop it; if a resource "
                "runs it under another name, that resource's config file names another domain",
            )
        )
    if len(running) > 1:
        flags.append(Finding(TWO_NODES, ERROR, f"libvirt runs it on {_nodes(running)}"))
    return tuple(replace(f, guest=name) for f in flags)
