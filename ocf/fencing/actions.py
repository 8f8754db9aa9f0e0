"""The fencing protocol's vocabulary: exit codes, power states, actions, and the one
error a fence run reports (:class:`FenceError`)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_OFF = 2  # only ``status`` answers it

ON = "on"
OFF = "off"

ACTIONS = (
    "on",
    "off",
    "reboot",
    "status",
    "list",
    "list-status",
    "monitor",
    "metadata",
    "validate-all",
)
ACTION_ALIASES = {"meta-data": "metadata"}  # the OCF spelling some callers use
POWER_ACTIONS = ("on", "off", "reboot")
PLUG_ACTIONS = (*POWER_ACTIONS, "status")  # those that act on one plug


class FenceError(Exception):
    """A failure to report to the caller (exit 1); the message names the fix where it can."""
