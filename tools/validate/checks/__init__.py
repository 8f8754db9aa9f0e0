"""The checks, declared as data: each check of the catalog and the comparison that runs
it (pure: facts in, findings out; one module per topic). Every finding names the
node, the item, what differs, and the command or edit that fixes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from havirt.tools.findings import Finding
from havirt.tools.validate.catalog import CATALOG
from havirt.tools.validate.checks.context import Context
from havirt.tools.validate.checks.definitions import check_definitions
from havirt.tools.validate.checks.host import (
    check_clock,
    check_cpu,
    check_host_uuid,
    check_versions,
)
from havirt.tools.validate.checks.lock import check_lock_manager
from havirt.tools.validate.checks.luns import check_luns
from havirt.tools.validate.checks.memory import check_memory
from havirt.tools.validate.checks.names import check_hostnames
from havirt.tools.validate.checks.objects import check_networks, check_pools
from havirt.tools.validate.checks.trust import check_ssh_trust


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    compares: str  # what is compared, for --help and the docs
    run: Callable[[Context], list[Finding]] | None  # None: made by the engine (connect)


_RUN: dict[str, Callable[[Context], list[Finding]]] = {
    "networks": check_networks,
    "pools": check_pools,
    "luns": check_luns,
    "ssh-trust": check_ssh_trust,
    "cpu": check_cpu,
    "versions": check_versions,
    "host-uuid": check_host_uuid,
    "hostnames": check_hostnames,
    "clock": check_clock,
    "lock-manager": check_lock_manager,
    "memory": check_memory,
    "definitions": check_definitions,
}
CHECKS: tuple[Check, ...] = tuple(
    Check(info.id, info.title, info.compares, _RUN.get(info.id)) for info in CATALOG
)
