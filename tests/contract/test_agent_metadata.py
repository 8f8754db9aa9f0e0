"""Every OCF agent's meta-data: golden file, DTD/RNG validity, and what Pacemaker tools see."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys

import pytest
from havirt.agents.storage_pool import StoragePool
from havirt.agents.virtual_domain import VirtualDomain
from havirt.ocf import dispatcher, metadata
from havirt.ocf.agent import ResourceAgent
from lxml import etree

DTD = "/usr/share/resource-agents/ra-api-1.dtd"
RNG_10 = "/usr/share/pcs/data/ocf-1.0.rng"
RNG_11 = "/usr/share/pcs/data/ocf-1.1.rng"
PROVIDER_DIR = "/usr/lib/ocf/resource.d/havirt"

AGENTS = [VirtualDomain, StoragePool]
each_agent = pytest.mark.parametrize("agent", AGENTS, ids=lambda a: a.name)


def metadata_via_dispatcher(agent: type[ResourceAgent]) -> str:
    out, err = io.StringIO(), io.StringIO()
    rc = dispatcher.run(agent(), [agent.name, "meta-data"], environ={}, stdout=out, stderr=err)
    assert rc == 0, err.getvalue()
    return out.getvalue()


@each_agent
def test_metadata_matches_golden(golden, agent) -> None:
    golden(f"{agent.name}.metadata.xml", metadata_via_dispatcher(agent))


@each_agent
def test_metadata_needs_no_environment_root_or_libvirt(agent) -> None:
    # A fresh interpreter with an empty environment: no libvirt import happens for meta-data.
    code = (
        f"import sys; from {agent.__module__} import {agent.__name__} as A;"
        "from havirt.ocf import dispatcher;"
        "rc = dispatcher.run(A(), [A.name, 'meta-data'], environ={});"
        "assert 'libvirt' not in sys.modules, 'meta-data imported libvirt'; sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env={}, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert "<resource-agent" in proc.stdout


@pytest.mark.skipif(not os.path.exists(DTD), reason="resource-agents not installed")
@each_agent
def test_metadata_valid_against_ra_api_dtd(agent) -> None:
    doc = etree.fromstring(metadata_via_dispatcher(agent).encode())
    dtd = etree.DTD(DTD)
    assert dtd.validate(doc), dtd.error_log.filter_from_errors()


@pytest.mark.skipif(not os.path.exists(RNG_10), reason="pcs not installed")
@each_agent
def test_metadata_valid_against_pcs_rng(agent) -> None:
    doc = etree.fromstring(metadata_via_dispatcher(agent).encode())
    rng = etree.RelaxNG(etree.parse(RNG_10))
    assert rng.validate(doc), rng.error_log
    doc11 = metadata.build(agent, (1, 1))
    rng11 = etree.RelaxNG(etree.parse(RNG_11))
    assert rng11.validate(doc11), rng11.error_log


def _installed(agent: type[ResourceAgent], *tools: str) -> bool:
    """The agent is installed where Pacemaker looks, and these tools are there to ask."""
    path = os.path.join(PROVIDER_DIR, agent.name)
    return os.access(path, os.X_OK) and all(shutil.which(t) for t in tools)


@each_agent
def test_crm_resource_shows_dtd_valid_metadata(tmp_path, agent) -> None:
    if not _installed(agent, "crm_resource", "xmllint"):
        pytest.skip(f"{agent.name} not installed (havirt install-agents), or no crm_resource")
    proc = subprocess.run(
        ["crm_resource", "--show-metadata", f"ocf:havirt:{agent.name}"],
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


@each_agent
def test_pcs_resource_describe_lists_every_parameter(agent) -> None:
    if not _installed(agent, "pcs"):
        pytest.skip(f"{agent.name} not installed (havirt install-agents), or no pcs")
    proc = subprocess.run(
        ["pcs", "resource", "describe", f"ocf:havirt:{agent.name}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for param in agent.parameters:
        assert f"  {param.name}" in proc.stdout, param.name


def test_reference_docs_are_up_to_date() -> None:
    from havirt.tools.dev import docgen

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert docgen.main(["--root", root, "--check"]) == 0, (
        "docs/reference is stale: run python -m havirt.tools.dev.docgen"
    )
