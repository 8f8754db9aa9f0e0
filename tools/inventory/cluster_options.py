"""Pacemaker's cluster options as data, and which of them an inventory may set.

An inventory's ``[cluster.properties]`` may set any option Pacemaker knows, except:

* the ones havirt sets itself (``stonith-enabled``, ``placement-strategy``): a second
  value would be a second nvpair with the same id, which ``crm_verify`` rejects;
* the ones Pacemaker maintains (``dc-version``, ``cluster-name``, ...);
* values that weaken fencing or quorum (``stonith-enabled=false``, ``startup-fencing=
  false``, ``no-quorum-policy=ignore`` with more than two nodes): these, and options this
  list does not know (a newer Pacemaker's), are accepted only in ``[cluster.overrides]``
  with a reason, and then warned about on every run.

The list is Pacemaker 2.1's (the meta-data of pacemaker-schedulerd, -controld and
-based); tests/contract checks it against the installed Pacemaker.
"""

from __future__ import annotations

# pacemaker-schedulerd, pacemaker-controld and pacemaker-based meta-data (Pacemaker 2.1).
PACEMAKER_CLUSTER_OPTIONS = frozenset(
    {
        # scheduler
        "no-quorum-policy",
        "symmetric-cluster",
        "maintenance-mode",
        "start-failure-is-fatal",
        "enable-startup-probes",
        "shutdown-lock",
        "shutdown-lock-limit",
        "stonith-enabled",
        "stonith-action",
        "stonith-timeout",
        "have-watchdog",
        "concurrent-fencing",
        "startup-fencing",
        "priority-fencing-delay",
        "cluster-delay",
        "batch-limit",
        "migration-limit",
        "stop-all-resources",
        "stop-orphan-resources",
        "stop-orphan-actions",
        "remove-after-stop",
        "pe-error-series-max",
        "pe-warn-series-max",
        "pe-input-series-max",
        "node-health-strategy",
        "node-health-base",
        "node-health-green",
        "node-health-yellow",
        "node-health-red",
        "placement-strategy",
        # controller
        "dc-version",
        "cluster-infrastructure",
        "cluster-name",
        "dc-deadtime",
        "cluster-recheck-interval",
        "load-threshold",
        "node-action-limit",
        "fence-reaction",
        "election-timeout",
        "shutdown-escalation",
        "join-integration-timeout",
        "join-finalization-timeout",
        "transition-delay",
        "stonith-watchdog-timeout",
        "stonith-max-attempts",
        # CIB manager
        "enable-acl",
        "cluster-ipc-limit",
    }
)

# Set by Pacemaker itself; an inventory value would be overwritten or conflict.
MAINTAINED_BY_PACEMAKER = frozenset(
    {"dc-version", "cluster-infrastructure", "cluster-name", "have-watchdog"}
)

# Set by havirt from the inventory: what to write instead.
SET_BY_HAVIRT = {
    "stonith-enabled": "havirt always enables fencing; to run without it, see [cluster.overrides]",
    "placement-strategy": "set placement_strategy in [policies]",
}


def weakens_safety(name: str, value: str, node_count: int) -> str | None:
    """Why setting NAME=VALUE endangers guests (fencing or quorum off), else None."""
    word = value.strip().lower()
    falsy = word in ("false", "no", "off", "n", "0")
    if name == "stonith-enabled" and falsy:
        return (
            "fencing is off: a node that stops answering is not powered off, so its guests "
            "are not recovered elsewhere (or are started twice if it was only cut off)"
        )
    if name == "startup-fencing" and falsy:
        return (
            "nodes never seen since the cluster started are assumed down without being "
            "fenced: a guest still running on one may be started a second time"
        )
    if name == "no-quorum-policy" and word == "ignore" and node_count > 2:
        return (
            f"a partition without quorum keeps running guests ({node_count} nodes): "
            "two partitions may both run the same guest"
        )
    if name == "stop-all-resources" and not falsy:
        return "every guest of the cluster is stopped"
    return None
