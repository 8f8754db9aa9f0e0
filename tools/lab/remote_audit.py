"""The auditor's eyes in the VM lab: every KVM host VM's QEMU processes, streamed.

In the namespace lab all nodes share this kernel and the auditor reads their QEMU
processes from our /proc. The VM lab's hosts have kernels of their own: here each
host runs :mod:`~havirt.tools.lab.proc_dump` (sent over SSH, read by the VM's own
``python3``), which prints its QEMU processes a few times a second, and a thread per
host keeps the newest picture. :meth:`RemoteScanner.scan` is an
:data:`~havirt.tools.lab.auditor.Scanner`: hand it to an
:class:`~havirt.tools.lab.auditor.Auditor`.

A host whose stream is silent is judged by its power, asked of the outer host's
libvirt (``power_id``: the VM's domain ID while it runs, which changes at every power
on, None while it is off): a VM that is off, or was powered on again since its last
picture (a fence's reboot), runs none of the QEMU processes that picture shows (its
kernel is gone, which is what a power cut means); a VM that is on and still the same
but silent keeps its last picture, so a copy the auditor cannot see any more still
counts (a second copy started elsewhere meanwhile is a double start, never a silent
pass). How long each host was unseen is kept in :attr:`RemoteScanner.blind`.

The hosts' pictures are taken at different moments (each host samples every
``interval``, and a line takes a while to arrive): a guest live-migrated from one host
to another can look absent for a moment. An auditor of the VM lab therefore allows an
outage of :data:`SKEW` seconds where the namespace lab allows none.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import resources

from havirt.agents.guest import qemu_processes
from havirt.tools.lab.auditor import QemuCopy
from havirt.tools.lab.proc import StartStop

DUMPER = ("havirt.tools.lab", "proc_dump.py")  # sent to each host as the script to run
SKEW = 3.0  # seconds: how far apart two hosts' pictures may be (see the module doc)


@dataclass(frozen=True)
class Picture:
    """What one host said last: when we received it (monotonic), its kernel's boot
    id, its QEMU processes by guest, and the VM's domain ID on the outer host when
    the stream began (None: not asked yet)."""

    received: float
    boot: str
    copies: dict[str, list[QemuCopy]]
    power: str | None = None


def parse_line(node: str, line: str, received: float) -> Picture | None:
    """A :mod:`proc_dump` line as a :class:`Picture` (None for a line that is not one:
    a login banner, a warning)."""
    try:
        data = json.loads(line)
        procs = data["procs"]
        boot = str(data["boot"])
    except (ValueError, KeyError, TypeError):
        return None
    copies: dict[str, list[QemuCopy]] = {}
    for item in procs:
        try:
            pid, started, argv = int(item[0]), int(item[1]), [str(a) for a in item[2]]
        except (ValueError, TypeError, IndexError):
            continue
        parsed = qemu_processes.parse_cmdline(argv)
        if parsed is None or parsed[0] is None:
            continue
        copies.setdefault(parsed[0], []).append(QemuCopy(node, pid, started, "-incoming" in argv))
    return Picture(received, boot, copies)


class RemoteScanner(StartStop):
    """Streams of the hosts' QEMU processes (see the module doc).

    ``command(node, args)``: the argv that runs ``python3 - ARGS`` as root on ``node``
    with our stdin (e.g. ``ssh -F CONFIG node sudo python3 -u - ...``);
    ``power_id(node)``: the node's domain ID on the outer host, None while it is off.
    """

    def __init__(
        self,
        nodes: Sequence[str],
        command: Callable[[str, list[str]], list[str]],
        power_id: Callable[[str], str | None],
        *,
        interval: float = 0.25,
        stale_after: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nodes = list(nodes)
        self.command = command
        self.power_id = power_id
        self.interval = interval
        self.stale_after = stale_after
        self.clock = clock
        self.blind: dict[str, float] = {}
        self.reconnects: dict[str, int] = {n: 0 for n in self.nodes}
        self._pictures: dict[str, Picture] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        for node in self.nodes:
            thread = threading.Thread(target=self._follow, args=(node,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:  # only the ssh clients we started
            if proc.poll() is None:
                proc.kill()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def wait_ready(self, timeout: float) -> bool:
        """Whether every host has said something within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(n in self._pictures for n in self.nodes):
                    return True
            time.sleep(0.1)
        return False

    def _follow(self, node: str) -> None:
        """Keep a stream from ``node`` open; reconnect when it ends (a reboot)."""
        argv = self.command(node, ["--interval", str(self.interval)])
        script = resources.files(DUMPER[0]).joinpath(DUMPER[1]).read_bytes()
        while not self._stop.is_set():
            proc = subprocess.Popen(  # argv list, never a shell
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            with self._lock:
                self._procs[node] = proc
            assert proc.stdin is not None and proc.stdout is not None
            with contextlib.suppress(OSError):  # a host that is down: the stream ends
                proc.stdin.write(script)
                proc.stdin.close()
            power: str | None = None
            for raw in proc.stdout:
                if power is None:  # once per stream: which power-on this kernel is
                    power = self.power_id(node)
                self.receive(node, raw.decode("utf-8", "replace"), power)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            with self._lock:
                self.reconnects[node] += 1
            self._stop.wait(1.0)

    def receive(self, node: str, line: str, power: str | None) -> bool:
        """Take a line of ``node``'s stream, begun while its domain ID was ``power``;
        False for a line that is not a picture."""
        picture = parse_line(node, line, self.clock())
        if picture is None:
            return False
        with self._lock:
            self._pictures[node] = replace(picture, power=power)
        return True

    # ------------------------------------------------------------ the scanner

    def scan(self) -> dict[str, list[QemuCopy]]:
        """Every guest's QEMU processes on the hosts, as last seen (see the module doc)."""
        now = self.clock()
        with self._lock:
            pictures = dict(self._pictures)
        found: dict[str, list[QemuCopy]] = {}
        for node in self.nodes:
            picture = pictures.get(node)
            silent = picture is None or now - picture.received > self.stale_after
            if silent:
                power = self.power_id(node)
                if power is None or (picture is not None and power != picture.power):
                    with self._lock:
                        if self._pictures.get(node) is picture:  # not a newer one
                            self._pictures.pop(node, None)
                        self.blind.pop(node, None)
                    continue  # off, or on again since: none of those copies runs
            if picture is None:
                continue  # not seen yet: nothing to count, nor to keep
            if silent:
                self.blind[node] = now - picture.received
            for guest, copies in picture.copies.items():
                found.setdefault(guest, []).extend(copies)
        return found

    __call__ = scan


__all__ = ["DUMPER", "SKEW", "Picture", "RemoteScanner", "parse_line"]
