"""The Vagrant lab's outer host when this machine runs no libvirtd of its own.

vagrant-libvirt wants a libvirtd with a storage pool, networks (dnsmasq, NAT) and
QEMU. A machine without systemd as PID 1 (a container, a CI runner) has none running,
and starting the system's would change the machine. Here the outer host is one
:class:`~havirt.tools.lab.lab.Lab` node instead: its own network, mount and UTS
namespaces, its own libvirtd, /run, /var/lib/libvirt and /etc/libvirt, so every
network, volume and process of the Vagrant lab lives inside it and :func:`down`
removes them all. Vagrant itself runs on this machine: it reaches that libvirtd
through the node's socket (:attr:`VagrantHost.uri`) and the machines' SSH through
``ip netns exec`` (:attr:`VagrantHost.ssh_proxy`).

The machines fence each other through the outer host's libvirt (``fence_havirt``
over ``qemu+ssh://root@<the cluster network's .1>/system``): the node's sshd
listens on every address of its namespace (which are the outer host's networks
only), with a host key of its own (:attr:`VagrantHost.host_key`, which the machines
know in advance), and :func:`authorize` lets the lab's fence key in, ``restrict``ed.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from havirt.tools import userinput
from havirt.tools.errors import BadRequest, HavirtError, Refused
from havirt.tools.lab import ssh as lab_ssh
from havirt.tools.lab.control import refuse_unfit
from havirt.tools.lab.lab import DEFAULT_BASE_DIR, Lab, missing_requirements
from havirt.tools.lab.proc import LabError

LAB_NAME = "vagrant"
LOCK_DIR = "/run/lock"
KEY_LIMIT = 64 * 1024  # an OpenSSH public key is a line
NODE = "outer"
# The pool vagrant-libvirt puts the box image and the machines' disks in (inside the
# node, /var/lib/libvirt is its own: the images go with it at down()).
POOL = ("default", "/var/lib/libvirt/images")


@dataclass(frozen=True)
class VagrantHost:
    """How Vagrant and the lab's scripts reach the outer host."""

    up: bool
    uri: str  # libvirt, from this machine
    netns: str  # the outer host's network namespace
    ssh_proxy: str  # ssh ProxyCommand into that namespace (%h %p: ssh's tokens)
    host_key: str  # the public SSH host key of its sshd (fencing logs in there)
    domains: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OuterHostLab(Lab):
    """The one-node lab of the outer host: its sshd listens on every address of its
    namespace, the networks vagrant-libvirt creates later (the cluster network's .1,
    where fence_havirt connects) included."""

    def _before_power_on(self) -> None:
        node = self.nodes[NODE]
        (node.dir / "etc-ssh" / "sshd_config").write_text(lab_ssh.sshd_config("0.0.0.0"))


def _lab(base_dir: Path | str, name: str) -> OuterHostLab:
    return OuterHostLab(name, base_dir, nodes=[NODE], lock_manager=False, cache_dir=None)


def _view(lab: Lab, up: bool) -> VagrantHost:
    node = lab.nodes[NODE]
    domains: tuple[str, ...] = ()
    if up:
        listed = node.virsh("list", "--all", "--name", check=False)
        domains = tuple(line for line in listed.stdout.split() if line)
    return VagrantHost(
        up=up,
        uri=node.uri_host,
        netns=node.netns,
        # (quiet: while a machine boots, Vagrant retries and each refusal would print)
        ssh_proxy=f"ip netns exec {node.netns} busybox nc %h %p 2>/dev/null",
        host_key=str(lab.ssh.host_key(node)),
        domains=domains,
    )


def lock_file(name: str) -> Path:
    return Path(LOCK_DIR) / f"havirt-lab-{name}.lock"


@contextlib.contextmanager
def _turn(name: str) -> Iterator[None]:
    """One up or down at a time (Vagrant runs its triggers for all machines at once).
    The lock file lives in /run/lock, where such files belong: the lab's own folder
    goes at down()."""
    with open(lock_file(name), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def status(base_dir: Path | str = DEFAULT_BASE_DIR, name: str = LAB_NAME) -> VagrantHost:
    """Whether the outer host is up, and the domains its libvirtd knows. (``name``: the
    lab's name, for a second outer host beside the lab's, as the tests make.)"""
    try:
        lab = OuterHostLab.attach(name, base_dir, cache_dir=None)
    except LabError:
        return _view(_lab(base_dir, name), up=False)
    return _view(lab, up=lab.is_up())


def up(base_dir: Path | str = DEFAULT_BASE_DIR, name: str = LAB_NAME) -> VagrantHost:
    """Start the outer host unless it is up (idempotent), with its storage pool."""
    with _turn(name):
        return _up(base_dir, name)


def _up(base_dir: Path | str, name: str) -> VagrantHost:
    current = status(base_dir, name)
    if current.up:
        OuterHostLab.attach(name, base_dir, cache_dir=None).nodes[NODE].start_sshd()
        return current  # (and its sshd, should it have died, runs again)
    refuse_unfit("the Vagrant lab's outer host", missing_requirements())
    lab = _lab(base_dir, name)
    try:
        lab.up(detached=True)
        node = lab.nodes[NODE]
        pool, target = POOL
        if not node.virsh("pool-info", pool, check=False).ok:
            node.virsh("pool-define-as", pool, "dir", "--target", target)
        node.virsh("pool-build", pool, check=False)  # the folder may exist already
        node.virsh("pool-start", pool)
    except LabError as exc:
        lab.down()
        raise HavirtError(
            f"the Vagrant lab's outer host did not come up: {exc}", "see the error above"
        ) from None
    return _view(lab, up=True)


def authorize(
    public_key: Path | str, base_dir: Path | str = DEFAULT_BASE_DIR, name: str = LAB_NAME
) -> bool:
    """Let ``public_key`` log in as root on the outer host, ``restrict``ed (no terminal,
    no forwarding: libvirt's qemu+ssh needs neither); True if it was not in yet."""
    try:
        text = userinput.read_text(str(public_key), "the public key", limit=KEY_LIMIT)
    except HavirtError as exc:
        raise BadRequest(exc.message, exc.hint) from None
    key = " ".join(text.split()[:2])
    if not key.startswith(("ssh-", "ecdsa-")) or len(key.split()) != 2:
        raise BadRequest(
            f"{public_key} is not an OpenSSH public key", "name a .pub file (ssh-keygen makes one)"
        )
    current = status(base_dir, name)
    if not current.up:
        raise Refused("the Vagrant lab's outer host is down", "havirt lab vagrant-host up")
    lab = OuterHostLab.attach(name, base_dir, cache_dir=None)
    keys = lab.nodes[NODE].dir / "root-ssh" / "authorized_keys"
    lines = keys.read_text().splitlines() if keys.exists() else []
    if any(key in line for line in lines):
        return False
    lines.append(f"restrict {key} havirt-vagrant-fence")
    keys.write_text("\n".join(lines) + "\n")
    return True


def down(
    base_dir: Path | str = DEFAULT_BASE_DIR, only_if_empty: bool = False, name: str = LAB_NAME
) -> bool:
    """Take the outer host down with every domain, network and volume in it; True if it
    was up. ``only_if_empty``: leave it up while a domain is defined there (``vagrant
    destroy`` of one machine keeps the others)."""
    with _turn(name):
        return _down(base_dir, only_if_empty, name)


def _down(base_dir: Path | str, only_if_empty: bool, name: str) -> bool:
    current = status(base_dir, name)
    if not current.up and not (Path(base_dir) / name).exists():
        return False
    if only_if_empty and current.domains:
        return False
    try:
        lab: Lab = OuterHostLab.attach(name, base_dir, cache_dir=None)
    except LabError:
        lab = _lab(base_dir, name)
    lab.down()
    return True
