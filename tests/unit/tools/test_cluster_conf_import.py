"""havirt inventory import: the seed runbook's tab-delimited cluster.conf."""

from __future__ import annotations

import tomllib

import pytest
from example_paths import EXAMPLES
from havirt.tools.inventory import InventoryError, load_text
from havirt.tools.inventory.cluster_conf import import_text, parse

CONF = (
    "# name\tMAC\tIP\tRAM\tdisk\tcpus\thostgroups\n"
    "provision\t52:54:00:00:02:01\t192.168.1.1\t1024\t20\t1\tinfrastructure\n"
    "\n"
    "mcp\t52:54:00:00:02:02\t192.168.1.3\t2048\t40\t2\tinfrastructure,monitoring\n"
    "ldap\t\t52:54:00:00:02:03\t192.168.1.4\t512\t10\t1\n"
)


def test_parse_reads_every_field() -> None:
    entries = parse(CONF)
    assert [(e.line, e.name, e.vcpus) for e in entries] == [
        (2, "provision", 1),
        (4, "mcp", 2),
        (5, "ldap", 1),  # a run of tabs is one separator; no hostgroups
    ]
    assert entries[1].hostgroups == ("infrastructure", "monitoring")
    assert entries[0].memory == 1024 << 20 and entries[0].disk == 20 << 30


def test_output_is_toml_guests() -> None:
    text = import_text(CONF)
    guests = tomllib.loads(text)["guests"]
    assert guests[0] == {
        "name": "provision",
        "vcpus": 1,
        "memory": "1GiB",
        "disk": {"size": "20GiB"},
        "mac": "52:54:00:00:02:01",
        "ip": "192.168.1.1",
        "hostgroups": ["infrastructure"],
    }
    assert guests[2]["memory"] == "512MiB" and "hostgroups" not in guests[2]


def test_bad_lines_are_numbered() -> None:
    conf = CONF + "web\t52:54:00:00:02:01\t192.168.1.9\tlots\t10\t1\nweb2\tnot-a-mac\n"
    conf += "mcp\t52:54:00:00:02:09\t192.168.1.1\t512\t10\t1\n"
    with pytest.raises(InventoryError) as caught:
        parse(conf, "cluster.conf")
    assert [str(p) for p in caught.value.problems] == [
        "cluster.conf:6: RAM (MB): expected a whole number of at least 1, got 'lots'",
        "cluster.conf:7: expected 6 or 7 tab-separated fields (name, MAC, IP, RAM MB, disk GB, "
        "CPUs[, hostgroups]), got 2",
        "cluster.conf:8: duplicate name mcp (also on line 4)",
        "cluster.conf:8: duplicate IP 192.168.1.1 (also on line 2)",
    ]


def test_into_an_inventory_is_checked_as_a_whole() -> None:
    template = (EXAMPLES / "nfs-2node.toml").read_text()
    # The example already has a guest named mcp and the address 192.168.1.3.
    with pytest.raises(InventoryError) as caught:
        import_text(CONF, into=template, into_source="kvm.toml")
    messages = [p.message for p in caught.value.problems if p.severity == "error"]
    assert any(m.startswith("duplicate guest name mcp") for m in messages)
    assert any(m.startswith("duplicate IP address 192.168.1.3") for m in messages)
    fresh = (
        CONF.replace("provision\t", "pxe\t")
        .replace("192.168.1.1\t", "192.168.1.21\t")
        .replace("mcp\t", "nagios\t")
        .replace("192.168.1.3\t", "192.168.1.23\t")
    )
    inv = load_text(import_text(fresh, into=template), "kvm.toml")
    assert [g.name for g in inv.guests] == [
        "provision",
        "mcp",
        "web1",
        "web2",
        "pxe",
        "nagios",
        "ldap",
    ]
    ldap = inv.guests[-1]
    assert ldap.network == "vmnet" and ldap.config == "/data/vms/xml/ldap.xml"
