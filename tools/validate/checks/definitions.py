"""Guest definitions: every node's persistent libvirt definition of a guest is the
definition store's current revision, and no node defines a guest the store does not
know (:mod:`havirt.tools.domains.drift` judges each one)."""

from __future__ import annotations

from havirt.tools.domains.drift import judge
from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate.checks.context import Context


def check_definitions(ctx: Context) -> list[Finding]:
    stored = ctx.definitions
    if stored is None:
        return []
    found = []
    for node in ctx.order:
        held = ctx.facts[node].definitions or {}
        for guest in sorted(held):
            item = f"guest '{guest}'"
            if guest not in stored:
                found.append(
                    Finding(
                        "definitions",
                        WARNING,
                        f"{node} defines the guest {guest}, which the definition store "
                        "does not know",
                        f"import it (virsh dumpxml --inactive {guest} > {guest}.xml; havirt "
                        f"domain import {guest} --xml {guest}.xml), or undefine it on {node} "
                        f"(virsh undefine {guest}) if it is not the cluster's",
                        node=node,
                        guest=guest,
                        item=item,
                    )
                )
                continue
            current = stored[guest]
            try:
                differs = judge(current, held[guest], f"{guest}'s definition on {node}")
            except ValueError as exc:
                differs = f"is unreadable ({exc})"
            if differs is None:
                continue
            found.append(
                Finding(
                    "definitions",
                    ERROR,
                    f"the persistent definition of {guest} on {node} {differs}",
                    f"havirt domain sync {guest} (defines revision {current.revision} on {node})",
                    node=node,
                    guest=guest,
                    item=item,
                    expected=current.revision,
                )
            )
    return found
