"""How a Pacemaker tool failed: its exit codes (:class:`CrmExit`) and the errors the
adapter raises (:class:`PacemakerError`, :class:`PacemakerTimeout`)."""

from __future__ import annotations

from enum import IntEnum

from havirt.ocf.runner import CommandResult
from havirt.tools.errors import HavirtError


class CrmExit(IntEnum):
    """Pacemaker's exit codes (crm_exit_t, include/crm/common/results.h)."""

    OK = 0
    ERROR = 1
    INVALID_PARAM = 2
    UNIMPLEMENT_FEATURE = 3
    INSUFFICIENT_PRIV = 4
    NOT_INSTALLED = 5
    NOT_CONFIGURED = 6
    NOT_RUNNING = 7
    USAGE = 64
    DATAERR = 65
    NOINPUT = 66
    NOUSER = 67
    NOHOST = 68
    UNAVAILABLE = 69
    SOFTWARE = 70
    OSERR = 71
    OSFILE = 72
    CANTCREAT = 73
    IOERR = 74
    TEMPFAIL = 75
    PROTOCOL = 76
    NOPERM = 77
    CONFIG = 78
    FATAL = 100
    PANIC = 101
    DISCONNECT = 102
    OLD = 103
    DIGEST = 104
    NOSUCH = 105
    QUORUM = 106
    UNSAFE = 107
    EXISTS = 108
    MULTIPLE = 109
    EXPIRED = 110
    NOT_YET_IN_EFFECT = 111
    INDETERMINATE = 112
    UNSATISFIED = 113
    TIMEOUT = 124  # crm_resource --wait ran out of time
    NOT_FOUND = 127  # not Pacemaker's: the runner could not start the tool


def crm_exit(code: int) -> CrmExit | int:
    try:
        return CrmExit(code)
    except ValueError:
        return code


class PacemakerError(HavirtError):
    """A Pacemaker tool or pcs failed; ``result`` is what it said, ``code`` its exit code."""

    def __init__(
        self, message: str, result: CommandResult | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.result = result
        self.code: CrmExit | int | None = crm_exit(result.returncode) if result else None


class PacemakerTimeout(PacemakerError):
    """The cluster did not settle within the time given (crm_resource --wait: 124)."""
