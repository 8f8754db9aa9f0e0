"""The harness of ocf:havirt:StoragePool's unit tests, and its fakes.

Importable as ``pool_fakes``. The seams: the libvirt boundary (the one fake libvirt of
tests/fakes/libvirt.py, wired here to the node's mounts and filesystem), the host
(``FakeHost``: the mount table, installed programs, the clock), the filesystem checks'
child process (``fs_check._run``: the agent's own judging of results still runs) and the
``CommandRunner`` (umount).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from fakes.libvirt import GENERATED_POOL_UUID, FakeDomain, FakeHypervisor, FakePool
from havirt.agents.libvirt.boundary import NO_STORAGE_POOL, HypervisorError
from havirt.agents.pool import fs_check
from havirt.agents.pool.mountinfo import Mount
from havirt.agents.storage_pool import StoragePool
from havirt.ocf.runner import KILL_WAIT, TIMEOUT_RC, CommandResult
from vd_fakes import AgentHarness, FakeClock, Outcome

POOL_UUID = GENERATED_POOL_UUID
NFS = {
    "pool": "images",
    "type": "netfs",
    "source_host": "nfs1",
    "source_path": "/export/images",
    "target_path": "/var/lib/libvirt/images",
}


def pool_xml(
    name: str = "images",
    pool_type: str = "netfs",
    target: str = "/var/lib/libvirt/images",
    host: str = "nfs1",
    path: str = "/export/images",
    fmt: str = "nfs",
    uuid: str | None = POOL_UUID,
) -> str:
    """A definition as ``virsh pool-dumpxml`` prints it (with libvirt's additions)."""
    source = {
        "netfs": f"<host name='{host}'/><dir path='{path}'/><format type='{fmt}'/>",
        "fs": f"<device path='{path}'/><format type='{fmt}'/>",
        "logical": f"<name>{path}</name><format type='lvm2'/>",
        "dir": "",
    }[pool_type]
    uuid_el = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (
        f"<pool type='{pool_type}'><name>{name}</name>{uuid_el}"
        "<capacity unit='bytes'>0</capacity><allocation unit='bytes'>0</allocation>"
        f"<source>{source}</source><target><path>{target}</path>"
        "<permissions><mode>0755</mode><owner>0</owner><group>0</group></permissions>"
        "</target></pool>"
    )


def guest_xml(name: str, *disks: str, volume: tuple[str, str] | None = None) -> str:
    parts = [
        f"<disk type='file' device='disk'><source file='{d}'/><target dev='vd{chr(97 + i)}'/>"
        "</disk>"
        for i, d in enumerate(disks)
    ]
    if volume:
        parts.append(
            f"<disk type='volume' device='disk'><source pool='{volume[0]}' "
            f"volume='{volume[1]}'/><target dev='vdz'/></disk>"
        )
    return f"<domain type='kvm'><name>{name}</name><devices>{''.join(parts)}</devices></domain>"


class FakeFs:
    """The filesystem as the check child would find it: per target, what a check does."""

    def __init__(self) -> None:
        self.dirs: set[str] = set()
        # target -> "hung" (times out), "stuck" (times out, cannot be killed), or an error
        self.trouble: dict[str, str] = {}
        self.checks: list[tuple[str, str, float]] = []  # (mode, target, seconds)
        self.clock: FakeClock | None = None  # advanced by the time a hung check takes

    def check(self, args: list[str], seconds: float) -> CommandResult:
        mode, target = args[0], args[1]
        self.checks.append((mode, target, seconds))
        argv = ("python", "fs_check.py", *args)
        trouble = self.trouble.get(target)
        if trouble in ("hung", "stuck"):
            if self.clock is not None:
                self.clock.sleep(seconds + (KILL_WAIT if trouble == "stuck" else 0.0))
            return CommandResult(argv, TIMEOUT_RC, "", "", timed_out=True, stuck=trouble == "stuck")
        if trouble:
            return CommandResult(argv, fs_check.FAILED, f"{trouble}\n", "")
        if target not in self.dirs:
            return CommandResult(
                argv, fs_check.MISSING, f"No such file or directory: {target}\n", ""
            )
        return CommandResult(argv, 0, "ok\n", "")

    def modes(self) -> list[str]:
        return [mode for mode, _target, _seconds in self.checks]


class PoolHarness(AgentHarness):
    """One node for the storage pool agent: fake libvirtd, mounts, filesystem and clock."""

    agent_class = StoragePool
    resource = "images"
    extra_env = {"OCF_RESKEY_CRM_meta_on_node": "node1"}

    hv: FakeHypervisor

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, FakeHypervisor())
        self.mounts: list[Mount] = []
        self.fs = FakeFs()
        self.runner.results["umount"] = self._umount
        self.umount_works = True
        self.fs.clock = self.clock
        self.host.mounts = lambda: list(self.mounts)  # libvirt's (un)mounts show here
        # What libvirt does on this node when it starts, stops or builds a pool.
        self.hv.on_pool_started = self._mount
        self.hv.on_pool_stopped = self._pool_stopped
        self.hv.on_pool_built = lambda pool: self.fs.dirs.add(pool.target)
        # The agent's filesystem checks (a child process) reach the fake filesystem.
        self.runner.scripts[os.path.abspath(fs_check.__file__)] = self.fs.check

    def _mount(self, pool: FakePool) -> None:
        if pool.type in ("netfs", "fs"):
            self.mounts.append(Mount(pool.target, "nfs4", "nfs1:/export/images", "rw"))

    def _pool_stopped(self, pool: FakePool) -> None:
        if pool.type in ("netfs", "fs") and not pool.destroy_leaves_mount:
            self.unmount(pool.target)

    def unmount(self, target: str) -> None:
        for i in range(len(self.mounts) - 1, -1, -1):
            if self.mounts[i].mount_point == target:
                del self.mounts[i]
                return

    def _umount(self, argv: tuple[str, ...]) -> CommandResult:
        if not self.umount_works:
            return CommandResult(argv, 32, "", f"umount: {argv[-1]}: target is busy.")
        self.unmount(argv[-1])
        return CommandResult(argv, 0, "", "")

    # set-up
    def add_pool(self, xml: str | None = None, active: bool = False, **kwargs: str) -> FakePool:
        """A pool libvirt knows (its target directory exists; an active one is mounted)."""
        pool = self.hv.add_pool(xml or pool_xml(**kwargs), active)
        self.fs.dirs.add(pool.target)
        if active:
            self._mount(pool)
        return pool

    def add_guest(self, name: str, xml: str) -> FakeDomain:
        """A guest running on this node."""
        return self.hv.add(name, str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), xml=xml)

    def nfs(self, action: str, **kwargs) -> Outcome:
        """An action on the NFS pool the parameters define (NFS, overridable)."""
        return self.run(action, **{**NFS, **kwargs})

    def mounted(self, target: str = NFS["target_path"]) -> bool:
        return any(m.mount_point == target for m in self.mounts)


def no_pool_error(name: str) -> HypervisorError:
    return HypervisorError(f"pool lookup: Storage pool not found: {name}", NO_STORAGE_POOL)
