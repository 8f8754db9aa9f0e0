"""Bad input that is part of the machine itself: devices (/dev/zero) and kernel file
systems (/proc, /sys). The unit suite must not touch them (its host guard refuses),
so these cases of the bad-input tests run here, against the real paths: each is
refused at once, unread, with one line naming it, and nothing is written."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from havirt.ocf import fencing
from havirt.ocf.fencing import EXIT_ERROR
from havirt.tools.cli.main import main

REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / "cluster-templates" / "lab.toml")
sys.path.insert(0, str(REPO / "tests" / "unit" / "ocf"))  # the toy fence agent

from fence_toy import FakeClock, Switch, ToyFence  # noqa: E402


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_generate_under_proc_or_sys_is_refused() -> None:
    for where in ("/proc/havirt-out", "/sys/kernel/havirt"):
        result = run("generate", LAB, "-o", where)
        assert result.exit_code == 1 and "kernel filesystem" in result.output
        assert not os.path.exists(where)


def test_inventory_check_on_dev_zero_is_refused_unread() -> None:
    result = run("inventory", "check", "/dev/zero")
    assert result.exit_code == 1 and "/dev/zero is a device" in result.output


@pytest.mark.parametrize("option", ["--known-hosts", "--ssh-config"])
def test_validate_refuses_ssh_files_that_are_devices(option) -> None:
    result = run("validate", "--host", "n1=127.0.0.1", option, "/dev/zero")
    assert result.exit_code == 2 and "is a device" in result.output, result.output


def test_a_fence_password_file_that_is_a_device_is_refused() -> None:
    agent = ToyFence(Switch())
    err = io.StringIO()
    rc = fencing.run(
        agent,
        ["fence_toy"],
        stdin=io.StringIO("action=status\nplug=vm1\npassword_file=/dev/zero\n"),
        stdout=io.StringIO(),
        stderr=err,
        host=FakeClock(),
    )
    assert rc == EXIT_ERROR and "is a device" in err.getvalue()
