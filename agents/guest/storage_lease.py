"""Is this node's libvirt set up to hold storage leases on a guest's disks?

libvirt's lock manager (``lock_manager = "lockd"`` in qemu.conf, served by the
virtlockd daemon) takes a lease on every writable disk before a guest's CPUs
start and holds it while the guest runs; a second start of the same disks on
another host sharing the lockspace then fails with "resource busy". libvirt
has no API that tells whether a lock manager is active, so this module reads
what the daemon reads and asks the lock daemon itself:

* ``lock_manager`` in ``/etc/libvirt/qemu.conf`` (libvirtd and virtqemud read
  that file when they start);
* the lock manager's own file (``qemu-lockd.conf``, ``qemu-sanlock.conf``):
  are disk leases automatic, or does the guest declare ``<lease>`` elements;
  is there an indirect lockspace for block devices (locks on /dev nodes do not
  reach other hosts);
* the lock daemon's socket: it must accept a connection (a socket left behind
  by a dead daemon refuses), within a short timeout;
* a configuration file newer than the running libvirt daemon is reported: the
  daemon still runs with the settings it read at its start.

Used by start, migrate_from and validate-all only (:func:`require`, what the
require_storage_lease parameter asks); monitor never imports it.
"""

from __future__ import annotations

import os

from havirt.agents.env import GuestEnv
from havirt.agents.guest.params import lease_requirement
from havirt.ocf.agent import ActionContext
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.host import Host
from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: keep the agent's imports lean

if TYPE_CHECKING:
    from collections.abc import Iterable

    from havirt.agents.guest.domain_config import DomainConfig

CONF_DIR = "/etc/libvirt"
RUN_DIR = "/run"


class LockManager(Record):
    name: str
    daemon: str
    socket: str  # under RUN_DIR
    auto_disk_leases: bool  # libvirt's default when the manager's file does not say


MANAGERS = {
    "lockd": LockManager("lockd", "virtlockd", "libvirt/virtlockd-sock", True),
    "sanlock": LockManager("sanlock", "sanlock", "sanlock/sanlock.sock", False),
}
# The daemons that read qemu.conf: the monolithic one, or the modular QEMU driver.
LIBVIRT_DAEMONS = (("virtqemud", "virtqemud.pid"), ("libvirtd", "libvirtd.pid"))


class LeaseCheck(Record):
    """What the node offers: ``problem`` is None when the guest's disks get leases."""

    _defaults = {"warnings": ()}
    manager: str | None  # the lock manager qemu.conf names (None: none, libvirt's "nop")
    problem: str | None  # why the guest's disks would run without a lease
    summary: str  # one line for the log when all is well
    warnings: tuple[str, ...]

    @property
    def protected(self) -> bool:
        return self.problem is None


def is_local_system_uri(uri: str | None) -> bool:
    """True for the URIs whose daemon reads this node's /etc/libvirt/qemu.conf."""
    if not uri:
        return True  # libvirt's default: the local system daemon, as Pacemaker runs us as root
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in ("qemu", "qemu+unix"):
        return False
    authority, _, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    return host in ("", "localhost") and path.split("?", 1)[0].rstrip("/") == "system"


def _unquote(text: str) -> str | int | None:
    text = text.strip()
    if text[:1] in ('"', "'"):
        end = text.find(text[0], 1)
        return text[1:end] if end > 0 else None
    word = text.split("#", 1)[0].strip()
    try:
        return int(word)
    except ValueError:
        return None


def read_conf(path: str, names: Iterable[str]) -> dict[str, str | int]:
    """The scalar settings ``names`` of a libvirt config file ({} if it does not exist).

    libvirt's format is ``name = value`` lines, ``#`` comments, strings in
    quotes, integers, and lists in brackets (which may span lines; skipped)."""
    wanted = set(names)
    found: dict[str, str | int] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.readlines()
    except FileNotFoundError:
        return found
    for line in lines:
        name, eq, value = line.partition("=")
        name = name.strip()
        if eq and name in wanted:
            parsed = _unquote(value)
            if parsed is not None:
                found.setdefault(name, parsed)  # libvirt reads the first of duplicates
    return found


def _socket_problem(manager: LockManager, timeout: float, host: Host, run_dir: str) -> str | None:
    path = os.path.join(run_dir, manager.socket)
    try:
        host.connect_unix(path, timeout)
    except FileNotFoundError:
        return f"{manager.daemon} is not running (no socket {path})"
    except OSError as exc:
        return f"{manager.daemon} does not answer on {path} ({exc.strerror or exc})"
    return None


def _stale_daemon_warning(conf_paths: Iterable[str], host: Host, run_dir: str) -> str | None:
    """A libvirt daemon that started before its configuration last changed."""
    for daemon, pidfile in LIBVIRT_DAEMONS:
        try:
            with open(os.path.join(run_dir, pidfile), encoding="ascii") as handle:
                pid = int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if host.process_name(pid) != daemon:
            continue  # a stale pid file
        started = host.process_started(pid)
        if started is None:
            return None
        for path in conf_paths:
            try:
                changed = os.stat(path).st_mtime
            except OSError:
                continue
            if changed > started + 1.0:
                return (
                    f"{path} changed after {daemon} (pid {pid}) started: it still runs with "
                    f"the old lock manager settings; restart {daemon} to apply them"
                )
        return None
    return None


def inspect(
    block_disks: Iterable[str] = (),
    has_leases: bool = False,
    timeout: float = 2.0,
    host: Host | None = None,
    conf_dir: str = CONF_DIR,
    run_dir: str = RUN_DIR,
) -> LeaseCheck:
    """How this node's libvirt would protect a guest's disks.

    ``block_disks``: the guest's writable block-device disks; ``has_leases``:
    whether its definition declares ``<lease>`` elements; ``timeout``: for the
    lock daemon to accept a connection; ``host``: the node's processes and sockets
    (the agent's ``ctx.host``); ``conf_dir`` and ``run_dir``: where libvirt's
    configuration, and its daemons' sockets and pid files, are."""
    host = Host() if host is None else host
    qemu_conf = os.path.join(conf_dir, "qemu.conf")
    try:
        name = read_conf(qemu_conf, ("lock_manager",)).get("lock_manager")
    except OSError as exc:
        return LeaseCheck(None, f"cannot read {qemu_conf}: {exc.strerror or exc}", "")
    if name in (None, "", "nop"):
        return LeaseCheck(
            None,
            f"this node's libvirt has no lock manager (lock_manager is not set in {qemu_conf})",
            "",
        )
    manager = MANAGERS.get(str(name))
    if manager is None:
        return LeaseCheck(
            str(name), f"{qemu_conf} names an unknown lock manager '{name}' (use lockd)", ""
        )
    manager_conf = os.path.join(conf_dir, f"qemu-{manager.name}.conf")
    try:
        settings = read_conf(
            manager_conf,
            ("auto_disk_leases", "file_lockspace_dir", "lvm_lockspace_dir", "scsi_lockspace_dir"),
        )
    except OSError as exc:
        return LeaseCheck(manager.name, f"cannot read {manager_conf}: {exc.strerror or exc}", "")
    warning = _stale_daemon_warning((qemu_conf, manager_conf), host, run_dir)
    warnings = (warning,) if warning else ()
    problem = _socket_problem(manager, timeout, host, run_dir)
    auto = bool(settings.get("auto_disk_leases", int(manager.auto_disk_leases)))
    lockspace = settings.get("file_lockspace_dir")
    if problem is None and not auto and not has_leases:
        problem = (
            f"auto_disk_leases is off in {manager_conf} and the guest declares no <lease>: "
            "its disks would get no lease"
        )
    if problem is None and manager.name == "lockd" and not lockspace:
        direct = [d for d in block_disks if d.startswith("/dev/")]
        if direct and not (settings.get("lvm_lockspace_dir") or settings.get("scsi_lockspace_dir")):
            problem = (
                f"disk {direct[0]} is a block device and {manager_conf} sets no "
                "file_lockspace_dir: locks on /dev nodes do not reach other hosts"
            )
    if problem is not None:
        return LeaseCheck(manager.name, problem, "", warnings)
    where = f"lockspace {lockspace}" if lockspace else "locks on the disk files themselves"
    summary = f"storage leases by {manager.name} ({manager.daemon} answers; {where})"
    return LeaseCheck(manager.name, None, summary, warnings)


def require(ctx: ActionContext, config: DomainConfig) -> LeaseCheck | None:
    """Raise ERR_INSTALLED when this node cannot give the guest's disks the storage
    leases that require_storage_lease asks for; warn where they are optional and
    missing. Returns what was found (None when not checked)."""
    mode = lease_requirement(ctx.params.get("require_storage_lease"))
    if mode == "false":
        return None
    if not is_local_system_uri(ctx.params.get("hypervisor")):
        if mode == "true":
            raise OcfError(
                OcfExit.ERR_CONFIGURED,
                "require_storage_lease=true needs a local qemu:///system hypervisor: the "
                "lock manager is read from this node's libvirt configuration",
            )
        return None
    env = GuestEnv.of(ctx)
    found = inspect(
        config.block_disks,
        config.has_leases,
        min(2.0, ctx.deadline.remaining() / 4),
        env.host,
        env.libvirt_conf_dir,
        env.run_dir,
    )
    for warning in found.warnings:
        ctx.log.warn(warning)
    if found.protected:
        return found
    if found.manager is None and mode == "auto":
        ctx.log.warn(
            f"{config.name} runs without storage leases on this node: {found.problem}; "
            "a second copy on another node would not be refused by libvirt"
        )
        return found
    why = "require_storage_lease=true" if mode == "true" else "this node uses a lock manager"
    raise OcfError(
        OcfExit.ERR_INSTALLED,
        f"{config.name} needs storage leases on its disks ({why}), but {found.problem}",
    )
