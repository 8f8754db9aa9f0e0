"""fence_havirt's meta-data: golden file, fence-agents' RNG, and what Pacemaker's tools see."""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import pytest
from havirt.agents.fence_havirt import FenceHavirt
from havirt.ocf import fencing
from lxml import etree

FENCE_RNG = "/usr/share/cluster/relaxng/metadata.rng"  # fence-agents' schema
INSTALLED = "/usr/sbin/fence_havirt"  # where `havirt install-agents` puts it


def _metadata() -> str:
    out, err = io.StringIO(), io.StringIO()
    rc = fencing.run(FenceHavirt(), ["fence_havirt", "-o", "metadata"], stdout=out, stderr=err)
    assert rc == 0, err.getvalue()
    return out.getvalue()


def _rng() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(FENCE_RNG))


def test_metadata_matches_golden(golden) -> None:
    golden("fence_havirt.metadata.xml", _metadata())


@pytest.mark.skipif(not os.path.exists(FENCE_RNG), reason="fence-agents not installed")
def test_metadata_valid_against_fence_agents_rng() -> None:
    rng = _rng()
    assert rng.validate(etree.fromstring(_metadata().encode())), rng.error_log


def test_every_option_is_in_the_metadata_and_plug_is_what_pacemaker_passes() -> None:
    root = etree.fromstring(_metadata().encode())
    names = [p.get("name") for p in root.iter("parameter")]
    assert names == [opt.name for opt in FenceHavirt.option_table()]
    # Pacemaker passes the target as plug= when the agent declares plug.
    assert "plug" in names


def _installed(*tools: str) -> bool:
    """fence_havirt is installed where Pacemaker looks, and these tools are there to ask."""
    return os.access(INSTALLED, os.X_OK) and all(shutil.which(t) for t in tools)


NOT_INSTALLED = "fence_havirt not installed in /usr/sbin (havirt install-agents) or tool missing"


def _tool(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not _installed("stonith_admin"), reason=NOT_INSTALLED)
def test_stonith_admin_lists_the_installed_agent() -> None:
    done = _tool("stonith_admin", "--list-installed")
    assert done.returncode == 0, done.stderr
    assert "fence_havirt" in done.stdout.split()


@pytest.mark.skipif(not _installed("stonith_admin"), reason=NOT_INSTALLED)
@pytest.mark.skipif(not os.path.exists(FENCE_RNG), reason="fence-agents not installed")
def test_stonith_admin_prints_valid_metadata() -> None:
    done = _tool("stonith_admin", "--metadata", "--agent", "fence_havirt")
    assert done.returncode == 0, done.stderr
    root = etree.fromstring(done.stdout.encode())
    assert root.get("name") == "fence_havirt"
    names = {p.get("name") for p in root.iter("parameter")}
    assert {opt.name for opt in FenceHavirt.option_table()} <= names
    # Pacemaker adds start/stop actions with a timeout attribute to every fence agent's
    # meta-data (fence_virsh's too), which fence-agents' schema has no place for.
    for action in root.findall("actions/action[@timeout]"):
        assert action.get("name") in ("start", "stop")
        action.getparent().remove(action)
    rng = _rng()
    assert rng.validate(root), rng.error_log


@pytest.mark.skipif(not _installed("pcs"), reason=NOT_INSTALLED)
def test_pcs_stonith_describe_lists_every_option() -> None:
    done = _tool("pcs", "stonith", "describe", "fence_havirt")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("fence_havirt - ")
    for opt in FenceHavirt.option_table():
        if opt.name in ("action", "port", "help", "version"):
            continue  # pcs leaves out what Pacemaker sets itself and deprecated names
        assert f"  {opt.name}:" in done.stdout, opt.name


@pytest.mark.skipif(
    not (_installed("pcs", "cibadmin")), reason=NOT_INSTALLED + " (or cibadmin missing)"
)
def test_the_documented_pcs_command_creates_the_device(tmp_path) -> None:
    cib = tmp_path / "cib.xml"
    cib.write_text(_tool("cibadmin", "--empty").stdout)
    done = _tool(
        "pcs",
        "-f",
        str(cib),
        "stonith",
        "create",
        "fence-nodes",
        "fence_havirt",
        "uri=qemu+ssh://fence@hv1.example.com/system",
        "identity_file=/etc/havirt/fence_id_ed25519",
        "pcmk_host_map=node1:vm-node1;node2:vm-node2",
        "op",
        "monitor",
        "interval=60s",
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    primitive = etree.parse(str(cib)).find(".//primitive[@id='fence-nodes']")
    assert primitive.get("type") == "fence_havirt" and primitive.get("class") == "stonith"
