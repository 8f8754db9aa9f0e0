"""A real userspace iSCSI target for a lab: :class:`IscsiTarget` (Debian's ``tgtd``).

The target daemon runs in the lab's switch network namespace, and its portal is an
address the target adds to the switch bridge (``<subnet>.3`` by default), so every
lab node's libvirtd and QEMU reach it as they would reach a storage array on the
storage network. Nothing needs the kernel initiator: libvirt's ``iscsi-direct`` pool
and QEMU's ``iscsi`` block driver log in with libiscsi.

Facts about tgtd this module relies on (measured, see
docs/notes/iscsi-on-this-machine.md):

* its control socket is a file, ``/var/run/tgtd/socket.<port>``, shared by every
  network namespace: each instance gets its own ``-C`` control port;
* it ignores SIGTERM: the clean stop deletes the targets, then the system
  (``tgtadm --mode system --op delete``), after which tgtd exits; SIGKILL by PID
  is the fallback, and the socket files are removed after it;
* the default serial and NAA identifiers derive from target and LUN numbers only,
  so two targets would report the same ones: every LUN gets an explicit
  ``scsi_sn`` and ``scsi_id`` from the lab's name;
* LUN 0 is the target's controller; data LUNs are 1 and up.

Typical use::

    with IscsiTarget(lab, initiators=[INITIATOR]) as target:
        target.portal, target.iqn, target.lun_serial(1)
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from havirt.tools.lab import nsutil
from havirt.tools.lab.proc import LabError, Result, StartStop, all_or_nothing, run, spawn

TGTD_RUN_DIR = Path("/var/run/tgtd")
ISCSI_PORT = 3260
TARGET_HOST_INDEX = 3  # <subnet>.3: below the controller (.10) and the nodes (.11 and up)
CONTROL_PORTS = range(21000, 21900)  # tgtd -C: one per instance on this machine
IQN_PREFIX = "iqn.2026-12.test.havirt"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
REQUIRED_TOOLS = ("tgtd", "tgtadm")


class TargetLab(Protocol):
    """What the target reads of its lab (a :class:`~.lab.Lab`)."""

    name: str
    dir: Path
    switch_netns: str
    bridge: str
    subnet: ipaddress.IPv4Network


class IscsiTarget(StartStop):
    """One iSCSI target (tid 1) with ``luns`` data LUNs, each a sparse file of
    ``size_mib`` under ``<lab dir>/iscsi-<name>/``, admitting only the initiator
    names in ``initiators``. Nothing happens until :meth:`start` (or ``with``)."""

    def __init__(
        self,
        lab: TargetLab,
        initiators: Iterable[str],
        name: str = "tgt",
        luns: int = 1,
        size_mib: int = 64,
        host_index: int = TARGET_HOST_INDEX,
    ) -> None:
        if luns < 1:
            raise ValueError("a target needs at least one data LUN")
        self.lab = lab
        self.name = name
        self.initiators = list(initiators)
        self.luns = luns
        self.size_mib = size_mib
        self.address = str(lab.subnet[host_index])
        self.interface = f"{self.address}/{lab.subnet.prefixlen}"
        self.portal = f"{self.address}:{ISCSI_PORT}"  # as libvirt's pool XML and QEMU take it
        self.iqn = f"{IQN_PREFIX}:{lab.name}-{name}"
        self.dir = lab.dir / f"iscsi-{name}"
        self.control_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._address_added = False
        self._atexit_registered = False

    port = ISCSI_PORT  # every target listens on iSCSI's port, on its own address

    def __repr__(self) -> str:
        return f"<IscsiTarget {self.iqn} at {self.portal} -C {self.control_port}>"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def lun_serial(self, lun: int) -> str:
        """The unit serial number (VPD page 0x80) of data LUN ``lun``."""
        self._check_lun(lun)
        return f"HAVIRT-{self.lab.name}-{self.name}-{lun}"

    def lun_id(self, lun: int) -> str:
        """The SCSI identifier tgt builds the LUN's T10 and NAA-6 designators from."""
        self._check_lun(lun)
        return f"hv-{self.lab.name}-{self.name}-{lun}"

    def backing_file(self, lun: int) -> Path:
        self._check_lun(lun)
        return self.dir / f"lun{lun}.img"

    def _check_lun(self, lun: int) -> None:
        if not 1 <= lun <= self.luns:
            raise ValueError(f"LUN {lun} is not a data LUN of {self.iqn} (1..{self.luns})")

    # ------------------------------------------------------------ tgtadm

    def tgtadm(self, *args: str, check: bool = True) -> Result:
        """``tgtadm -C <our port> --lld iscsi ARGS`` (the control socket is a file:
        no namespace needed)."""
        if self.control_port is None:
            raise LabError(f"target {self.iqn} is not running")
        argv = ["tgtadm", "-C", str(self.control_port), "--lld", "iscsi", *args]
        return run(argv, timeout=15, check=check)

    # ------------------------------------------------------------ start / stop

    def start(self) -> IscsiTarget:
        """Start tgtd, then make the target, its LUNs and its ACL. On failure what
        was made is removed and the error re-raised."""
        self.stop()
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        all_or_nothing(self._start, self.stop)
        return self

    def _start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for lun in range(1, self.luns + 1):
            with self.backing_file(lun).open("wb") as image:
                image.truncate(self.size_mib * 2**20)  # sparse
        sw = self.lab.switch_netns
        nsutil.ip(f"-n {sw} addr add {self.interface} dev {self.lab.bridge}")
        self._address_added = True
        self._start_daemon()
        self.tgtadm("--mode", "target", "--op", "new", "--tid", "1", "--targetname", self.iqn)
        for lun in range(1, self.luns + 1):
            store = str(self.backing_file(lun))
            lun_args = ("--tid", "1", "--lun", str(lun))
            self.tgtadm("--mode", "logicalunit", "--op", "new", *lun_args, "--backing-store", store)
            params = (
                f"scsi_sn={self.lun_serial(lun)},scsi_id={self.lun_id(lun)},"
                "vendor_id=HAVIRT,product_id=LABLUN"
            )
            self.tgtadm("--mode", "logicalunit", "--op", "update", *lun_args, "--params", params)
        for initiator in self.initiators:
            self.tgtadm(
                "--mode", "target", "--op", "bind", "--tid", "1", "--initiator-name", initiator
            )

    def _start_daemon(self) -> None:
        """tgtd on a control port nobody uses: a port whose lock file a live process
        holds is skipped (socket files left by a killed tgtd do not count); a tgtd that
        never holds its lock lost a race for the port, and the next one is tried."""
        first = os.getpid() % len(CONTROL_PORTS)
        ports = [*CONTROL_PORTS[first:], *CONTROL_PORTS[:first]]
        log = self.dir / "tgtd.log"
        for port in ports[:20]:
            if lock_holder(port) is not None:
                continue
            argv = ["ip", "netns", "exec", self.lab.switch_netns, "tgtd", "-f", "-C", str(port)]
            argv += ["--iscsi", f"portal={self.portal}"]
            self._process = spawn(argv, log=log)  # ip execs tgtd: the PID is tgtd's
            self.control_port = port
            if self._wait_ready():
                return
            # Lost the port to another tgtd: its socket files are not ours to remove.
            self._kill_daemon(remove_sockets=False)
        raise LabError(f"tgtd for {self.iqn} did not start; its log: {log}")

    def _wait_ready(self) -> bool:
        """Our tgtd holds its control port's lock and answers there."""
        assert self._process is not None and self.control_port is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            holder = lock_holder(self.control_port)
            if holder is not None and holder != self._process.pid:
                return False  # another tgtd has the port
            ours = holder == self._process.pid
            if ours and self.tgtadm("--mode", "target", "--op", "show", check=False).ok:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Remove the target and everything it made. Idempotent; safe after a failed
        :meth:`start`. Only our own tgtd is signalled, by PID."""
        if self._process is not None and self._process.poll() is None:
            # tgtd ignores SIGTERM: delete the target (ending its sessions), then the system.
            self.tgtadm("--mode", "target", "--op", "delete", "--force", "--tid", "1", check=False)
            run(["tgtadm", "-C", str(self.control_port), "--mode", "system", "--op", "delete"])
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=STOP_TIMEOUT)
        self._kill_daemon()
        if self._address_added:
            sw = self.lab.switch_netns
            if sw in nsutil.netns_list():
                run(["ip", "-n", sw, "addr", "del", self.interface, "dev", self.lab.bridge])
            self._address_added = False
        if self.dir.exists():
            for entry in self.dir.iterdir():
                entry.unlink()
            self.dir.rmdir()
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False

    def _kill_daemon(self, remove_sockets: bool = True) -> None:
        """SIGKILL our tgtd if it still runs; remove its control socket files."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGKILL)  # by PID: only the one we started
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=STOP_TIMEOUT)
            self._process = None
        if self.control_port is not None and remove_sockets:
            for suffix in ("", ".lock"):
                (TGTD_RUN_DIR / f"socket.{self.control_port}{suffix}").unlink(missing_ok=True)
        self.control_port = None


def lock_holder(port: int, locks: str = "/proc/locks") -> int | None:
    """The PID holding tgtd's lock on control port ``port`` (None: nobody does)."""
    try:
        inode = (TGTD_RUN_DIR / f"socket.{port}.lock").stat().st_ino
        table = Path(locks).read_text()
    except OSError:
        return None
    for line in table.splitlines():
        # "1: POSIX  ADVISORY  WRITE <pid> <major>:<minor>:<inode> <start> <end>"; a waiter
        # for the lock is listed as "1: -> POSIX ...": never the holder.
        fields = line.split()
        if len(fields) >= 6 and fields[5].rsplit(":", 1)[-1] == str(inode) and fields[4].isdigit():
            return int(fields[4])
    return None


def missing_requirements() -> list[str]:
    """Why this machine cannot run a target (empty if it can)."""
    return [
        f"{tool} not found in PATH (Debian: apt-get install tgt)"
        for tool in REQUIRED_TOOLS
        if shutil.which(tool) is None
    ]
