"""The libvirt agents' environment: the common one plus a hypervisor factory.

``LibvirtEnv.hypervisor`` opens the agent's libvirt boundary (``agents.libvirt.boundary``,
imported only then: the monitor path must not pay for libvirt before it needs it).
The guest agent's ``GuestEnv`` has a ``GuestHost``: the node as it sees it, with the
guest's QEMU processes in /proc; the pool agent's ``PoolEnv`` a ``PoolHost``, which
also reads what is mounted. Tests build these with fakes (``connect``, a fake
host and runner) and hand them to ``dispatcher.run(agent_env=...)``.
"""

from __future__ import annotations

from havirt.agents.guest import qemu_processes
from havirt.agents.libvirt import definition_backup
from havirt.ocf.agent_env import AgentEnv
from havirt.ocf.host import Host

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable

    from havirt.agents.libvirt.protocols import Hypervisor
    from havirt.agents.pool.mountinfo import Mount
    from havirt.ocf.environment import Deadline
    from havirt.ocf.runner import Runner

    # (uri, deadline, reserve): a hypervisor whose calls end ``reserve`` s before ``deadline``
    HypervisorFactory = Callable[[str | None, Deadline, float], Hypervisor]


class GuestHost(Host):
    """The node as the guest agent sees it: the common host, plus its QEMU processes."""

    def __init__(self, proc: str = qemu_processes.PROC) -> None:
        self.proc = proc

    def qemu_processes(
        self, name: str | None, uuid: str | None
    ) -> list[qemu_processes.QemuProcess]:
        """The QEMU processes of this guest on this node (from /proc, never libvirt)."""
        return qemu_processes.find(name, uuid, self.proc)


# Where this node's libvirt keeps its configuration, and its daemons their sockets and
# pid files (storage_lease's defaults, spelled out here: the monitor must not import
# that module).
LIBVIRT_CONF_DIR = "/etc/libvirt"
RUN_DIR = "/run"


class LibvirtEnv(AgentEnv):
    """An agent's world with libvirt: ``hypervisor()`` opens a connection;
    ``backup_dir`` keeps the definitions the agent replaces; ``libvirt_conf_dir`` and
    ``run_dir`` are where the node's libvirt configuration and its daemons' sockets and
    pid files are (the guest agent's storage lease check reads them)."""

    __slots__ = ("connect", "backup_dir", "libvirt_conf_dir", "run_dir")

    def __init__(
        self,
        host: Host,
        runner: Runner,
        state_dir: str,
        connect: HypervisorFactory | None = None,
        backup_dir: str = definition_backup.BACKUP_DIR,
        libvirt_conf_dir: str = LIBVIRT_CONF_DIR,
        run_dir: str = RUN_DIR,
    ) -> None:
        super().__init__(host, runner, state_dir)
        self.connect = connect  # None: the real libvirt boundary
        self.backup_dir = backup_dir
        self.libvirt_conf_dir = libvirt_conf_dir
        self.run_dir = run_dir

    def hypervisor(self, uri: str | None, deadline: Deadline, reserve: float = 0.0) -> Hypervisor:
        """Connections to ``uri`` (None: libvirt's default) whose calls are bounded by
        ``deadline`` minus ``reserve`` seconds; opened lazily, on the first call."""
        if self.connect is not None:
            return self.connect(uri, deadline, reserve)
        from havirt.agents.libvirt.boundary import Hypervisor  # libvirt only when it is needed

        return Hypervisor(uri, deadline, reserve)


class GuestEnv(LibvirtEnv):
    """The guest agent's world: its host also finds the guest's QEMU processes."""

    __slots__ = ()
    host: GuestHost


class PoolHost(Host):
    """The node as the pool agent sees it: the common host, plus what is mounted."""

    def mounts(self) -> list[Mount]:
        """Every mount of this node (from /proc/self/mountinfo: never touches a mount)."""
        from havirt.agents.pool import mountinfo  # the guest agent's monitor does not load it

        return mountinfo.read()


class PoolEnv(LibvirtEnv):
    """The pool agent's world: its host also reads the node's mounts."""

    __slots__ = ()
    host: PoolHost  # the dispatcher builds it from the agent's host_class
