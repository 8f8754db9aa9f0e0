"""Hostile input checked against the real Pacemaker tools (issue 11.6): a CIB_file that
is not a CIB, and agent parameters refused the way pcs's --agent-validation asks
(crm_resource --validate runs the agent's validate-all). Skips, saying why, where a
tool is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from havirt.ocf.runner import CommandRunner
from havirt.tools.cli.main import main
from lxml import etree

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "cluster-templates" / "lab.toml"
PROVIDER_DIR = Path("/usr/lib/ocf/resource.d/havirt")
DOMAIN = "<domain type='kvm'><name>vmx</name><memory unit='MiB'>64</memory></domain>\n"


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (pacemaker-cli-utils, pcs)")


def _fresh_cib(path: Path) -> None:
    empty = CommandRunner().run(["cibadmin", "--empty"], timeout=30)
    assert empty.ok, empty.describe()
    root = etree.fromstring(empty.stdout.encode())
    for nodeid, name in (("1", "node1"), ("2", "node2"), ("3", "node3")):
        etree.SubElement(root.find("configuration/nodes"), "node", id=nodeid, uname=name)
    path.write_bytes(etree.tostring(root))


BAD_CIB_FILES = {
    "not-xml": b"this is not XML\n",
    "too-deep": b"<cib>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</cib>",
    "huge-attribute": b'<cib epoch="1" x="' + b"a" * (20 << 20) + b'"><configuration/></cib>',
    "entity-bomb": b'<?xml version="1.0"?><!DOCTYPE cib [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    b'<cib epoch="1" admin_epoch="0" num_updates="0"><configuration>&c;</configuration></cib>',
}


@pytest.mark.parametrize("name", sorted(BAD_CIB_FILES))
def test_generate_diff_and_apply_on_a_bad_cib_file(tmp_path, name) -> None:
    _need("cibadmin")
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["generate", str(LAB), "-o", str(out)]).exit_code == 0
    before = sorted(p.name for p in out.iterdir())
    bad = tmp_path / "cib.xml"
    bad.write_bytes(BAD_CIB_FILES[name])
    runner = CliRunner()
    for args in (["generate", str(LAB), "-o", str(out), "--diff"], ["apply", str(out)]):
        result = runner.invoke(main, args, env={"CIB_file": str(bad)})
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        errors = [line for line in result.output.splitlines() if "error" in line]
        assert len(errors) == 1 and len(errors[0]) < 400, result.output[:2000]
    assert sorted(p.name for p in out.iterdir()) == before
    assert bad.read_bytes() == BAD_CIB_FILES[name]


def test_a_valid_cib_file_still_applies(tmp_path) -> None:
    _need("cibadmin", "pcs", "crm_verify", "crm_diff")
    live = tmp_path / "live.xml"
    _fresh_cib(live)
    out = tmp_path / "out"
    runner = CliRunner()
    env = {"CIB_file": str(live)}
    diff = runner.invoke(main, ["generate", str(LAB), "-o", str(out), "--diff"], env=env)
    assert diff.exit_code == 0, diff.output


def _validate_all(tmp_path: Path, **reskeys: str) -> subprocess.CompletedProcess:
    """validate-all of this checkout's agent, with the environment crm_resource
    --validate (pcs --agent-validation) gives it."""
    config = tmp_path / "vmx.xml"
    config.write_text(DOMAIN)
    rsctmp = tmp_path / "rsctmp"
    rsctmp.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RA_VERSION_MAJOR": "1",
        "OCF_RA_VERSION_MINOR": "1",
        "OCF_RESOURCE_INSTANCE": "vmx",
        "OCF_RESOURCE_TYPE": "VirtualDomain",
        "OCF_RESOURCE_PROVIDER": "havirt",
        "HA_RSCTMP": str(rsctmp),
        "OCF_RESKEY_CRM_meta_timeout": "20000",
        "OCF_RESKEY_config": str(config),
        **{f"OCF_RESKEY_{k}": v for k, v in reskeys.items()},
    }
    code = "from havirt.agents.virtual_domain import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "validate-all"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("reskeys", "words"),
    [
        ({"hypervisor": "qemu:///system;id"}, "';'"),
        ({"migration_speed": "99999999999999999999999"}, "above the maximum"),
        ({"migrate_options": "--migrateuri=tcp://x;reboot"}, "--migrateuri"),
    ],
)
def test_validate_all_refuses_what_pcs_agent_validation_passes_on(tmp_path, reskeys, words):
    proc = _validate_all(tmp_path, **reskeys)
    assert proc.returncode == 6, proc.stderr  # OCF_ERR_CONFIGURED
    reasons = [line for line in proc.stderr.splitlines() if "ocf-exit-reason:" in line]
    assert len(reasons) == 1 and words in reasons[0] and len(reasons[0]) < 400, proc.stderr


def _installed_is_this_checkout() -> bool:
    wrapper = PROVIDER_DIR / "VirtualDomain"
    try:
        return f"'{REPO}'" in wrapper.read_text()
    except OSError:
        return False


def test_pcs_agent_validation_refuses_a_shell_hypervisor(tmp_path) -> None:
    """pcs runs the agent installed in /usr/lib/ocf (its path is compiled in). When that
    is this checkout's (CI: tools/bootstrap.sh installs it), pcs must refuse; when it is
    another checkout's, the same call shows that validation reaches the agent at all."""
    _need("pcs", "cibadmin", "crm_resource")
    if not (PROVIDER_DIR / "VirtualDomain").exists():
        pytest.skip("ocf:havirt:VirtualDomain is not installed (havirt install-agents)")
    cib = tmp_path / "cib.xml"
    _fresh_cib(cib)
    config = tmp_path / "vmx.xml"
    config.write_text(DOMAIN)
    proc = subprocess.run(
        ["pcs", "-f", str(cib), "resource", "create", "vmx", "ocf:havirt:VirtualDomain",
         f"config={config}", "hypervisor=qemu:///system;id", "--agent-validation"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    created = "vmx" in cib.read_text()
    if _installed_is_this_checkout():
        assert proc.returncode != 0 and not created, proc.stdout + proc.stderr
        assert "hypervisor" in proc.stdout + proc.stderr
    else:
        assert proc.returncode == 0 or "hypervisor" in proc.stdout + proc.stderr
