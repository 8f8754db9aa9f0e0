"""OCF exit codes and how Pacemaker treats each of them."""

from __future__ import annotations

import enum


class OcfExit(enum.IntEnum):
    SUCCESS = 0
    ERR_GENERIC = 1  # soft: Pacemaker recovers on the same node first
    ERR_ARGS = 2  # hard: the resource is moved away from this node
    ERR_UNIMPLEMENTED = 3  # hard (from a recurring action: "not supported", no recovery)
    ERR_PERM = 4  # hard
    ERR_INSTALLED = 5  # hard; a probe answering 5 leaves the resource stopped here
    ERR_CONFIGURED = 6  # fatal: the resource is stopped everywhere
    NOT_RUNNING = 7  # only meaningful as the answer of monitor
    RUNNING_PROMOTED = 8
    FAILED_PROMOTED = 9

    @property
    def severity(self) -> str:
        """How Pacemaker treats this code when an action fails with it."""
        if self in (OcfExit.SUCCESS, OcfExit.NOT_RUNNING, OcfExit.RUNNING_PROMOTED):
            return "none"
        if self in (
            OcfExit.ERR_ARGS,
            OcfExit.ERR_UNIMPLEMENTED,
            OcfExit.ERR_PERM,
            OcfExit.ERR_INSTALLED,
        ):
            return "hard"
        if self is OcfExit.ERR_CONFIGURED:
            return "fatal"
        return "soft"
