from __future__ import annotations

from pathlib import Path

import pytest
from havirt.agents.guest.resource_state import ResourceState
from havirt.agents.virtual_domain import VirtualDomain
from pool_fakes import PoolHarness
from vd_fakes import AgentHarness, FakeProcs, domain_xml, node_libvirt


class Harness(AgentHarness):
    """One node: a fake libvirt daemon, a fake host (its QEMU processes, clock and
    programs), and the agent."""

    agent_class = VirtualDomain
    resource = "vm1"

    def __init__(self, tmp_path: Path) -> None:
        self.procs = FakeProcs()
        super().__init__(tmp_path, node_libvirt(self.procs), self.procs)
        self.hv.clock = self.clock  # a migration runs on the agent's clock
        self.config = tmp_path / "vm1.xml"
        self.config.write_text(domain_xml(), encoding="utf-8")
        self.gone_config = str(tmp_path / "nonexistent" / "vm1.xml")  # a file this node lacks
        # This node's libvirt configuration and /run, as the storage lease check reads
        # them: empty (no lock manager) unless a test writes them.
        self.libvirt_etc = tmp_path / "etc-libvirt"
        self.libvirt_etc.mkdir()
        self.run_dir = tmp_path / "run"
        self.run_dir.mkdir()

    def env_extra(self) -> dict[str, object]:
        return {"libvirt_conf_dir": str(self.libvirt_etc), "run_dir": str(self.run_dir)}

    def default_reskeys(self) -> dict[str, str | None]:
        return {"config": str(self.config)}

    def state(self) -> ResourceState:
        return ResourceState(str(self.rsctmp), "VirtualDomain", self.resource)

    def remember(self, **values) -> None:
        """What an earlier run of the agent would have left in HA_RSCTMP."""
        self.state().update(**values)


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


@pytest.fixture
def sp(tmp_path: Path) -> PoolHarness:
    """One node for ocf:havirt:StoragePool (see pool_fakes.PoolHarness)."""
    return PoolHarness(tmp_path)
