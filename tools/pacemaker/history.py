"""Every resource's operation history on every node, from the CIB status section
(``lrm_rsc_op`` entries). Pure parsing, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree


@dataclass(frozen=True)
class Operation:
    """One entry of a resource's operation history on a node: an ``lrm_rsc_op`` of the
    CIB status section. Pacemaker keeps per resource and node the last non-recurring
    operation (id ``RSC_last_0``), the last failure (``RSC_last_failure_0``), the last
    ``migrate_to``/``migrate_from`` (``RSC_migrate_to_0``, ...) and each recurring
    monitor; a fenced node's history is erased."""

    resource: str
    node: str
    id: str  # vm1_last_0, vm1_migrate_from_0, vm1_monitor_10000, vm1_last_failure_0
    task: str  # start, stop, migrate_to, migrate_from, monitor, ...
    call_id: int  # increases with every operation on the node (-1 while pending)
    rc_code: int  # the agent's OCF exit code
    op_status: int  # 0 complete; -1 pending (record-pending), others: cancelled, timed out ...
    interval_ms: int
    last_rc_change: int  # when it began (a recurring monitor: its result changed), epoch s
    exec_ms: int  # how long the agent ran
    migrate_source: str | None = None
    migrate_target: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.op_status == 0 and self.rc_code == 0

    @property
    def began(self) -> float:
        """When the executor ran it (epoch seconds, whole: Pacemaker's last-rc-change of a
        non-recurring operation is its start; a pending entry has the same)."""
        return float(self.last_rc_change)

    @property
    def ended(self) -> float:
        return self.last_rc_change + self.exec_ms / 1000

    @property
    def identity(self) -> tuple[str, str, str, int, int]:
        return (self.node, self.id, self.task, self.call_id, self.last_rc_change)

    @classmethod
    def from_xml(cls, el: etree._Element, resource: str, node: str) -> Operation:
        def number(name: str) -> int:
            try:
                return int(el.get(name, "0") or 0)
            except ValueError:
                return 0

        return cls(
            resource=resource,
            node=node,
            id=el.get("id", ""),
            task=el.get("operation", ""),
            call_id=number("call-id"),
            rc_code=number("rc-code"),
            op_status=number("op-status"),
            interval_ms=number("interval"),
            last_rc_change=number("last-rc-change"),
            exec_ms=number("exec-time"),
            migrate_source=el.get("migrate_source"),
            migrate_target=el.get("migrate_target"),
        )


@dataclass(frozen=True)
class OperationHistory:
    """Every node's operation history (``cibadmin --query --scope status``)."""

    nodes: tuple[str, ...]  # the nodes with a node_state entry
    operations: tuple[Operation, ...]

    def of(self, resource: str, node: str | None = None) -> tuple[Operation, ...]:
        return tuple(
            o
            for o in self.operations
            if o.resource == resource and (node is None or o.node == node)
        )

    def since(self, baseline: OperationHistory) -> OperationHistory:
        """The entries that are not in ``baseline``: what happened since it was read."""
        old = {o.identity for o in baseline.operations}
        return OperationHistory(
            self.nodes, tuple(o for o in self.operations if o.identity not in old)
        )


def parse_history(xml: str) -> OperationHistory:
    """An OperationHistory from the CIB status section (or a whole CIB)."""
    root = etree.fromstring(xml.encode())
    nodes, operations = [], []
    for state in root.iter("node_state"):
        node = state.get("uname", "")
        nodes.append(node)
        for rsc in state.iterfind("lrm/lrm_resources/lrm_resource"):
            operations += [
                Operation.from_xml(op, rsc.get("id", ""), node) for op in rsc.iterfind("lrm_rsc_op")
            ]
    return OperationHistory(tuple(nodes), tuple(operations))
