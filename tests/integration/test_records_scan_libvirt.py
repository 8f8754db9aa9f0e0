"""The records scanner against real libvirt: a node that does not answer on a TCP port,
and libvirt's own test driver through the C API and libvirt-python. Not unit tests:
they load this machine's libvirt and use its network stack.
"""

from __future__ import annotations

import pytest
from havirt.tools.records import scan


def test_scan_node_reports_an_unreachable_libvirt_as_an_error() -> None:
    pytest.importorskip("libvirt", reason="libvirt-python is not installed")
    found = scan.scan_node("node9", "qemu+tcp://127.0.0.1:1/system", timeout=5)
    assert not found.ok and found.error and found.seconds is not None


def test_listing_on_libvirts_test_driver_both_ways() -> None:
    """Through libvirt.so's C API (no libvirt-python), and through libvirt-python."""
    lb = pytest.importorskip("havirt.agents.libvirt.boundary")
    pytest.importorskip("libvirt", reason="libvirt-python is not installed")
    from havirt.agents.libvirt import c_api
    from havirt.ocf.environment import Deadline

    if c_api.load() is None:
        pytest.skip("libvirt.so.0 cannot be loaded")
    c_side = lb.Hypervisor("test:///default", Deadline(10))
    py_side = lb.Hypervisor("test:///default", Deadline(10))
    py_side.connect()
    try:
        for hv in (c_side, py_side):
            (only,) = hv.listing()
            assert (only.name, only.state.state, only.persistent) == ("test", "running", True)
        assert c_side._conn is None  # the C path did not need libvirt-python
    finally:
        c_side.close()
        py_side.close()
    found = scan.scan_node("node1", "test:///default", timeout=10)
    assert found.ok and [(d.name, d.active, d.persistent) for d in found.domains] == [
        ("test", True, True)
    ]
