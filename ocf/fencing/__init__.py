"""The fencing protocol of fence-agents' FenceAgentAPI, for havirt's fence agents.

Knows nothing of libvirt. One option table, declared as data, drives:

- the command line (``-o off``, ``--action=off``, ``-n vm1``, ``--plug vm1``);
- standard input, where Pacemaker passes ``name=value`` lines (``#`` comments,
  unknown names warned about and ignored, the last of repeated names wins);
- validation with one clear message per malformed option;
- the meta-data XML and the ``--help`` text.

An agent supplies only ``connect``, ``get_power_status``, ``set_power_status``
and ``list_plugs`` (and may add checks in ``validate``). The rooms, in import order
(each imports only the ones above it):

* :mod:`.actions` -- exit codes, power states, the actions, :class:`FenceError`.
* :mod:`.options` -- :class:`FenceOption`, :data:`COMMON_OPTIONS`, :class:`OptionTable`
  (parsing the command line and standard input, typed values).
* :mod:`.agent` -- :class:`FenceAgent` (the callbacks), :class:`FenceContext`, :class:`Plug`.
* :mod:`.usage` -- the ``--help`` text; :mod:`.metadata` -- the meta-data XML (lxml,
  imported only for the ``metadata`` action, never by this package).
* :mod:`.passwords` -- the password from standard input, a file or a script.
* :mod:`.protocol` -- :func:`run`: one action under the protocol rules; :func:`main`.

Agents import from here (``from havirt.ocf.fencing import FenceAgent``). This package
imports only the lean protocol layer (no typing, no lxml): a fence agent starts fast.
"""

from havirt.ocf.fencing.actions import (
    ACTION_ALIASES,
    ACTIONS,
    EXIT_ERROR,
    EXIT_OFF,
    EXIT_OK,
    OFF,
    ON,
    PLUG_ACTIONS,
    POWER_ACTIONS,
    FenceError,
)
from havirt.ocf.fencing.agent import FenceAgent, FenceContext, Plug
from havirt.ocf.fencing.options import (
    COMMON_OPTIONS,
    MAX_SECONDS,
    SILENT_NAMES,
    WARN_EXAMPLES,
    FenceOption,
    OptionTable,
    RawOptions,
)
from havirt.ocf.fencing.protocol import (
    POLL_INTERVAL,
    STDIN_LIMIT,
    WATCHDOG_SLACK,
    main,
    run,
    run_bound,
)
from havirt.ocf.fencing.usage import usage

__all__ = [
    "ACTIONS",
    "ACTION_ALIASES",
    "COMMON_OPTIONS",
    "EXIT_ERROR",
    "EXIT_OFF",
    "EXIT_OK",
    "MAX_SECONDS",
    "OFF",
    "ON",
    "PLUG_ACTIONS",
    "POLL_INTERVAL",
    "POWER_ACTIONS",
    "SILENT_NAMES",
    "STDIN_LIMIT",
    "WARN_EXAMPLES",
    "WATCHDOG_SLACK",
    "FenceAgent",
    "FenceContext",
    "FenceError",
    "FenceOption",
    "OptionTable",
    "Plug",
    "RawOptions",
    "main",
    "run",
    "run_bound",
    "usage",
]
