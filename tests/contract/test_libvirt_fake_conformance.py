"""The one fake libvirt (tests/fakes/libvirt.py) answers as the real boundary does.

Every test runs twice: on the fake, and on the real boundary (``boundary.Hypervisor``)
opened on libvirt's built-in test driver (``test:///default``: in-process, no daemon,
shared by every connection of the process, so the real boundary's C fast path and
libvirt-python see the same guests). Each test makes its own guests and pools, named
``havirt-conformance-...``, and removes them from the test driver at the end.

What the test driver cannot do stays fake-only, checked by the agents' unit tests
alone: migrations (``start_migration``, ``MigrationJob``, ``job_progress``,
``abort_job``, the migration speed and downtime), the guest agent's ping, save and
restore, networks, libvirt being unreachable, and the host side of a pool (mounts).
The boundary has no pool refresh (libvirt refreshes a pool when it starts it).

Where the test driver and the QEMU driver answer differently, the fake answers as the
QEMU driver (the one the agents run against) and the test says so.
"""

from __future__ import annotations

import uuid as uuids
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.libvirt import FakeHypervisor
from havirt.agents.guest.domain_state import DomainState
from havirt.agents.libvirt import boundary as lb
from havirt.agents.libvirt import protocols
from havirt.ocf.environment import Deadline

URI = "test:///default"
PREFIX = "havirt-conformance-"
OPERATION_FAILED = 9  # VIR_ERR_OPERATION_FAILED
INTERNAL_ERROR = 1  # VIR_ERR_INTERNAL_ERROR


def domain_xml(name: str, uuid: str) -> str:
    return (
        f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>"
        "<memory unit='KiB'>1048576</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>"
    )


def pool_xml(name: str, uuid: str) -> str:
    return (
        f"<pool type='dir'><name>{name}</name><uuid>{uuid}</uuid>"
        f"<target><path>/{name}</path></target></pool>"
    )


class Lab:
    """One libvirt to test: ``hv`` (the boundary's interface), and what a test sets up
    that the boundary cannot do."""

    kind: str
    hv: protocols.Hypervisor

    def __init__(self) -> None:
        self.names: list[str] = []

    def name(self) -> str:
        """A new guest or pool name (removed from libvirt when the test ends)."""
        name = f"{PREFIX}{uuids.uuid4().hex[:12]}"
        self.names.append(name)
        return name

    def reopen(self) -> protocols.Hypervisor:
        """A new connection to the same libvirt."""
        raise NotImplementedError

    def pause(self, name: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class FakeLab(Lab):
    kind = "fake"

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeHypervisor()
        self.hv = self.fake

    def reopen(self) -> protocols.Hypervisor:
        return self.fake

    def pause(self, name: str) -> None:
        dom = self.fake.lookup(name=name)
        assert dom is not None
        dom.set_state("paused", "user")

    def close(self) -> None:
        pass


class RealLab(Lab):
    kind = "real"

    def __init__(self, libvirt: Any) -> None:
        super().__init__()
        self.libvirt = libvirt
        self.raw = libvirt.open(URI)  # the test's own set-up and clean-up
        self.opened: list[lb.Hypervisor] = []
        self.hv = self.reopen()

    def reopen(self) -> protocols.Hypervisor:
        hv = lb.Hypervisor(URI, Deadline(30.0))
        self.opened.append(hv)
        return hv

    def pause(self, name: str) -> None:
        self.raw.lookupByName(name).suspend()

    def close(self) -> None:
        for hv in self.opened:
            hv.close()
        for name in self.names:
            for find in (self.raw.lookupByName, self.raw.storagePoolLookupByName):
                try:
                    thing = find(name)
                except self.libvirt.libvirtError:
                    continue
                persistent = thing.isPersistent()
                if thing.isActive():
                    thing.destroy()  # a transient guest or pool is then gone
                if persistent:
                    thing.undefine()
        self.raw.close()


@pytest.fixture(params=["fake", "real"])
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    if request.param == "fake":
        made: Lab = FakeLab()
    else:
        libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed")
        made = RealLab(libvirt)
    try:
        yield made
    finally:
        made.close()


def new_uuid() -> str:
    return str(uuids.uuid4())


def error_of(call: Any, *args: Any) -> lb.HypervisorError:
    with pytest.raises(lb.HypervisorError) as info:
        call(*args)
    return info.value


def qemu_code(lab: Lab, code: int) -> int:
    """The code the QEMU driver (and the fake) answers with where the test driver
    reports an internal error instead (starting a running guest, shutting down a shut
    off one)."""
    return code if lab.kind == "fake" else INTERNAL_ERROR


# -- domains ---------------------------------------------------------------------------


def test_lookup_by_uuid_or_name_and_none_when_unknown(lab: Lab) -> None:
    name, uuid = lab.name(), new_uuid()
    lab.hv.create(domain_xml(name, uuid))
    hv = lab.reopen()  # the real boundary's first lookups take the C fast path
    by_uuid, by_name = hv.lookup(uuid=uuid), hv.lookup(name=name)
    assert by_uuid is not None and by_name is not None
    assert (by_uuid.name, by_uuid.uuid) == (by_name.name, by_name.uuid) == (name, uuid)
    found = hv.lookup(name=name, uuid=new_uuid())  # an unknown UUID: then the name
    assert found is not None and found.uuid == uuid
    assert hv.lookup(name=f"{PREFIX}no-such-guest") is None
    assert hv.lookup(uuid=new_uuid()) is None
    assert hv.lookup(name=f"{PREFIX}no-such-guest", uuid=new_uuid()) is None


def test_a_created_guest_runs_booted_and_is_transient(lab: Lab) -> None:
    name, uuid = lab.name(), new_uuid()
    dom = lab.hv.create(domain_xml(name, uuid))
    assert (dom.name, dom.uuid) == (name, uuid)
    assert dom.state() == DomainState("running", "booted")
    assert not dom.is_persistent()
    again = error_of(lab.hv.create, domain_xml(name, uuid))
    assert again.code == lb.OPERATION_INVALID, again


def test_a_defined_guest_is_shut_off_until_started(lab: Lab) -> None:
    name, uuid = lab.name(), new_uuid()
    dom = lab.hv.define(domain_xml(name, uuid))
    assert dom.state() == DomainState("shutoff", "unknown")
    assert dom.is_persistent()
    dom.start()
    assert dom.state() == DomainState("running", "booted")
    again = error_of(dom.start)
    assert again.code == qemu_code(lab, lb.OPERATION_INVALID), again
    assert dom.state() == DomainState("running", "booted")


def test_create_starts_a_defined_guest(lab: Lab) -> None:
    name, uuid = lab.name(), new_uuid()
    lab.hv.define(domain_xml(name, uuid))
    dom = lab.hv.create(domain_xml(name, uuid))
    assert dom.uuid == uuid and dom.is_persistent()
    assert dom.state() == DomainState("running", "booted")


def test_a_name_taken_by_another_uuid_is_refused(lab: Lab) -> None:
    name = lab.name()
    lab.hv.define(domain_xml(name, new_uuid()))
    for call in (lab.hv.define, lab.hv.create):
        refused = error_of(call, domain_xml(name, new_uuid()))
        assert refused.code == OPERATION_FAILED, refused
        assert "already exists with uuid" in str(refused)


def test_destroy_and_destroy_of_a_shut_off_guest(lab: Lab) -> None:
    dom = lab.hv.define(domain_xml(lab.name(), new_uuid()))
    dom.start()
    dom.destroy()
    assert dom.state() == DomainState("shutoff", "destroyed")
    again = error_of(dom.destroy)
    assert again.code == lb.OPERATION_INVALID, again


def test_a_transient_guest_destroyed_is_gone(lab: Lab) -> None:
    name = lab.name()
    dom = lab.hv.create(domain_xml(name, new_uuid()))
    dom.destroy()
    gone = error_of(dom.state)
    assert gone.code == lb.NO_DOMAIN, gone
    assert lab.hv.lookup(name=name) is None


def test_shutdown_and_shutdown_of_a_shut_off_guest(lab: Lab) -> None:
    # The test driver's guests shut down at once; the fake's too, by default
    # (on_shutdown="stop"; "ignore" and "refuse" are faults of the fake alone).
    dom = lab.hv.define(domain_xml(lab.name(), new_uuid()))
    dom.start()
    dom.shutdown([])
    assert dom.state() == DomainState("shutoff", "shutdown")
    again = error_of(dom.shutdown, [])
    assert again.code == qemu_code(lab, lb.OPERATION_INVALID), again


def test_a_paused_guest(lab: Lab) -> None:
    name = lab.name()
    lab.hv.create(domain_xml(name, new_uuid()))
    lab.pause(name)
    dom = lab.reopen().lookup(name=name)
    assert dom is not None
    assert dom.state() == DomainState("paused", "user")
    assert name in [d.name for d in lab.hv.running_domains()]


def test_undefine(lab: Lab) -> None:
    name = lab.name()
    dom = lab.hv.define(domain_xml(name, new_uuid()))
    dom.undefine()
    assert lab.hv.lookup(name=name) is None
    assert error_of(dom.state).code == lb.NO_DOMAIN
    # A running guest undefined runs on, transient; destroyed, it is gone.
    dom = lab.hv.define(domain_xml(name, new_uuid()))
    dom.start()
    dom.undefine()
    assert dom.state() == DomainState("running", "booted") and not dom.is_persistent()
    dom.destroy()
    assert lab.hv.lookup(name=name) is None
    # (Undefining a transient guest: the QEMU driver, and the fake, refuse with
    # OPERATION_INVALID; the test driver accepts it. Not compared.)


def test_xml_and_size(lab: Lab) -> None:
    name, uuid = lab.name(), new_uuid()
    dom = lab.hv.create(domain_xml(name, uuid))
    for inactive in (False, True):
        xml = dom.xml(inactive=inactive)
        assert f"<name>{name}</name>" in xml and f"<uuid>{uuid}</uuid>" in xml
    assert dom.vcpus_and_memory() == (2, 1048576)


def test_listings(lab: Lab) -> None:
    running, off = lab.name(), lab.name()
    lab.hv.create(domain_xml(running, new_uuid()))
    lab.hv.define(domain_xml(off, new_uuid()))
    states = {info.name: info.state for info in lab.hv.domains()}
    assert states[running] == DomainState("running", "booted")
    assert states[off] == DomainState("shutoff", "unknown")
    names = [dom.name for dom in lab.hv.running_domains()]
    assert running in names and off not in names


# -- storage pools ------------------------------------------------------------------------


def test_pool_lifecycle(lab: Lab) -> None:
    name, uuid = lab.name(), new_uuid()
    assert lab.hv.lookup_pool(name) is None
    pool = lab.hv.define_pool(pool_xml(name, uuid))
    assert (pool.name, pool.uuid) == (name, uuid)
    assert not pool.is_active() and pool.is_persistent() and not pool.autostart()
    assert f"<name>{name}</name>" in pool.xml()
    found = lab.hv.lookup_pool(name)
    assert found is not None and found.uuid == uuid
    pool.start()
    assert pool.is_active()
    assert isinstance(pool.volume_paths(), list)
    assert error_of(pool.start).code == lb.OPERATION_INVALID
    pool.destroy()
    assert not pool.is_active()
    assert error_of(pool.destroy).code == lb.OPERATION_INVALID


def test_ensure_pool_active(lab: Lab) -> None:
    name = lab.name()
    pool = lab.hv.define_pool(pool_xml(name, new_uuid()))
    assert lab.hv.ensure_pool_active(name) is True
    assert lab.hv.ensure_pool_active(name) is False
    assert pool.is_active()
    unknown = error_of(lab.hv.ensure_pool_active, f"{PREFIX}no-such-pool")
    assert unknown.code == lb.NO_STORAGE_POOL


def test_a_pool_redefined(lab: Lab) -> None:
    name, uuid = lab.name(), new_uuid()
    lab.hv.define_pool(pool_xml(name, uuid)).start()
    again = lab.hv.define_pool(pool_xml(name, uuid))  # the same UUID: the same pool
    assert again.uuid == uuid and again.is_active()
    refused = error_of(lab.hv.define_pool, pool_xml(name, new_uuid()))
    assert refused.code == OPERATION_FAILED and "already exists with uuid" in str(refused)
