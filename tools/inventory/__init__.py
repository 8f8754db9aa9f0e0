"""The cluster inventory: one human-edited TOML file describing nodes, storage,
networks, guests and policies (see docs/inventory.md).

* :func:`load` / :func:`load_text` -- the checked :class:`Inventory`, or
  :class:`InventoryError` listing every problem with its line.
* :func:`check_file` / :func:`check_text` -- errors and warnings, never raising
  for a bad inventory.
* :mod:`.cluster_conf` -- import of the seed runbook's tab-delimited cluster.conf.
"""

from havirt.tools.inventory.kinds import Address
from havirt.tools.inventory.loader import check_file, check_text, load, load_text
from havirt.tools.inventory.model import (
    Cluster,
    Disk,
    Fence,
    Guest,
    Inventory,
    Network,
    Node,
    Policies,
    Storage,
)
from havirt.tools.inventory.problem import CheckResult, InventoryError, Problem

__all__ = [
    "Address",
    "CheckResult",
    "Cluster",
    "Disk",
    "Fence",
    "Guest",
    "Inventory",
    "InventoryError",
    "Network",
    "Node",
    "Policies",
    "Problem",
    "Storage",
    "check_file",
    "check_text",
    "load",
    "load_text",
]
