"""The guest agent's meta-data against the stock agent's (the generic checks of every
agent's meta-data are in test_agent_metadata.py)."""

from __future__ import annotations

import os
import subprocess

import pytest
from havirt.agents.virtual_domain import VirtualDomain
from lxml import etree

STOCK = "/usr/lib/ocf/resource.d/heartbeat/VirtualDomain"


@pytest.mark.skipif(not os.path.exists(STOCK), reason="stock VirtualDomain not installed")
def test_every_stock_parameter_is_declared_with_same_type() -> None:
    stock_xml = subprocess.run(
        [STOCK, "meta-data"],
        env={"OCF_ROOT": "/usr/lib/ocf"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    stock = etree.fromstring(stock_xml.encode())
    ours = {p.name: p for p in VirtualDomain.parameters}
    for param in stock.iter("parameter"):
        name = param.get("name")
        assert name in ours, f"stock parameter {name} missing"
        assert ours[name].type == param.find("content").get("type"), name
    stock_actions = {a.get("name") for a in stock.iter("action")}
    assert stock_actions <= {a.name for a in VirtualDomain.actions}
