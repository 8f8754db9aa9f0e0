"""A report's dataclass fields as the dict its ``--json`` prints, so that a report's
``to_dict`` says only where its JSON differs from its fields (a key renamed, a value
worked out, an entry added), not every field again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import fields
from typing import Any


def fields_dict(
    record: Any,
    *,
    rename: Mapping[str, str] | None = None,
    skip: Collection[str] = (),
    values: Mapping[str, Any] | None = None,
    after: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """``record``'s fields in the order the dataclass declares them, each under its own
    name or the one ``rename`` gives it, less those in ``skip``.

    A field's value is the one ``values`` gives for its name, else its own as JSON
    holds it (:func:`plain`). ``after`` puts more entries in after a field's (or in its
    place, when the field is skipped): a property, or a dict spread into the report.
    """
    rename, values, after = rename or {}, values or {}, after or {}
    data: dict[str, Any] = {}
    for name in (f.name for f in fields(record)):
        if name not in skip:
            value = values[name] if name in values else plain(getattr(record, name))
            data[rename.get(name, name)] = value
        data.update(after.get(name, {}))
    return data


def plain(value: Any) -> Any:
    """A value as JSON holds it: a tuple or list as a list of plain values, a record
    with a ``to_dict`` as its dict, anything else as it is."""
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value
