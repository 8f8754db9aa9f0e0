"""The lab's iSCSI target: names and identities, without starting anything."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from havirt.tools.lab.iscsi import IscsiTarget


class FakeLab:
    name = "it42"
    dir = Path("/nonexistent/lab")
    switch_netns = "hvl-it42-sw"
    bridge = "br0"
    subnet = ipaddress.IPv4Network("192.168.77.0/24")


def test_portal_iqn_and_lun_identities_come_from_the_lab() -> None:
    target = IscsiTarget(FakeLab(), ["iqn.2026-12.test.havirt:node1"], luns=2)
    assert target.portal == "192.168.77.3:3260"
    assert target.iqn == "iqn.2026-12.test.havirt:it42-tgt"
    assert target.lun_serial(1) == "HAVIRT-it42-tgt-1"
    assert target.lun_serial(2) != target.lun_serial(1)
    assert target.lun_id(2) == "hv-it42-tgt-2"
    assert target.backing_file(1) == Path("/nonexistent/lab/iscsi-tgt/lun1.img")


def test_two_targets_of_one_lab_differ() -> None:
    one = IscsiTarget(FakeLab(), [], name="a")
    two = IscsiTarget(FakeLab(), [], name="b", host_index=4)
    assert one.iqn != two.iqn and one.portal != two.portal
    assert one.lun_serial(1) != two.lun_serial(1)


@pytest.mark.parametrize("lun", [0, 3])
def test_lun_0_is_the_controller_and_unknown_luns_are_refused(lun: int) -> None:
    with pytest.raises(ValueError, match="not a data LUN"):
        IscsiTarget(FakeLab(), [], luns=2).lun_serial(lun)


def test_a_target_without_data_lun_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one data LUN"):
        IscsiTarget(FakeLab(), [], luns=0)
