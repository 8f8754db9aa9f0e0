from __future__ import annotations

import os
import syslog
from pathlib import Path

import pytest
from havirt.agents import libvirt_boundary, qemu_processes, storage_lease
from havirt.agents import virtual_domain as vd_module
from havirt.agents.resource_state import ResourceState
from havirt.agents.virtual_domain import VirtualDomain
from havirt.ocf.environment import Deadline, OcfEnvironment
from pool_fakes import PoolHarness
from vd_fakes import (
    FakeClock,
    FakeHypervisor,
    FakeProcs,
    FakeRunner,
    Outcome,
    domain_xml,
    run_agent,
)


@pytest.fixture(autouse=True)
def fake_syslog(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """No test writes to the real syslog."""
    sent: list[tuple] = []
    monkeypatch.setattr(syslog, "openlog", lambda *a, **k: sent.append(("openlog", *a)))
    monkeypatch.setattr(syslog, "syslog", lambda *a: sent.append(("syslog", *a)))
    return sent


class Harness:
    """One node: a fake libvirt daemon, fake QEMU processes, a fake clock, and the agent."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp_path
        self.procs = FakeProcs()
        self.hv = FakeHypervisor(self.procs)
        self.runner = FakeRunner()
        self.clock = FakeClock()
        self.rsctmp = tmp_path / "rsctmp"
        self.rsctmp.mkdir()
        self.backups = tmp_path / "definitions"
        self.config = tmp_path / "vm1.xml"
        self.config.write_text(domain_xml(), encoding="utf-8")
        self.resource = "vm1"
        self.reserves: list[float] = []  # the reserve of each connection the agent opened
        # This node's libvirt configuration and /run, as the storage lease check reads
        # them: empty (no lock manager) unless a test writes them.
        self.libvirt_etc = tmp_path / "etc-libvirt"
        self.libvirt_etc.mkdir()
        self.run_dir = tmp_path / "run"
        self.run_dir.mkdir()

        def hypervisor(agent, ctx, reserve: float = 0.0):
            self.reserves.append(reserve)
            return self.hv

        def real_hypervisor(*args, **kwargs):
            raise AssertionError("a test reached the real libvirt boundary")

        original_deadline = OcfEnvironment.deadline

        def deadline(env: OcfEnvironment, default_seconds: float) -> Deadline:
            return Deadline(original_deadline(env, default_seconds).total, self.clock.monotonic)

        monkeypatch.setattr(VirtualDomain, "_hypervisor", hypervisor)
        monkeypatch.setattr(libvirt_boundary, "Hypervisor", real_hypervisor)
        monkeypatch.setattr(qemu_processes, "find", self.procs.find)
        monkeypatch.setattr(vd_module, "time", self.clock)
        monkeypatch.setattr(vd_module, "DEFINITION_BACKUP_DIR", str(self.backups))
        monkeypatch.setattr(OcfEnvironment, "deadline", deadline)
        monkeypatch.setattr(os, "kill", self.procs.kill)
        monkeypatch.setattr(storage_lease, "CONF_DIR", str(self.libvirt_etc))
        monkeypatch.setattr(storage_lease, "RUN_DIR", str(self.run_dir))

    def environ(
        self,
        *,
        interval: int = 0,
        timeout: int = 20000,
        extra: dict[str, str] | None = None,
        **reskeys: str | None,
    ) -> dict[str, str]:
        values: dict[str, str | None] = {"config": str(self.config)}
        values.update(reskeys)
        environ = {
            "HA_RSCTMP": str(self.rsctmp),
            "HA_LOGFACILITY": "none",
            "OCF_ROOT": "/usr/lib/ocf",
            "OCF_RESOURCE_INSTANCE": self.resource,
            "OCF_RESKEY_CRM_meta_timeout": str(timeout),
            "OCF_RESKEY_CRM_meta_interval": str(interval),
        }
        environ.update({f"OCF_RESKEY_{k}": v for k, v in values.items() if v is not None})
        environ.update(extra or {})
        return environ

    def run(
        self,
        action: str,
        *,
        interval: int | None = None,
        timeout: int = 20000,
        extra: dict[str, str] | None = None,
        **reskeys: str | None,
    ) -> Outcome:
        """Run one action; ``monitor`` is a recurring monitor unless ``interval=0``."""
        if interval is None:
            interval = 10000 if action == "monitor" else 0
        environ = self.environ(interval=interval, timeout=timeout, extra=extra, **reskeys)
        return run_agent(VirtualDomain(), action, environ, self.runner)

    def probe(self, **kwargs) -> Outcome:
        return self.run("monitor", interval=0, **kwargs)

    def state(self) -> ResourceState:
        return ResourceState(str(self.rsctmp), "VirtualDomain", self.resource)

    def remember(self, **values) -> None:
        """What an earlier run of the agent would have left in HA_RSCTMP."""
        self.state().update(**values)


@pytest.fixture
def h(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness(tmp_path, monkeypatch)


@pytest.fixture
def sp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PoolHarness:
    """One node for ocf:havirt:StoragePool (see pool_fakes.PoolHarness)."""
    return PoolHarness(tmp_path, monkeypatch)
