"""The probe's shell scripts as a node runs them: through sh, with a real timeout, and
against virsh (libvirt's test driver) and getent of this machine. The collector's
parsing and judging are unit-tested on fake nodes in tests/unit/validate/test_validate_probe.py.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest
from havirt.ocf.runner import CommandRunner
from havirt.tools.validate import facts as F
from havirt.tools.validate import framing, trust_probe
from havirt.tools.validate.targets import Target


def run_sh(script: str, path: str | None = None, timeout: float = 30) -> str:
    env = {"PATH": path} if path else None
    result = CommandRunner().run(["sh", "-c", script], timeout=timeout, env=env)
    assert result.ok, result.describe()
    return result.stdout


def test_sections_keep_each_commands_output_exit_code_and_errors_apart() -> None:
    boundary = framing.new_boundary()
    script = framing.sections_script(
        boundary,
        [
            ("one", "printf 'line 1\\nline 2\\n'"),
            ("no-newline", "printf partial"),
            ("fails", "echo out; echo 'error: broken' >&2; exit 3"),
            ("missing", "no-such-command-here"),
            ("quotes", 'echo "it\'s $((1 + 1))"'),
            ("exit-stays-inside", "exit 4"),
        ],
    )
    found = framing.parse_sections(boundary, run_sh(script))
    assert found["one"] == framing.Section("line 1\nline 2", 0, "")
    assert found["no-newline"].stdout == "partial"
    assert (found["fails"].stdout, found["fails"].rc) == ("out", 3)
    assert found["fails"].error() == "broken"
    assert found["missing"].rc == 127
    assert "not found" in found["missing"].error()
    assert found["quotes"].stdout == "it's 2"
    assert found["exit-stays-inside"].rc == 4
    assert found["exit-stays-inside"].rc == 4


def test_a_hanging_command_times_out_alone() -> None:
    boundary = framing.new_boundary()
    hang = framing.bounded("sleep 30", 1)
    script = framing.sections_script(boundary, [("hang", hang), ("after", "echo ok")])
    found = framing.parse_sections(boundary, run_sh(script, timeout=20))
    assert found["hang"].rc == 124 and found["hang"].error() == "timed out"
    assert found["after"] == framing.Section("ok", 0, "")


def test_output_mimicking_the_frame_does_not_confuse_the_parser() -> None:
    boundary = framing.new_boundary()
    fake = "@@havirt-0000000000000000 end x 0"
    script = framing.sections_script(boundary, [("x", f"echo '{fake}'")])
    assert framing.parse_sections(boundary, run_sh(script))["x"].stdout == fake


@pytest.mark.skipif(shutil.which("virsh") is None, reason="virsh (libvirt-clients) not installed")
def test_virsh_batch_markers_and_quoting_with_libvirts_test_driver(tmp_path: Path) -> None:
    name = "odd name 'with\" \\ chars"
    escaped = name.replace("'", "&apos;").replace('"', "&quot;")
    xml = tmp_path / "net.xml"
    xml.write_text(f"<network><name>{escaped}</name><bridge name='vb9'/></network>")
    boundary = framing.new_boundary()
    batch = framing.virsh_batch(
        boundary,
        [
            ("define", f"net-define {framing.virsh_word(str(xml))}"),
            ("dump", f"net-dumpxml {framing.virsh_word(name)}"),
            ("names", "net-list --all --name"),
        ],
    )
    result = CommandRunner().run(["virsh", "-c", "test:///default", batch], timeout=30)
    answers = framing.split_marked(boundary, result.stdout)
    assert "vb9" in answers["dump"]
    assert name in answers["names"].splitlines()


@pytest.mark.skipif(shutil.which("getent") is None, reason="getent (libc-bin) not installed")
def test_one_real_getent_resolves_every_name_in_order() -> None:
    # Names any host resolves without DNS: numeric ones, each its own answer.
    names = ["127.0.0.2", "127.0.0.3"]
    keys = " ".join(F.getent_keys(names))
    answers = F.parse_getent_keys(run_sh(f"getent ahosts {keys}"), names)
    assert answers == {"127.0.0.2": ("127.0.0.2",), "127.0.0.3": ("127.0.0.3",)}


def test_trust_script_probes_every_peer_in_waves_and_asks_ssh_only_on_failure(
    tmp_path: Path,
) -> None:
    # Stand-ins for virsh and ssh: node3 refuses our key, node5's libvirt is down.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    (bin_dir / "virsh").write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        echo "virsh $2" >> {log}
        case "$2" in
          *node3*) echo 'error: Cannot recv data: Permission denied (publickey).' >&2; exit 1;;
          *node5*) echo 'error: failed to connect to the hypervisor' >&2; exit 1;;
        esac
        host=${{2#qemu+ssh://}}; echo "${{host%%/*}}"
        """)
    )
    (bin_dir / "ssh").write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        echo "ssh $*" >> {log}
        case "$*" in *node3*) echo 'root@node3: Permission denied (publickey).' >&2; exit 255;; esac
        exit 0
        """)
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    peers = [Target(f"node{i}", f"10.0.0.{i}") for i in range(2, 8)]
    boundary = framing.new_boundary()
    script = trust_probe.trust_script(boundary, peers, "migrate", timeout=10)
    assert script.count(" wait") == 2  # 6 peers, 4 at a time
    path = f"{bin_dir}:{os.environ['PATH']}"
    found = framing.parse_sections(boundary, run_sh(script, path=path))
    assert found["v0"] == framing.Section("migrate@node2", 0, "")
    assert found["v1"].rc == 1 and found["s1"].rc == 255
    assert "Permission denied" in found["s1"].stderr
    assert found["v3"].rc == 1 and found["s3"].rc == 0
    assert "s0" not in found and "s2" not in found
    calls = log.read_text()
    assert calls.count("virsh ") == 6 and calls.count("ssh ") == 2
    assert "qemu+ssh://migrate@node4/system?no_tty=1" in calls
    assert "BatchMode=yes" in calls


def test_the_bridge_and_path_snippets_run_in_sh(tmp_path: Path) -> None:
    """The probe's bridge list and path test as a node's sh runs them: an odd path
    (quote, space, glob) is one word, and a missing one is said."""
    from havirt.tools.validate import probe

    odd = tmp_path / "it's a [disk]*.qcow2"
    odd.write_text("")
    boundary = framing.new_boundary()
    paths = probe.path_test([str(odd), str(tmp_path / "gone")])
    script = framing.sections_script(boundary, [("bridges", probe.BRIDGES), ("paths", paths)])
    found = framing.parse_sections(boundary, run_sh(script))
    assert found["bridges"].ok
    assert F.parse_present(found["paths"].stdout) == {str(odd): True, str(tmp_path / "gone"): False}
