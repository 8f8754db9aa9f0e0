"""What one hook of an action leaves for the next: one object of the agent's own type.

A resource agent's validate loads what its action needs (the guest's configuration,
the wanted pool definition); a fence agent's callbacks share what the connection
found. Each agent defines a small typed class for it and reaches it with
``ctx.carried(ItsClass)``, made on first use, so no hook reads an untyped dict.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


class Carrying:
    """A context that carries one such object for the agent (its ``state``)."""

    state: object = None

    def carried(self, kind: type[T]) -> T:
        """The action's object of type ``kind``, made (``kind()``) on first use."""
        found = self.state
        if not isinstance(found, kind):
            found = kind()
            self.state = found
        return found
