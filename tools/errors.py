"""The error types of havirt's library layer.

A library function raises one of these; it never picks an exit code or names a
command-line option. The command layer (``tools/cli/main.py``'s ``exit_code_for``) maps
each type to the exit code it documents.
"""

from __future__ import annotations


class HavirtError(Exception):
    """A failure to show the user: what went wrong, and how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.hint}" if self.hint else self.message


class BadRequest(HavirtError):
    """What was asked is wrong in itself (an unknown node or guest, a value out of
    range, wishes that contradict each other); nothing was changed."""


class Refused(HavirtError):
    """What was asked cannot be done now: the cluster's state, its rules or another
    admin's command forbid it; nothing was changed."""


class Conflict(HavirtError):
    """The cluster changed since it was read, so a change made against that reading
    was not made."""
