"""The one error type the protocol layer and the agents raise."""

from __future__ import annotations

from havirt.ocf.exitcodes import OcfExit


class OcfError(Exception):
    """A failure with the OCF code to return and a one-line reason for the admin.

    The reason is written as ``ocf-exit-reason:`` so it shows in ``pcs status``
    / ``crm_mon``: it should name what is wrong and, where possible, the fix.
    """

    def __init__(self, code: OcfExit, reason: str) -> None:
        super().__init__(reason)
        self.code = OcfExit(code)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def configured(reason: str) -> OcfError:
    return OcfError(OcfExit.ERR_CONFIGURED, reason)


def installed(reason: str) -> OcfError:
    return OcfError(OcfExit.ERR_INSTALLED, reason)


def generic(reason: str) -> OcfError:
    return OcfError(OcfExit.ERR_GENERIC, reason)
