"""The host guard (host_guard.py) refuses every way to the host a unit test could take,
including through the real ``Host`` the product uses when nobody hands it a fake."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from havirt.agents.storage_pool import PoolHost
from havirt.agents.virtual_domain import GuestHost
from havirt.ocf.environment import Deadline
from havirt.ocf.host import Host
from host_guard import GUARD, HINT, HostAccess


@pytest.fixture
def refused() -> Iterator[Callable[[Callable[[], object], str], None]]:
    """refused(call, words): ``call`` must raise HostAccess naming ``words``; the
    violation it records is then forgotten, so that this test itself passes."""

    def check(call: Callable[[], object], words: str) -> None:
        before = len(GUARD.violations)
        with pytest.raises(HostAccess) as caught:
            call()
        assert words in str(caught.value) and HINT in str(caught.value)
        assert len(GUARD.violations) == before + 1
        del GUARD.violations[before:]

    yield check


def test_programs_processes_signals_and_the_network_are_refused(refused) -> None:
    refused(lambda: shutil.which("mount.nfs"), "shutil.which('mount.nfs')")
    refused(lambda: subprocess.run(["true"], check=False), "subprocess.Popen")
    refused(lambda: os.system("true"), "os.system")
    refused(lambda: os.kill(os.getpid(), 0), "os.kill")
    refused(lambda: socket.create_connection(("192.0.2.1", 22), timeout=0.1), "socket")
    refused(socket.gethostname, "socket.gethostname")


def test_host_files_are_refused_but_the_tests_own_are_not(refused, tmp_path) -> None:
    refused(lambda: open("/proc/self/mountinfo").close(), "open('/proc/self/mountinfo')")
    refused(lambda: os.listdir("/proc"), "os.listdir('/proc')")
    refused(lambda: os.path.exists("/dev/kvm"), "os.stat('/dev/kvm')")
    refused(lambda: os.access("/usr/sbin/mount.nfs", os.X_OK), "os.access")
    refused(lambda: os.readlink("/proc/self/ns/net"), "os.readlink")
    (tmp_path / "mine").write_text("ok")
    assert (tmp_path / "mine").read_text() == "ok" and os.listdir(tmp_path) == ["mine"]


def test_the_real_host_seam_is_refused_in_every_part(refused) -> None:
    """What a test gets when it forgets to hand the product a fake host."""
    host = GuestHost()
    refused(lambda: host.which("qemu-img"), "shutil.which")
    refused(lambda: host.exists("/dev/kvm"), "/dev/kvm")
    refused(host.node_name, "os.uname()")
    refused(lambda: host.kill(os.getpid(), signal.SIGTERM), "os.kill")
    refused(lambda: host.process_name(1), "/proc/1/comm")
    refused(lambda: host.process_started(1), "/proc/1/stat")
    refused(lambda: host.connect_unix("/run/libvirt/virtlockd-sock", 1.0), "socket")
    refused(host.monotonic, "time.monotonic() from product code")
    refused(host.time, "time.time() from product code")
    refused(lambda: host.sleep(0), "time.sleep(0) from product code")
    refused(lambda: host.qemu_processes("vm1", None), "/proc")
    refused(PoolHost().mounts, "/proc/self/mountinfo")
    refused(lambda: Host().which("vgchange", "/usr/sbin"), "shutil.which('vgchange')")


def test_a_deadline_without_a_clock_reads_the_real_one(refused) -> None:
    refused(lambda: Deadline(5.0).remaining(), "time.monotonic() from product code")
    assert Deadline(5.0, lambda: 0.0).remaining() == 5.0


def test_a_violation_the_product_swallows_still_fails_the_test() -> None:
    before = len(GUARD.violations)
    try:
        Host().process_name(1)  # catches OSError; HostAccess is no OSError, and is recorded
    except HostAccess:
        pass
    assert len(GUARD.violations) == before + 1  # no_host_access fails the test at teardown
    del GUARD.violations[before:]


def test_tests_may_use_the_clock_and_sleep_themselves() -> None:
    start = time.monotonic()
    time.sleep(0)
    assert time.monotonic() >= start
