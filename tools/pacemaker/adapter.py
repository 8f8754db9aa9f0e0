"""What the cluster commands may ask of Pacemaker: the adapter's interface.

The library (placement, standby, maintenance, records, the lock, apply) is written
against :class:`PacemakerAdapter`, never against how the calls are made. Two things
satisfy it, both checked by the type checker:

* :class:`~havirt.tools.pacemaker.live.Pacemaker`, which runs Pacemaker's tools and pcs
  (on the live cluster, on a CIB file with ``CIB_file``, or inside a lab node);
* the scenario suite's simulated cluster (tests/scenarios/sim.py), which is that same
  adapter on a CIB file with a virtual clock, so the scenarios exercise the real calls.

Unit tests may hand in smaller fakes of the few methods a function calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from havirt.tools.pacemaker.history import OperationHistory
from havirt.tools.pacemaker.simulation import Simulation
from havirt.tools.pacemaker.status import ClusterStatus
from havirt.tools.pacemaker.verify import VerifyResult
from havirt.tools.pacemaker.version import CibVersion


class PacemakerAdapter(Protocol):
    """Pacemaker's tools as calls returning parsed values (see tools/pacemaker/live.py
    for what each runs). Every call may raise PacemakerError; ``wait`` PacemakerTimeout."""

    # -- reading state
    def status(self, *, timeout: float | None = None) -> ClusterStatus: ...
    def cib_xml(self, scope: str | None = None, *, timeout: float | None = None) -> str: ...
    def history(self, *, timeout: float | None = None) -> OperationHistory: ...
    def cib_version(self, *, timeout: float | None = None) -> CibVersion: ...
    def pcs_json(self, *args: str, timeout: float | None = None) -> Any: ...
    def resource_config(self, *, timeout: float | None = None) -> dict[str, Any]: ...
    def node_attribute(
        self, node: str, name: str, *, timeout: float | None = None
    ) -> str | None: ...

    # -- checking
    def verify(
        self, xml_file: str | None = None, *, timeout: float | None = None
    ) -> VerifyResult: ...
    def simulate(
        self,
        xml_file: str | None = None,
        *,
        run: bool = True,
        save_output: str | None = None,
        timeout: float | None = None,
    ) -> Simulation:
        """What the scheduler would do with the CIB in ``xml_file`` (the live one when
        None); ``run`` also simulates carrying it out, and ``save_output`` names a file
        for the CIB that leaves. The library asks no more: the live adapter's injected
        node and operation events are for the contract tests, which call it directly."""

    # -- changing (each one CIB transaction)
    def push_cib(
        self, new_file: str, original_file: str, *, timeout: float | None = None
    ) -> None: ...
    def wait(self, timeout: float) -> None: ...
    def set_property(self, name: str, value: str, *, timeout: float | None = None) -> None: ...
    def maintenance_mode(self, on: bool, *, timeout: float | None = None) -> None: ...
    def set_node_attribute(
        self, node: str, name: str, value: str | None, *, timeout: float | None = None
    ) -> None: ...
    def set_resource_meta(
        self, resource: str, name: str, value: str, *, timeout: float | None = None
    ) -> None: ...
    def add_constraints(self, constraints_xml: str, *, timeout: float | None = None) -> None: ...
    def delete_constraints(self, ids: Iterable[str], *, timeout: float | None = None) -> None: ...
    def create_element(self, scope: str, xml: str, *, timeout: float | None = None) -> bool: ...
    def delete_where(self, xpath: str, *, timeout: float | None = None) -> None: ...
    def refresh(self, *, timeout: float | None = None) -> None: ...
