"""--host NAME[=[USER@]ADDRESS[:PORT]] and the inventory seam."""

from __future__ import annotations

from pathlib import Path

import pytest
from havirt.tools.errors import BadRequest, HavirtError
from havirt.tools.validate.targets import (
    Target,
    from_inventory,
    parse_host,
    parse_hosts,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("node1", Target("node1", "node1", None, None)),
        ("node1=10.0.0.1", Target("node1", "10.0.0.1", None, None)),
        ("node1=admin@10.0.0.1", Target("node1", "10.0.0.1", "admin", None)),
        ("node1=admin@10.0.0.1:2222", Target("node1", "10.0.0.1", "admin", 2222)),
        ("node1=kvm1.example.org:22", Target("node1", "kvm1.example.org", None, 22)),
        ("node1=[fd00::1]:2200", Target("node1", "fd00::1", None, 2200)),
        ("node1=fd00::1", Target("node1", "fd00::1", None, None)),
        ("10.0.0.9", Target("10.0.0.9", "10.0.0.9", None, None)),
    ],
)
def test_host_specs(spec: str, expected: Target) -> None:
    assert parse_host(spec) == expected


def test_defaults_apply_where_the_spec_names_none() -> None:
    assert parse_host("n1=10.0.0.1", "virtmgr", 2022) == Target("n1", "10.0.0.1", "virtmgr", 2022)
    assert parse_host("n1=root@10.0.0.1:22", "virtmgr", 2022).user == "root"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "=10.0.0.1",
        "node 1",
        "n1=",
        "n1=10.0.0.1:99999",
        "n1=10.0.0.1:x",
        "n1=[fd00::1",
        "n1=b d@h",
    ],
)
def test_bad_host_specs_are_usage_errors(spec: str) -> None:
    with pytest.raises(HavirtError) as raised:
        parse_host(spec)
    assert isinstance(raised.value, BadRequest)
    assert raised.value.hint


def test_a_node_given_twice_is_refused() -> None:
    with pytest.raises(HavirtError, match="given twice"):
        parse_hosts(["n1=10.0.0.1", "n1=10.0.0.2"])


def test_name_is_address_and_describe() -> None:
    assert Target("10.0.0.1", "10.0.0.1").name_is_address
    assert not Target("node1", "10.0.0.1").name_is_address
    assert Target("n", "fd00::1", "u", 2200).describe() == "u@[fd00::1]:2200"
    assert Target("n", "10.0.0.1").describe() == "10.0.0.1"


def test_targets_come_from_an_inventory(tmp_path: Path) -> None:
    lab = Path(__file__).resolve().parents[3] / "cluster-templates" / "lab.toml"
    assert from_inventory(lab, "admin") == [
        Target("node1", "192.168.77.11", "admin"),
        Target("node2", "192.168.77.12", "admin"),
        Target("node3", "192.168.77.13", "admin"),
    ]


def test_a_broken_inventory_is_a_line_numbered_error(tmp_path: Path) -> None:
    broken = tmp_path / "cluster.toml"
    broken.write_text('[cluster]\nname = "c"\n[[nodes]]\nname = 3\n')
    with pytest.raises(HavirtError) as raised:
        from_inventory(broken)
    assert "cluster.toml:4" in str(raised.value)
