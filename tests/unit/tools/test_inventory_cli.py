"""The inventory, generate and apply commands: exit codes, output, nothing written on errors."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner
from example_paths import EXAMPLES
from havirt.tools.cli.main import main

LAB = str(EXAMPLES / "lab.toml")
LAB_TEXT = (EXAMPLES / "lab.toml").read_text()


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_check_ok_and_json() -> None:
    result = run("inventory", "check", LAB)
    assert result.exit_code == 0
    assert result.output.endswith("lab.toml: ok (3 nodes, 3 guests, 1 storage, 0 networks)\n")
    data = json.loads(run("inventory", "check", LAB, "--json").output)
    assert data["ok"] and data["errors"] == 0 and data["problems"] == []


def test_check_reports_lines_and_exits_1(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(LAB_TEXT.replace('memory = "128MiB"', 'memory = "lots"', 1))
    result = run("inventory", "check", str(bad))
    assert result.exit_code == 1
    line = bad.read_text().splitlines().index('memory = "lots"') + 1
    assert (
        f"bad.toml:{line}: guests[0].memory: expected a size like 2GiB, got 'lots'" in result.output
    )
    data = json.loads(run("inventory", "check", str(bad), "--json").output)
    assert data["problems"][0]["line"] == line and not data["ok"]


def test_show_json_has_defaults_filled_in() -> None:
    data = json.loads(run("inventory", "show", LAB, "--json").output)
    assert data["policies"]["stickiness"] == 100
    assert data["guests"][0]["config"] == "/srv/havirt-shared/guests/vm1/domain.xml"
    assert data["nodes"][2]["fence"] == {
        "agent": "fence_havirt_lab",
        "options": {"lab": "havirt", "plug": "node3"},
    }
    assert "node3" in run("inventory", "show", LAB).output


def test_import_writes_only_valid_output(tmp_path) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_text("vm9\t52:54:00:00:09:09\t192.168.77.99\t256\t1\t1\tlab\n")
    out = tmp_path / "inv.toml"
    result = run("inventory", "import", str(conf), "--into", LAB, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert '[[guests]]\nname = "vm9"' in out.read_text()
    assert run("inventory", "check", str(out)).exit_code == 0
    conf.write_text("vm1\t52:54:00:00:09:09\t192.168.77.99\t256\t1\t1\n")  # vm1 exists already
    out.unlink()
    result = run("inventory", "import", str(conf), "--into", LAB, "-o", str(out))
    assert result.exit_code == 1 and "duplicate guest name vm1" in result.output
    assert not out.exists()


def test_generate_writes_files_and_a_manifest(tmp_path) -> None:
    out = str(tmp_path / "out")
    result = run("generate", LAB, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert sorted(data["written"]) == sorted(
        [
            "corosync.conf",
            "cib.xml",
            "cib.pcs",
            "hosts",
            "dnsmasq-hosts.conf",
            "ssh_config",
            "nodes/node1/pools/shared.xml",
            "nodes/node2/pools/shared.xml",
            "nodes/node3/pools/shared.xml",
        ]
    )
    # The CIB files carry the fence devices' options (credentials): owner only.
    assert (tmp_path / "out" / "cib.xml").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "out" / "cib.pcs").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "out" / "hosts").stat().st_mode & 0o777 == 0o644
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["cluster"] == "havirt-lab" and manifest["live_cib"] is None
    again = json.loads(run("generate", LAB, "-o", out, "--json").output)
    assert again["written"] == [] and len(again["unchanged"]) == 9


def test_generate_changes_nothing_on_an_invalid_inventory(tmp_path) -> None:
    out = tmp_path / "out"
    assert run("generate", LAB, "-o", str(out)).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.toml"
    bad.write_text(LAB_TEXT.replace('name = "vm2"', 'name = "vm1"'))
    result = run("generate", str(bad), "-o", str(out))
    assert result.exit_code == 1 and "duplicate guest name vm1" in result.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_generate_removes_what_it_no_longer_generates(tmp_path) -> None:
    out = tmp_path / "out"
    two = tmp_path / "two.toml"
    text = LAB_TEXT
    cut = text.index('[[nodes]]\nname = "node3"')
    two.write_text(text[:cut] + text[text.index("# A directory bind-mounted") :])
    assert run("generate", LAB, "-o", str(out)).exit_code == 0
    result = run("generate", str(two), "-o", str(out), "--json")
    assert json.loads(result.output)["removed"] == ["nodes/node3/pools/shared.xml"]
    assert not (out / "nodes" / "node3").exists()
    assert "two_node: 1" in (out / "corosync.conf").read_text()


def test_generate_refuses_a_directory_it_did_not_write(tmp_path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = run("generate", LAB, "-o", str(tmp_path))
    assert result.exit_code == 1 and "not a directory written by havirt generate" in result.output
    assert os.listdir(tmp_path) == ["precious.txt"]


def test_apply_needs_a_compared_directory(tmp_path) -> None:
    out = str(tmp_path / "out")
    run("generate", LAB, "-o", out)
    result = run("apply", out)
    assert result.exit_code == 1
    assert "was never compared with the live CIB" in result.output
