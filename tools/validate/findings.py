"""What validate returns: findings (node, item, problem, fix) grouped by check."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ERROR = "error"  # a mismatch or something that could not be checked: exit 1
WARNING = "warning"  # advice; exit 1 only with --strict
SEVERITIES = (ERROR, WARNING)


@dataclass(frozen=True)
class Finding:
    """One problem on one node: what differs, and the command or edit that fixes it.

    ``expected``/``actual`` carry the compared values for scripts (JSON), when
    the finding is a difference from the reference.
    """

    check: str
    severity: str
    node: str
    item: str
    message: str
    fix: str
    expected: Any = None
    actual: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckOutcome:
    """The result of one check over all nodes."""

    id: str
    title: str
    status: str  # "ok", "error", "warning" or "skipped"
    findings: list[Finding] = field(default_factory=list)
    note: str = ""  # why it was skipped, or what it saw when all is well

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "errors": sum(f.severity == ERROR for f in self.findings),
            "warnings": sum(f.severity == WARNING for f in self.findings),
            "note": self.note,
        }


@dataclass
class NodeSummary:
    name: str
    address: str
    user: str | None
    port: int | None
    reachable: bool
    role: str  # "member" or "new-host"
    hostname: str | None = None
    libvirt: str | None = None
    qemu: str | None = None
    seconds: float | None = None  # time spent collecting this node's facts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    mode: str  # "cluster" or "new-host"
    new_host: str | None
    nodes: list[NodeSummary]
    checks: list[CheckOutcome]
    seconds: float = 0.0

    @property
    def findings(self) -> list[Finding]:
        return [f for check in self.checks for f in check.findings]

    @property
    def errors(self) -> int:
        return sum(f.severity == ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == WARNING for f in self.findings)

    def ok(self, strict: bool = False) -> bool:
        return self.errors == 0 and not (strict and self.warnings)

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "ok": self.ok(strict),
            "mode": self.mode,
            "new_host": self.new_host,
            "strict": strict,
            "summary": {"errors": self.errors, "warnings": self.warnings},
            "nodes": [n.to_dict() for n in self.nodes],
            "checks": [c.to_dict() for c in self.checks],
            "findings": [f.to_dict() for f in self.findings],
            "seconds": round(self.seconds, 3),
        }
