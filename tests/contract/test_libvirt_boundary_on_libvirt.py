"""The libvirt boundary against a real libvirt: its built-in test driver (``test:///``,
in-process, no daemon) through libvirt-python and through libvirt.so.0 with ctypes.

Not unit tests: they load the host's libvirt library and read its configuration.
The boundary's own logic, with libvirt faked, is in tests/unit/agents/test_libvirt_boundary.py.
"""

from __future__ import annotations

import pytest
from havirt.agents.libvirt import boundary as lb
from havirt.ocf.environment import Deadline

libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed")


def test_ctypes_state_query_on_libvirts_test_driver():
    """The fast path against a real libvirt (its built-in test driver)."""
    from havirt.agents.libvirt import c_api

    lib = c_api.load()
    if lib is None:
        pytest.skip("libvirt.so.0 is not installed")
    conn = c_api.open_connection(lib, "test:///default")
    try:
        dom = c_api.lookup(lib, conn, None, "test")
        assert dom is not None
        assert c_api.state(lib, dom)[0] == libvirt.VIR_DOMAIN_RUNNING
        name, uuid = c_api.identity(lib, dom)
        assert name == "test" and len(uuid) == 36
        assert c_api.lookup(lib, conn, uuid, None) is not None
        assert c_api.lookup(lib, conn, None, "no-such-guest") is None
        vcpus, memory_kib = c_api.vcpus_and_memory(lib, dom)
        assert vcpus >= 1 and memory_kib > 0
        c_api.free(lib, dom)
    finally:
        c_api.close(lib, conn)


def test_ctypes_connect_failure_is_reported_with_libvirts_code():
    from havirt.agents.libvirt import c_api

    lib = c_api.load()
    if lib is None:
        pytest.skip("libvirt.so.0 is not installed")
    with pytest.raises(c_api.CallFailed) as info:
        c_api.open_connection(lib, "qemu+unix:///system?socket=/nonexistent/sock")
    assert info.value.code == libvirt.VIR_ERR_SYSTEM_ERROR
    assert "nonexistent" in str(info.value)


def test_open_auth_and_listing_on_libvirts_test_driver():
    hv = lb.Hypervisor("test:///default", Deadline(10), credentials=lb.Credentials("u", "p"))
    try:
        (only,) = hv.domains()
        assert only.name == "test" and only.state.state == "running"
        dom = hv.lookup(name="test")
        dom.destroy()
        assert dom.state().state == "shutoff"
        dom.start()
        assert dom.state().state == "running"
    finally:
        hv.close()


def test_pools_on_libvirts_test_driver():
    from havirt.agents.pool.definition import PoolSpec, from_xml, to_xml, with_uuid

    hv = lb.Hypervisor("test:///default", Deadline(30.0))
    assert hv.lookup_pool("havirt-no-such-pool") is None
    spec = PoolSpec(name=f"havirt-unit-{id(hv)}", type="dir", target="/havirt-unit-pool")
    pool = hv.define_pool(to_xml(spec))
    try:
        assert pool.name == spec.name and len(pool.uuid) == 36
        assert not pool.is_active() and pool.is_persistent() and not pool.autostart()
        assert from_xml(pool.xml()).target == "/havirt-unit-pool"  # (no INACTIVE flag here)
        pool.start()
        assert hv.lookup_pool(spec.name).is_active()
        assert isinstance(pool.volume_paths(), list)
        pool.destroy()
        assert not pool.is_active()
        # Redefined under the same UUID: the same pool, a new target.
        moved = spec._replace(target="/havirt-unit-pool2")
        again = hv.define_pool(with_uuid(to_xml(moved), pool.uuid))
        assert again.uuid == pool.uuid and from_xml(again.xml()).target == "/havirt-unit-pool2"
    finally:
        pool._pool.undefine()
    assert hv.lookup_pool(spec.name) is None


def test_running_domains_on_libvirts_test_driver():
    hv = lb.Hypervisor("test:///default", Deadline(30.0))
    running = hv.running_domains()
    assert "test" in [dom.name for dom in running]  # the test driver's own running guest
    assert "<domain" in running[0].xml(secure=False)


def test_ensure_pool_active_of_an_unknown_pool_is_an_error():
    hv = lb.Hypervisor("test:///default", Deadline(30.0))
    with pytest.raises(lb.HypervisorError) as info:
        hv.ensure_pool_active("havirt-no-such-pool")
    assert info.value.code == lb.NO_STORAGE_POOL
