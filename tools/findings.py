"""What havirt finds: one problem (or remark), where it applies, and how to fix it.

``havirt validate`` finds differences between hosts, the records (``havirt domain
list``) find guests Pacemaker and libvirt disagree about, ``havirt node standby``
notes what else will happen: all of them say it with :class:`Finding`. Each
command keeps its own JSON shape (its scripts' contract) and picks the fields it
shows with :meth:`Finding.to_dict`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ERROR = "error"  # something is wrong (or could not be checked)
WARNING = "warning"  # advice: worth fixing, nothing breaks yet
NOTE = "note"  # for information: what happens, or what could not be seen
SEVERITIES = (ERROR, WARNING, NOTE)


@dataclass(frozen=True)
class Finding:
    """One problem: what kind (``code``), how bad, what is wrong, the command or edit
    that fixes it, and where it applies (a node, a guest, an item on it).

    ``expected``/``actual`` carry the compared values for scripts (JSON) when the
    finding is a difference from a reference.
    """

    code: str  # a validate check's id, a records flag's code, ...
    severity: str  # one of SEVERITIES
    message: str
    fix: str | None = None
    node: str | None = None
    guest: str | None = None
    item: str | None = None
    expected: Any = None
    actual: Any = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {', '.join(SEVERITIES)}")

    def to_dict(self, *fields: str) -> dict[str, Any]:
        """The named fields, in that order (every field when none is named)."""
        names = fields or tuple(self.__dataclass_fields__)
        return {name: getattr(self, name) for name in names}


def of_severity(findings: Iterable[Finding], severity: str) -> tuple[Finding, ...]:
    """The findings of that severity, in order."""
    return tuple(f for f in findings if f.severity == severity)
