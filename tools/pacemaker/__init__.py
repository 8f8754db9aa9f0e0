"""Pacemaker for the havirt CLI: pure parsers of the tools' machine-readable output and
the one adapter that runs them.

* :mod:`.status` -- :class:`ClusterStatus` and its nodes, resources and failed actions
  (``crm_mon --output-as xml``).
* :mod:`.history` -- :class:`OperationHistory`: every resource's operations per node
  (the CIB status section).
* :mod:`.simulation` -- :class:`Simulation`: the actions ``crm_simulate`` plans.
* :mod:`.verify` -- :class:`VerifyResult`: what ``crm_verify`` found.
* :mod:`.version` -- :class:`CibVersion`.
* :mod:`.errors` -- :class:`CrmExit`, :class:`PacemakerError`, :class:`PacemakerTimeout`.
* :mod:`.adapter` -- :class:`PacemakerAdapter`, what the library may ask of Pacemaker.
* :mod:`.live` -- :class:`Pacemaker`, the adapter (every call through a CommandRunner),
  and :class:`PrefixRunner`.
* :mod:`.push` -- :func:`push_change`: one CIB change, pushed against the CIB as read.

Callers import from here (``from havirt.tools.pacemaker import Pacemaker``); the modules
are the rooms. Importing this package imports lxml, so the CLI imports it inside the
commands that talk to the cluster, never for ``--help``.
"""

from havirt.tools.pacemaker.adapter import PacemakerAdapter
from havirt.tools.pacemaker.errors import CrmExit, PacemakerError, PacemakerTimeout, crm_exit
from havirt.tools.pacemaker.history import Operation, OperationHistory, parse_history
from havirt.tools.pacemaker.live import DEFAULT_TIMEOUT, PACKAGES, Pacemaker, PrefixRunner
from havirt.tools.pacemaker.push import push_change
from havirt.tools.pacemaker.simulation import PlannedAction, Simulation, parse_simulation
from havirt.tools.pacemaker.status import (
    ClusterStatus,
    FailedAction,
    NodeStatus,
    ResourceStatus,
    parse_status,
)
from havirt.tools.pacemaker.verify import (
    VERIFY_LINE_WIDTH,
    VERIFY_LINES,
    VerifyResult,
    parse_verify,
    verify_lines,
)
from havirt.tools.pacemaker.version import CibVersion

__all__ = [
    "DEFAULT_TIMEOUT",
    "PACKAGES",
    "VERIFY_LINES",
    "VERIFY_LINE_WIDTH",
    "CibVersion",
    "ClusterStatus",
    "CrmExit",
    "FailedAction",
    "NodeStatus",
    "Operation",
    "OperationHistory",
    "Pacemaker",
    "PacemakerAdapter",
    "PacemakerError",
    "PacemakerTimeout",
    "PlannedAction",
    "PrefixRunner",
    "ResourceStatus",
    "Simulation",
    "VerifyResult",
    "crm_exit",
    "parse_history",
    "parse_simulation",
    "parse_status",
    "parse_verify",
    "push_change",
    "verify_lines",
]
