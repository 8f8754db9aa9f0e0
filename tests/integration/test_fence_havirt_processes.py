"""fence_havirt as Pacemaker runs it: a real process, against libvirt's own test driver
(real libvirt, no daemon), and what libvirt's ssh transport runs for its URI.

Not unit tests: they start interpreters and load this machine's libvirt. The agent's
callbacks are unit-tested with a fake boundary in tests/unit/agents/test_fence_havirt.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from havirt.agents.fence_havirt import looks_like_uuid
from havirt.ocf.fencing import EXIT_ERROR

# -- against libvirt's own test driver (real libvirt, no daemon) -------------------------


def run_process(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "havirt.agents.fence_havirt", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "")},
    )


def test_every_action_against_libvirts_test_driver() -> None:
    pytest.importorskip("libvirt", reason="libvirt-python is not installed")
    uri = "test:///default"  # one running domain named "test"
    done = run_process("-o", "list-status", f"--uri={uri}")
    assert done.returncode == 0, done.stderr
    name, uuid, status = done.stdout.strip().split(",")
    assert (name, status) == ("test", "ON") and looks_like_uuid(uuid)
    done = run_process(stdin=f"action=status\nplug={uuid}\nuri={uri}\n")
    assert (done.returncode, done.stdout) == (0, "Status: ON\n"), done.stderr
    for action, line in (
        ("off", "Success: Powered OFF"),
        ("reboot", "Success: Rebooted"),
        ("on", "Success: Already ON"),
        ("monitor", ""),
    ):
        done = run_process(stdin=f"action={action}\nplug=test\nuri={uri}\nverbose=1\n")
        assert (done.returncode, done.stdout.strip()) == (0, line), done.stderr
    assert (
        "verified: test is OFF"
        in run_process("-o", "reboot", "-n", "test", f"--uri={uri}", "-v").stderr
    )


def test_metadata_does_not_import_libvirt() -> None:
    code = (
        "import sys; from havirt.agents.fence_havirt import FenceHavirt;"
        "from havirt.ocf import fencing;"
        "rc = fencing.run(FenceHavirt(), ['fence_havirt', '-o', 'metadata']);"
        "assert 'libvirt' not in sys.modules, 'meta-data imported libvirt'; sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_the_agent_module_imports_only_the_lean_protocol_layer() -> None:
    code = (
        "import sys; before = set(sys.modules);"
        "import havirt.agents.fence_havirt;"
        "new = set(sys.modules) - before;"
        "heavy = {'typing', 'enum', 're', 'threading', 'subprocess', 'lxml', 'libvirt',"
        " 'argparse', 'getopt', 'logging'} & new;"
        "assert not heavy, heavy"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr


def test_libvirt_runs_ssh_in_batch_mode_with_the_key_and_the_host_key_check_on(tmp_path) -> None:
    """What libvirt's ssh transport really runs for our URI (a stand-in ssh records it)."""
    pytest.importorskip("libvirt", reason="libvirt-python is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "ssh-argv"
    fake_ssh = bin_dir / "ssh"
    fake_ssh.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\nexit 255\n')
    fake_ssh.chmod(0o755)
    key = tmp_path / "fence key"
    key.write_text("not a real key")
    uri = "qemu+ssh://fence@hv1.invalid:2222/system"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "havirt.agents.fence_havirt",
            "-o",
            "list",
            f"--uri={uri}",
            "-k",
            key,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"},
    )
    assert done.returncode == EXIT_ERROR
    assert f"cannot reach libvirt at {uri}?no_tty=1&keyfile=" in done.stderr
    argv = record.read_text().splitlines()
    assert argv[: argv.index("--")] == [
        "-p",
        "2222",
        "-l",
        "fence",
        "-i",
        str(key),
        "-T",
        "-e",
        "none",
        "-o",
        "BatchMode=yes",  # an unknown host key fails instead of asking; no password prompt
    ]
    assert not any("StrictHostKeyChecking" in arg for arg in argv)
    assert argv[argv.index("--") + 1] == "hv1.invalid"
