"""SSH in the lab: an sshd per node, a lab key pair both nodes and tests use, and a
controller network namespace from which the host reaches the nodes.

Each node gets node-private copies of:

* ``/etc/ssh``: its own ed25519 host key (``ssh-keygen``), an ``sshd_config``
  listening on the node's address only (``PermitRootLogin prohibit-password``,
  keys only, no DNS, no PAM) and an empty client ``ssh_config``;
* ``/root/.ssh`` and ``/home/havirt/.ssh``: the lab's key pair, an
  ``authorized_keys`` holding its public key and a ``known_hosts`` with every
  node's host key under its name and address, so that every node reaches every
  other as root or as :data:`LAB_USER` without a prompt (what live migration over
  ``qemu+ssh://`` needs);
* ``/etc/passwd``, ``/etc/group`` and ``/etc/shadow``: the host's accounts plus
  :data:`LAB_USER`, a non-root account in the ``libvirt`` group (libvirtd's
  read-write socket is group ``libvirt`` in the lab), as admins set up a
  migration user; ``/etc/shadow`` has no password of any account (``*``: keys
  only, and an account locked on the host with ``!`` would make sshd refuse root).
  root's login shell there is ``/bin/sh``: the host admin's ``~/.bashrc`` is not
  the node's, and would run in every SSH session.

The host itself stays outside the lab's network: it never gets an address or a
route into the subnet. It reaches the nodes from the **controller**, a network
namespace ``hvl-<lab>-ctl`` with a leg on the lab's bridge and the address
``<subnet>.10`` (below the nodes' ``.11`` and up) and nothing else: run the
``ssh`` client, ``havirt validate`` or any other program there with
:meth:`LabController.exec` / :meth:`LabController.command` (``nsenter --net``;
the host's files and mounts stay visible, so the lab's key and known_hosts
files are used by path). :meth:`LabController.ssh` builds a non-interactive
``ssh`` command that trusts exactly the lab's ``known_hosts``.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import time
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network
from pathlib import Path
from typing import Protocol

from havirt.tools.lab import nsutil
from havirt.tools.lab.proc import LabError, Namespaced, Result, run

SSHD = "/usr/sbin/sshd"  # sshd must be started by its absolute path (it re-executes itself)
REQUIRED_TOOLS = ("ssh", "ssh-keygen", SSHD)
LAB_USER = "havirt"  # the non-root account in the libvirt group on every node
LIBVIRT_GROUP = "libvirt"
KEY_TYPE = "ed25519"  # fast to generate, and what a current OpenSSH prefers
SSH_PORT = 22
CONTROLLER = "ctl"  # suffix of the controller's netns, its veth name on the switch
CONTROLLER_HOST_INDEX = 10  # <subnet>.10; nodes are .11 and up
SSHD_READY_TIMEOUT = 15.0


class SshNode(Namespaced, Protocol):
    """What the lab's SSH set-up uses of a node (a :class:`~.node.LibvirtNode`): its
    ``exec`` and these."""

    name: str
    address: str
    dir: Path

    def pids(self) -> list[int]: ...


class SshLab(Protocol):
    """What the lab's SSH set-up and its controller use of a lab (a :class:`~.lab.Lab`)."""

    name: str
    dir: Path
    subnet: IPv4Network
    switch_netns: str
    bridge: str

    @property
    def nodes(self) -> Mapping[str, SshNode]: ...


def sshd_config(address: str) -> str:
    """The node's sshd_config: its own address only, keys only, no DNS, no PAM."""
    return "\n".join(
        [
            "# Written by havirt.tools.lab; node-private copy.",
            f"ListenAddress {address}:{SSH_PORT}",
            f"HostKey /etc/ssh/ssh_host_{KEY_TYPE}_key",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "StrictModes yes",
            # PAM would run pam_loginuid and friends, which fail in a namespace.
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "X11Forwarding no",
            "PidFile /run/sshd.pid",
            # `havirt validate` on 16 nodes opens many connections at once.
            "MaxStartups 100:30:200",
            "MaxSessions 50",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def known_hosts_line(names: Sequence[str], public_key: str) -> str:
    """A known_hosts line for ``public_key`` (``type base64 [comment]``) under ``names``."""
    key_type, blob = public_key.split()[:2]
    return f"{','.join(names)} {key_type} {blob}"


def generate_key(path: Path, comment: str) -> None:
    """A new ed25519 key pair at ``path`` / ``path.pub`` (no passphrase)."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".pub").unlink(missing_ok=True)
    run(
        ["ssh-keygen", "-q", "-t", KEY_TYPE, "-N", "", "-C", comment, "-f", str(path)],
        timeout=30,
        check=True,
    )


def missing_requirements() -> list[str]:
    """What the lab's SSH set-up needs beyond its tools (see lab.missing_requirements)."""
    try:
        grp.getgrnam(LIBVIRT_GROUP)
    except KeyError:
        return [f"no group {LIBVIRT_GROUP!r} (libvirt-daemon-system creates it)"]
    return []


def _free_id(taken: set[int], start: int = 2000) -> int:
    candidate = start
    while candidate in taken:
        candidate += 1
    return candidate


class LabSSH:
    """The lab-wide SSH material under ``<lab dir>/ssh`` and each node's copies of it."""

    def __init__(self, lab: SshLab) -> None:
        self.lab = lab
        self.dir = lab.dir / "ssh"

    @property
    def identity(self) -> Path:
        """The lab's private key: every node's root and :data:`LAB_USER` accept it."""
        return self.dir / f"id_{KEY_TYPE}"

    @property
    def known_hosts(self) -> Path:
        """Every node's host key, under the node's name and its address."""
        return self.dir / "known_hosts"

    def host_key(self, node: SshNode) -> Path:
        """The node's public host key (on the host's side of the node-private /etc/ssh)."""
        return node.dir / "etc-ssh" / f"ssh_host_{KEY_TYPE}_key.pub"

    def prepare(self) -> None:
        """Make the lab key, each node's host key, and every node's /etc/ssh, ~/.ssh, accounts."""
        # The mount point of every node's private /root/.ssh (harmless, as ssh itself makes it).
        os.makedirs("/root/.ssh", mode=0o700, exist_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        generate_key(self.identity, f"havirt-lab-{self.lab.name}")
        lines = []
        for node in self.lab.nodes.values():
            etc = node.dir / "etc-ssh"
            etc.mkdir(parents=True, exist_ok=True)
            generate_key(etc / f"ssh_host_{KEY_TYPE}_key", f"root@{node.name}")
            public = self.host_key(node).read_text()
            lines.append(known_hosts_line([node.name, node.address], public))
        self.known_hosts.write_text("\n".join(lines) + "\n")
        accounts = _lab_accounts()
        for node in self.lab.nodes.values():
            self._prepare_node(node, accounts)

    def _prepare_node(self, node: SshNode, accounts: Mapping[str, str]) -> None:
        etc = node.dir / "etc-ssh"
        (etc / "sshd_config").write_text(sshd_config(node.address))
        (etc / "ssh_config").write_text("# Written by havirt.tools.lab: OpenSSH defaults.\n")
        if os.path.exists("/etc/ssh/moduli"):
            shutil.copyfile("/etc/ssh/moduli", etc / "moduli")
        for name, text in accounts.items():
            (node.dir / name).write_text(text)
        os.chmod(node.dir / "shadow", 0o640)
        entry = _lab_user_entry(accounts["passwd"])
        self._install_user_ssh(node.dir / "root-ssh", 0, 0)
        home = node.dir / "home" / LAB_USER
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, entry.uid, entry.gid)
        home.chmod(0o700)
        self._install_user_ssh(home / ".ssh", entry.uid, entry.gid)

    def _install_user_ssh(self, ssh_dir: Path, uid: int, gid: int) -> None:
        ssh_dir.mkdir(parents=True, exist_ok=True)
        public = self.identity.with_name(self.identity.name + ".pub").read_text()
        files = {
            self.identity.name: self.identity.read_text(),
            self.identity.name + ".pub": public,
            "authorized_keys": public,
            "known_hosts": self.known_hosts.read_text(),
        }
        for name, text in files.items():
            path = ssh_dir / name
            path.write_text(text)
            os.chown(path, uid, gid)
            path.chmod(0o600)
        os.chown(ssh_dir, uid, gid)
        ssh_dir.chmod(0o700)


class _Entry:
    def __init__(self, uid: int, gid: int) -> None:
        self.uid, self.gid = uid, gid


def _lab_user_entry(passwd: str) -> _Entry:
    for line in passwd.splitlines():
        fields = line.split(":")
        if fields[0] == LAB_USER:
            return _Entry(int(fields[2]), int(fields[3]))
    raise LabError(f"no {LAB_USER} account in the lab's passwd")


def _passwd_line(user: pwd.struct_passwd) -> str:
    fields = list(map(str, user))
    if user.pw_uid == 0:
        # The host's root ~/.bashrc (pyenv init here, ~0.15 s) would run in every SSH
        # session on a node (Debian's bash reads it for ssh commands): not the node's.
        fields[6] = "/bin/sh"
    return ":".join(fields)


def _lab_accounts() -> dict[str, str]:
    """Node-private passwd, group and shadow: the host's accounts plus :data:`LAB_USER`."""
    users = pwd.getpwall()
    groups = grp.getgrall()
    passwd = [_passwd_line(u) for u in users if u.pw_name != LAB_USER]
    group_lines = []
    for g in groups:
        if g.gr_name == LAB_USER:
            continue
        members = list(g.gr_mem)
        if g.gr_name == LIBVIRT_GROUP:
            members.append(LAB_USER)
        group_lines.append(f"{g.gr_name}:x:{g.gr_gid}:{','.join(members)}")
    if not any(g.gr_name == LIBVIRT_GROUP for g in groups):
        raise LabError(f"no group {LIBVIRT_GROUP!r} on this machine (libvirt-daemon-system)")
    uid = _free_id({u.pw_uid for u in users} | {g.gr_gid for g in groups})
    passwd.append(f"{LAB_USER}:x:{uid}:{uid}:havirt lab migration user:/home/{LAB_USER}:/bin/sh")
    group_lines.append(f"{LAB_USER}:x:{uid}:")
    # '*': no password, not locked (sshd without PAM refuses keys for a '!' account).
    shadow = [f"{line.split(':')[0]}:*:19000:0:99999:7:::" for line in passwd]
    return {
        "passwd": "\n".join(passwd) + "\n",
        "group": "\n".join(group_lines) + "\n",
        "shadow": "\n".join(shadow) + "\n",
    }


# ---------------------------------------------------------------- sshd in a node


def sshd_pid(node: SshNode) -> int | None:
    """The PID of the node's listening sshd, if it runs."""
    try:
        pid = int((node.dir / "run" / "sshd.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid in node.pids() and nsutil.process_comm(pid) == "sshd" else None


def start_sshd(node: SshNode, timeout: float = SSHD_READY_TIMEOUT) -> None:
    """Start the node's sshd unless it runs; return once it listens (it wrote its PID file)."""
    if sshd_pid(node) is not None:
        return
    (node.dir / "run" / "sshd.pid").unlink(missing_ok=True)
    (node.dir / "run" / "sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
    node.exec([SSHD, "-E", "/var/log/sshd.log"], timeout=30, check=True)
    deadline = time.monotonic() + timeout
    while sshd_pid(node) is None:  # sshd writes the PID file after it listens
        if time.monotonic() >= deadline:
            log = node.dir / "var-log" / "sshd.log"
            tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
            raise LabError(f"sshd on {node.name} not ready after {timeout:.0f} s: {tail}")
        time.sleep(0.02)


# ---------------------------------------------------------------- the controller


class LabController(Namespaced):
    """A network namespace on the lab's switch, the host's way into the lab's network."""

    def __init__(self, lab: SshLab) -> None:
        self.lab = lab
        self.netns = f"{lab.switch_netns.rsplit('-', 1)[0]}-{CONTROLLER}"
        self.address = str(lab.subnet[CONTROLLER_HOST_INDEX])

    def __repr__(self) -> str:
        return f"<LabController {self.address} netns={self.netns}>"

    def create(self) -> None:
        """The namespace, a veth to the switch bridge, the address; no route anywhere else."""
        sw, ns = self.lab.switch_netns, self.netns
        nsutil.netns_add(ns)
        nsutil.ip(f"-n {sw} link add {CONTROLLER} type veth peer name eth0 netns {ns}")
        nsutil.ip(f"-n {sw} link set {CONTROLLER} master {self.lab.bridge} up")
        nsutil.ip(f"-n {ns} addr add {self.address}/{self.lab.subnet.prefixlen} dev eth0")
        nsutil.ip(f"-n {ns} link set eth0 up")
        nsutil.ip(f"-n {ns} link set lo up")

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed to run in the controller's netns (the host's files and mounts)."""
        return ["nsenter", f"--net={nsutil.netns_path(self.netns)}", "--", *argv]

    def ssh_options(self) -> list[str]:
        """``ssh`` options: the lab key, exactly the lab's known_hosts, never a prompt."""
        ssh = LabSSH(self.lab)
        return [
            "-F",
            "/dev/null",
            "-i",
            str(ssh.identity),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={ssh.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
        ]

    def ssh(self, node: SshNode | str, argv: Sequence[str], user: str = "root") -> list[str]:
        """The controller command running ``argv`` on ``node`` over SSH as ``user``."""
        address = node if isinstance(node, str) else node.address
        return self.command(["ssh", *self.ssh_options(), f"{user}@{address}", "--", *argv])

    def ssh_exec(
        self,
        node: SshNode | str,
        argv: Sequence[str],
        user: str = "root",
        timeout: float = 30.0,
        check: bool = False,
    ) -> Result:
        """Run ``argv`` on ``node`` over SSH from the controller and wait for it."""
        return run(self.ssh(node, argv, user), timeout=timeout, check=check)
