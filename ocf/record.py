"""Small immutable value objects without the import cost of collections/typing.

Pacemaker runs the guest agent's monitor every few seconds for every guest,
as a new process each time, so every module imported on that path counts;
``collections.namedtuple`` and ``typing.NamedTuple`` pull in more than the
agent's own work costs. A ``Record`` behaves like a named tuple: fields by
name or position, equality with tuples, unpacking, ``_replace``. Like a
``typing.NamedTuple``, a subclass declares its fields once, as annotations, in
order; ``_defaults`` gives the values of those that may be left out.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, ClassVar


class _RecordType(type):
    """Makes a record class's annotated names, in order, its ``__slots__``: its fields."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> _RecordType:
        # The class body's annotations, in order (only their names count). A record
        # class extends Record itself: its fields are its own annotations.
        namespace.setdefault("__slots__", tuple(namespace.get("__annotations__", ())))
        return super().__new__(mcs, name, bases, namespace)


class Record(metaclass=_RecordType):
    __slots__: tuple[str, ...] = ()  # the field names, in order (from a subclass's annotations)
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} values")
        values = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in names or key in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated field {key!r}")
            values[key] = value
        for name in names:
            if name not in values:
                if name not in self._defaults:
                    raise TypeError(f"{type(self).__name__}: missing field {name!r}")
                values[name] = self._defaults[name]
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __iter__(self) -> Iterator[Any]:
        return (getattr(self, name) for name in self.__slots__)

    def __len__(self) -> int:
        return len(self.__slots__)

    def __getitem__(self, index: int) -> Any:
        return tuple(self)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Record, tuple)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def _replace(self, **changes: Any) -> Any:
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return type(self)(**values)

    def _asdict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}
