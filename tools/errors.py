"""The one error type of havirt's library layer."""

from __future__ import annotations


class HavirtError(Exception):
    """A failure to show the user: what went wrong, and how to fix it."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.hint}" if self.hint else self.message
