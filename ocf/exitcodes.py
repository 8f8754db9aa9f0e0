"""OCF exit codes and how Pacemaker treats each of them.

An int subclass with named members, like an IntEnum, but without importing
``enum`` (and ``re`` with it): every monitor of every guest pays for imports.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Iterator

_MEMBERS = (
    ("SUCCESS", 0),
    ("ERR_GENERIC", 1),  # soft: Pacemaker recovers on the same node first
    ("ERR_ARGS", 2),  # hard: the resource is moved away from this node
    ("ERR_UNIMPLEMENTED", 3),  # hard (from a recurring action: "not supported", no recovery)
    ("ERR_PERM", 4),  # hard
    ("ERR_INSTALLED", 5),  # hard; a probe answering 5 leaves the resource stopped here
    ("ERR_CONFIGURED", 6),  # fatal: the resource is stopped everywhere
    ("NOT_RUNNING", 7),  # only meaningful as the answer of monitor
    ("RUNNING_PROMOTED", 8),
    ("FAILED_PROMOTED", 9),
)


class _Members(type):
    _by_value: dict[int, OcfExit]  # each class's members (set in OcfExit's body)

    def __iter__(cls) -> Iterator[OcfExit]:
        return iter(cls._by_value.values())

    def __len__(cls) -> int:
        return len(cls._by_value)


class OcfExit(int, metaclass=_Members):
    _by_value: dict[int, OcfExit] = {}
    _name: str  # set on each member below
    # Members, set below (declared for readers and type checkers).
    SUCCESS: OcfExit
    ERR_GENERIC: OcfExit
    ERR_ARGS: OcfExit
    ERR_UNIMPLEMENTED: OcfExit
    ERR_PERM: OcfExit
    ERR_INSTALLED: OcfExit
    ERR_CONFIGURED: OcfExit
    NOT_RUNNING: OcfExit
    RUNNING_PROMOTED: OcfExit
    FAILED_PROMOTED: OcfExit

    def __new__(cls, value: int) -> OcfExit:
        try:
            return cls._by_value[int(value)]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{value!r} is not a valid OcfExit") from None

    @property
    def name(self) -> str:
        return self._name

    @property
    def value(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return f"<OcfExit.{self.name}: {int(self)}>"

    __str__ = int.__repr__

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


for _name, _value in _MEMBERS:
    _member = int.__new__(OcfExit, _value)
    _member._name = _name
    OcfExit._by_value[_value] = _member
    setattr(OcfExit, _name, _member)
del _name, _value, _member
