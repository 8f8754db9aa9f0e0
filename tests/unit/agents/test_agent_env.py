"""The libvirt agents' environment: what the dispatcher builds for them by default."""

from __future__ import annotations

import pytest
from havirt.agents.env import GuestEnv, GuestHost, PoolEnv, PoolHost
from havirt.agents.libvirt import definition_backup
from havirt.agents.storage_pool import StoragePool
from havirt.agents.virtual_domain import VirtualDomain
from havirt.ocf.environment import Deadline
from vd_fakes import FakeRunner


@pytest.mark.parametrize(
    ("agent", "env_class", "host_class"),
    [(VirtualDomain, GuestEnv, GuestHost), (StoragePool, PoolEnv, PoolHost)],
)
def test_each_agent_builds_its_own_world(agent, env_class, host_class) -> None:
    world = agent.environment(agent.host_class(), FakeRunner(), "/run/resource-agents")
    assert type(world) is env_class
    assert type(world.host) is host_class
    assert world.state_dir == "/run/resource-agents"
    assert world.connect is None  # the real libvirt boundary
    assert world.backup_dir == definition_backup.BACKUP_DIR


def test_the_guest_agents_lease_check_reads_the_real_libvirt_by_default() -> None:
    world = VirtualDomain.environment(GuestHost(), FakeRunner(), "/x")
    assert (world.libvirt_conf_dir, world.run_dir) == ("/etc/libvirt", "/run")


def test_a_given_factory_opens_every_connection() -> None:
    opened = []
    world = GuestEnv(GuestHost(), FakeRunner(), "/x", connect=lambda *a: opened.append(a) or "hv")
    deadline = Deadline(5.0, lambda: 0.0)
    assert world.hypervisor("qemu:///system", deadline, 1.5) == "hv"
    assert world.hypervisor(None, deadline) == "hv"
    assert opened == [("qemu:///system", deadline, 1.5), (None, deadline, 0.0)]
