"""The readers of this machine's /proc, on the real /proc: the unit tests give them fake
trees (tests/unit/agents/test_qemu_processes.py, test_mountinfo.py)."""

from __future__ import annotations

import os

from havirt.agents.guest.qemu_processes import find
from havirt.agents.pool import mountinfo


def test_find_on_the_real_proc_does_not_fail():
    assert find("havirt-no-such-guest-" + str(os.getpid())) == []


def test_reads_this_process_mountinfo() -> None:
    assert any(m.mount_point == "/" for m in mountinfo.read())
