"""What validate returns: findings (node, item, problem, fix) grouped by check.

A finding's ``code`` is the id of its check; an error (a mismatch, or something
that could not be checked) fails validate, a warning (advice) only with strict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from havirt.tools.findings import ERROR, WARNING, Finding, of_severity


def finding_dict(finding: Finding) -> dict[str, Any]:
    """A finding in validate's JSON (``check`` is the finding's code)."""
    return {"check": finding.code} | finding.to_dict(
        "severity", "node", "item", "message", "fix", "expected", "actual"
    )


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
            "errors": len(of_severity(self.findings, ERROR)),
            "warnings": len(of_severity(self.findings, WARNING)),
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
        return len(of_severity(self.findings, ERROR))

    @property
    def warnings(self) -> int:
        return len(of_severity(self.findings, WARNING))

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
            "findings": [finding_dict(f) for f in self.findings],
            "seconds": round(self.seconds, 3),
        }
