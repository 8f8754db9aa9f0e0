"""The Vagrant lab (``vagrant/``) as the outer host sees it, for its scenarios.

:class:`VagrantLab` runs ``vagrant up``/``destroy`` in the lab's folder, reaches each
machine's root over SSH (one ``vagrant ssh-config`` written once, then plain ``ssh``,
which is seconds faster than ``vagrant ssh`` per call), asks the outer host's libvirt
about the machines' power and cuts it (``virsh destroy``), and makes the auditor's
:class:`~havirt.tools.lab.remote_audit.RemoteScanner` for the KVM hosts.

The outer host's libvirt is the namespace outer host's
(:mod:`~havirt.tools.lab.vagrant_host`) when it is up, else this machine's
``qemu:///system``. The lab's settings (domain prefix, cluster network) are read from
``vagrant/settings*.env`` and the environment, as the Vagrantfile reads them
(:mod:`~havirt.tools.lab.vagrant_settings`).
"""

from __future__ import annotations

import re
import shlex
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from havirt.tools.lab import vagrant_host, vagrant_settings
from havirt.tools.lab.proc import LabError, Result, run
from havirt.tools.lab.remote_audit import RemoteScanner

KVM_HOSTS = ("hv1", "hv2", "hv3")
# Where Vagrant keeps the lab's box and plugins state unless VAGRANT_HOME says otherwise
# (docs/vagrant-lab.md): kept apart from root's own ~/.vagrant.d.
DEFAULT_VAGRANT_HOME = "/var/cache/havirt-vmlab/vagrant.d"
SSH_OPTIONS = (
    "-o", "BatchMode=yes",
    "-o", "ConnectTimeout=10",
    # a stream from a host that lost power ends after ~9 s instead of never
    "-o", "ServerAliveInterval=3",
    "-o", "ServerAliveCountMax=3",
    "-o", "LogLevel=ERROR",
)  # fmt: skip


# Where `vagrant up`'s minutes go: the last line of the log matching each step's
# pattern marks its end (every machine booted, every KVM host prepared, ...).
UP_STEPS = (
    ("machines booted, SSH up", re.compile(r"==> \S+: Machine booted and ready!")),
    ("storage exporting NFS", re.compile(r"havirt-vagrant\[storage\]: exported ")),
    ("KVM hosts prepared", re.compile(r"havirt-vagrant\[hv\d+\]: host prepared")),
    ("havirt validate passed", re.compile(r"every check passed")),
    ("guests' files made, cluster stack started", re.compile(r"waiting for \d+ nodes online")),
    ("cluster ready", re.compile(r"havirt-vagrant\[\S+\]: cluster ready")),
)
_STAMP = re.compile(r"(\d\d):(\d\d):(\d\d) ")


def up_steps(log: str) -> dict[str, float]:
    """Seconds from the start of a `vagrant up` log (its lines stamped by
    :meth:`VagrantLab.vagrant`) until each of :data:`UP_STEPS` ended, for the steps
    the log shows."""
    start: int | None = None
    ends: dict[str, float] = {}
    day = 0
    last = 0
    for line in log.splitlines():
        stamp = _STAMP.match(line)
        if stamp is None:
            continue
        hours, minutes, seconds = (int(g) for g in stamp.groups())
        now = hours * 3600 + minutes * 60 + seconds + day
        if now < last:  # past midnight
            day += 86400
            now += 86400
        last = now
        if start is None:
            start = now
        for name, pattern in UP_STEPS:
            if pattern.search(line):
                ends[name] = float(now - start)
    return {name: ends[name] for name, _ in UP_STEPS if name in ends}


class VagrantLab:
    """The machines of ``vagrant/`` (see the module doc). ``env``: what Vagrant gets
    besides ours (``VAGRANT_HOME``); ``settings``: the lab's, as
    :func:`~havirt.tools.lab.vagrant_settings.read` gives them."""

    def __init__(
        self, folder: Path, settings: Mapping[str, str], env: Mapping[str, str] | None = None
    ) -> None:
        self.folder = folder
        self.settings = dict(settings)
        self.env = dict(env or {})
        self.ssh_config = folder / ".vagrant" / "havirt-ssh-config"
        self._power: dict[str, tuple[float, str | None]] = {}
        self._power_lock = threading.Lock()

    @classmethod
    def from_environment(cls, folder: Path, environ: Mapping[str, str]) -> VagrantLab:
        """The lab in ``folder`` as ``vagrant`` run with ``environ`` sees it."""
        home = environ.get("VAGRANT_HOME") or DEFAULT_VAGRANT_HOME
        return cls(folder, vagrant_settings.read(folder, environ), {"VAGRANT_HOME": home})

    def address(self, machine: str) -> str:
        """``machine``'s address on the lab's cluster network."""
        return vagrant_settings.cluster_address(self.settings, machine)

    # ------------------------------------------------------------ vagrant

    def vagrant(self, *args: str, timeout: float = 600.0, log: Path | None = None) -> Result:
        argv = ["vagrant", *args]
        if log is None:
            return run(argv, cwd=self.folder, env=self.env, timeout=timeout)
        # Each line stamped with the time it came (where `vagrant up`'s minutes go).
        command = (
            "set -o pipefail; "
            + " ".join(shlex.quote(a) for a in argv)
            + ' 2>&1 | while IFS= read -r line; do printf "%(%T)T %s\\n" -1 "$line"; done'
            + f" >>{shlex.quote(str(log))}"
        )
        return run(["bash", "-c", command], cwd=self.folder, env=self.env, timeout=timeout)

    def up(self, log: Path, timeout: float = 3600.0) -> Result:
        self.ssh_config.unlink(missing_ok=True)
        return self.vagrant("up", "--no-tty", timeout=timeout, log=log)

    def destroy(self, log: Path | None = None) -> Result:
        return self.vagrant("destroy", "-f", timeout=900.0, log=log)

    def write_ssh_config(self) -> None:
        result = self.vagrant("ssh-config", timeout=120.0)  # every machine
        if not result.ok:
            raise LabError("vagrant ssh-config: " + result.describe())
        self.ssh_config.parent.mkdir(parents=True, exist_ok=True)
        self.ssh_config.write_text(result.stdout)

    # ------------------------------------------------------------ the machines

    def ssh_argv(self, node: str, remote: Sequence[str]) -> list[str]:
        """ssh to ``node`` running ``remote`` (a shell command line, quoted here) as root."""
        if not self.ssh_config.exists():
            self.write_ssh_config()
        line = " ".join(shlex.quote(a) for a in remote)
        return ["ssh", "-F", str(self.ssh_config), *SSH_OPTIONS, node, f"sudo {line}"]

    def root(self, node: str, script: str, timeout: float = 120.0, check: bool = False) -> Result:
        """Run the shell ``script`` as root on ``node``."""
        result = run(self.ssh_argv(node, ["sh", "-c", script]), timeout=timeout)
        if check and not result.ok:
            raise LabError(f"{node}: {result.describe()}")
        return result

    def crm_mon_xml(self, node: str = "hv1", timeout: float = 60.0) -> str:
        return self.root(node, "crm_mon -1 --output-as xml", timeout=timeout, check=True).stdout

    # ------------------------------------------------------------ the outer host

    def outer_uri(self) -> str:
        host = vagrant_host.status()
        return host.uri if host.up else "qemu:///system"

    def virsh(self, *args: str, timeout: float = 60.0) -> Result:
        return run(["virsh", "-c", self.outer_uri(), *args], timeout=timeout)

    def domain(self, node: str) -> str:
        return self.settings[vagrant_settings.PREFIX + "PREFIX"] + node

    def power_id(self, node: str, max_age: float = 1.0) -> str | None:
        """``node``'s domain ID on the outer host while its VM is on (a new one at every
        power on), None while it is off (``virsh domid``; cached ``max_age`` s). When
        the outer host cannot say, "?" (on, unknown: the auditor then keeps what it
        last saw there)."""
        now = time.monotonic()
        with self._power_lock:
            cached = self._power.get(node)
            if cached and now - cached[0] < max_age:
                return cached[1]
        result = self.virsh("domid", self.domain(node), timeout=30.0)
        answer = result.stdout.strip()
        power: str | None = answer if result.ok and answer.isdigit() else "?"
        if result.ok and answer == "-":
            power = None
        with self._power_lock:
            self._power[node] = (time.monotonic(), power)
        return power

    def powered(self, node: str, max_age: float = 1.0) -> bool:
        return self.power_id(node, max_age) is not None

    def power_cut(self, node: str) -> None:
        """Pull ``node``'s plug: its domain destroyed, its kernel gone at once."""
        result = self.virsh("destroy", self.domain(node))
        if not result.ok:
            raise LabError(f"power cut of {node}: {result.describe()}")
        with self._power_lock:
            self._power.pop(node, None)

    def running_domains(self) -> list[str]:
        result = self.virsh("list", "--name")
        mine = {self.domain(n) for n in vagrant_settings.HOST_OCTETS}
        return [n for n in result.stdout.split() if n in mine] if result.ok else []

    # ------------------------------------------------------------ the auditor

    def scanner(self, nodes: Sequence[str] = KVM_HOSTS, interval: float = 0.25) -> RemoteScanner:
        """The auditor's eyes on the KVM hosts (start it, or use it in ``with``)."""

        def command(node: str, args: list[str]) -> list[str]:
            return self.ssh_argv(node, ["python3", "-u", "-", *args])

        return RemoteScanner(nodes, command, self.power_id, interval=interval)


__all__ = ["DEFAULT_VAGRANT_HOME", "KVM_HOSTS", "UP_STEPS", "VagrantLab", "up_steps"]
