"""The guest agent's meta-data: golden file, DTD/RNG validity, and what Pacemaker tools see."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys

import pytest
from havirt.agents.virtual_domain import VirtualDomain
from havirt.ocf import dispatcher, metadata
from lxml import etree

DTD = "/usr/share/resource-agents/ra-api-1.dtd"
RNG_10 = "/usr/share/pcs/data/ocf-1.0.rng"
RNG_11 = "/usr/share/pcs/data/ocf-1.1.rng"
STOCK = "/usr/lib/ocf/resource.d/heartbeat/VirtualDomain"
INSTALLED = "/usr/lib/ocf/resource.d/havirt/VirtualDomain"


def _metadata_via_dispatcher() -> str:
    out, err = io.StringIO(), io.StringIO()
    rc = dispatcher.run(
        VirtualDomain(), ["VirtualDomain", "meta-data"], environ={}, stdout=out, stderr=err
    )
    assert rc == 0, err.getvalue()
    return out.getvalue()


def test_metadata_matches_golden(golden) -> None:
    golden("VirtualDomain.metadata.xml", _metadata_via_dispatcher())


def test_metadata_needs_no_environment_root_or_libvirt() -> None:
    # A fresh interpreter with an empty environment: no libvirt import happens for meta-data.
    code = (
        "import sys; from havirt.agents.virtual_domain import VirtualDomain;"
        "from havirt.ocf import dispatcher;"
        "rc = dispatcher.run(VirtualDomain(), ['VirtualDomain', 'meta-data'], environ={});"
        "assert 'libvirt' not in sys.modules, 'meta-data imported libvirt'; sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert "<resource-agent" in proc.stdout


@pytest.mark.skipif(not os.path.exists(DTD), reason="resource-agents not installed")
def test_metadata_valid_against_ra_api_dtd() -> None:
    doc = etree.fromstring(_metadata_via_dispatcher().encode())
    dtd = etree.DTD(DTD)
    assert dtd.validate(doc), dtd.error_log.filter_from_errors()


@pytest.mark.skipif(not os.path.exists(RNG_10), reason="pcs not installed")
def test_metadata_valid_against_pcs_rng() -> None:
    doc = etree.fromstring(_metadata_via_dispatcher().encode())
    rng = etree.RelaxNG(etree.parse(RNG_10))
    assert rng.validate(doc), rng.error_log
    doc11 = metadata.build(VirtualDomain, (1, 1))
    rng11 = etree.RelaxNG(etree.parse(RNG_11))
    assert rng11.validate(doc11), rng11.error_log


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


def _installed(*tools: str) -> bool:
    """The agent is installed where Pacemaker looks, and these tools are there to ask."""
    return os.access(INSTALLED, os.X_OK) and all(shutil.which(t) for t in tools)


@pytest.mark.skipif(
    not _installed("crm_resource", "xmllint"), reason="agent, crm_resource or xmllint missing"
)
def test_crm_resource_shows_dtd_valid_metadata(tmp_path) -> None:
    proc = subprocess.run(
        ["crm_resource", "--show-metadata", "ocf:havirt:VirtualDomain"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "md.xml"
    path.write_text(proc.stdout)
    lint = subprocess.run(
        ["xmllint", "--noout", "--dtdvalid", DTD, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert lint.returncode == 0, lint.stderr


@pytest.mark.skipif(not _installed("pcs"), reason="agent or pcs missing")
def test_pcs_resource_describe_lists_every_parameter() -> None:
    proc = subprocess.run(
        ["pcs", "resource", "describe", "ocf:havirt:VirtualDomain"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for param in VirtualDomain.parameters:
        assert f"  {param.name}" in proc.stdout, param.name


def test_reference_docs_are_up_to_date() -> None:
    from havirt.tools import docgen

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert docgen.main(["--root", root, "--check"]) == 0, (
        "docs/reference is stale: run python -m havirt.tools.docgen"
    )
