"""Fakes for the seams of ocf:havirt:StoragePool, shared by its unit tests.

Importable as ``pool_fakes``. The seams: the libvirt boundary (``Hypervisor``
with ``lookup_pool``/``define_pool``/``running_domains``, ``StoragePool``,
``Domain``), the host (``FakeHost``: the mount table, installed programs, the
clock), the filesystem checks' child process (``fs_check._run``: the agent's own
judging of results still runs) and the ``CommandRunner`` (umount).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from havirt.agents.libvirt.boundary import (
    NO_STORAGE_POOL,
    HypervisorError,
    HypervisorUnavailable,
)
from havirt.agents.pool import fs_check
from havirt.agents.pool.mountinfo import Mount
from havirt.agents.storage_pool import StoragePool
from havirt.ocf.runner import KILL_WAIT, TIMEOUT_RC, CommandResult
from vd_fakes import AgentHarness, FakeClock, Outcome

POOL_UUID = "3c1e4f0a-7b2d-4e9a-8c5f-0123456789ab"
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


class FakeGuest:
    def __init__(self, hv: FakePoolHypervisor, name: str, xml: str) -> None:
        self.hv = hv
        self.name = name
        self._xml = xml
        self.destroy_error: HypervisorError | None = None

    def xml(self, inactive: bool = False, secure: bool = True) -> str:
        self.hv._call("domain xml", self.name)
        return self._xml

    def destroy(self, graceful: bool = False) -> None:
        self.hv._call("destroy", self.name)
        if self.destroy_error is not None:
            raise self.destroy_error
        self.hv.guests.remove(self)


class FakePool:
    """A storage pool of the fake libvirtd; starting/stopping netfs/fs (un)mounts."""

    def __init__(self, hv: FakePoolHypervisor, xml: str, active: bool = False) -> None:
        self.hv = hv
        self.defined_xml = xml
        root = ET.fromstring(xml)
        self.name = root.findtext("name") or ""
        self.uuid = root.findtext("uuid") or POOL_UUID
        self.active = active
        self.autostart_on = False
        self.volumes: list[str] = []
        self.start_error: HypervisorError | None = None
        self.destroy_error: HypervisorError | None = None
        # What libvirt's destroy leaves mounted (an fs pool on an image file).
        self.destroy_leaves_mount = False

    @property
    def type(self) -> str:
        return ET.fromstring(self.defined_xml).get("type") or ""

    @property
    def target(self) -> str:
        return ET.fromstring(self.defined_xml).findtext("target/path") or ""

    def is_active(self) -> bool:
        self.hv._call("isActive", self.name)
        return self.active

    def is_persistent(self) -> bool:
        return True

    def autostart(self) -> bool:
        self.hv._call("autostart", self.name)
        return self.autostart_on

    def xml(self, inactive: bool = False) -> str:
        self.hv._call("pool xml", self.name)
        return self.defined_xml

    def build(self) -> None:
        self.hv._call("build", self.name)
        self.hv.fs.dirs.add(self.target)

    def start(self) -> None:
        self.hv._call("start", self.name)
        if self.start_error is not None:
            raise self.start_error
        self.active = True
        if self.type in ("netfs", "fs"):
            self.hv.mounts.append(Mount(self.target, "nfs4", "nfs1:/export/images", "rw"))

    def destroy(self) -> None:
        self.hv._call("destroy pool", self.name)
        if self.destroy_error is not None:
            raise self.destroy_error
        self.active = False
        if self.type in ("netfs", "fs") and not self.destroy_leaves_mount:
            self.hv.unmount(self.target)

    def volume_paths(self) -> list[str]:
        self.hv._call("volume_paths", self.name)
        return list(self.volumes)


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


class FakePoolHypervisor:
    def __init__(self) -> None:
        self.pools: dict[str, FakePool] = {}
        self.guests: list[FakeGuest] = []
        self.mounts: list[Mount] = []
        self.fs = FakeFs()
        self.calls: list[tuple] = []
        self.unavailable: str | None = None
        self.define_error: HypervisorError | None = None
        self.reserve = 0.0

    def _call(self, *what) -> None:
        if self.unavailable:
            raise HypervisorUnavailable(self.unavailable)
        self.calls.append(what)

    def calls_of(self, what: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == what]

    def unmount(self, target: str) -> None:
        for i in range(len(self.mounts) - 1, -1, -1):
            if self.mounts[i].mount_point == target:
                del self.mounts[i]
                return

    # set-up helpers
    def add_pool(self, xml: str | None = None, active: bool = False, **kwargs) -> FakePool:
        pool = FakePool(self, xml or pool_xml(**kwargs), active)
        self.pools[pool.name] = pool
        self.fs.dirs.add(pool.target)
        if active and pool.type in ("netfs", "fs"):
            self.mounts.append(Mount(pool.target, "nfs4", "nfs1:/export/images", "rw"))
        return pool

    def add_guest(self, name: str, xml: str) -> FakeGuest:
        guest = FakeGuest(self, name, xml)
        self.guests.append(guest)
        return guest

    # the boundary's Hypervisor API
    def lookup_pool(self, name: str) -> FakePool | None:
        self._call("lookup_pool", name)
        return self.pools.get(name)

    def define_pool(self, xml: str) -> FakePool:
        self._call("define_pool", xml)
        if self.define_error is not None:
            raise self.define_error
        old = self.pools.get(ET.fromstring(xml).findtext("name") or "")
        pool = FakePool(self, xml, active=old.active if old else False)
        self.pools[pool.name] = pool
        return pool

    def running_domains(self) -> list[FakeGuest]:
        self._call("running_domains")
        return list(self.guests)

    def close(self) -> None:
        pass


class PoolHarness(AgentHarness):
    """One node for the storage pool agent: fake libvirtd, mounts, filesystem and clock."""

    agent_class = StoragePool
    resource = "images"
    extra_env = {"OCF_RESKEY_CRM_meta_on_node": "node1"}

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, FakePoolHypervisor())
        self.runner.results["umount"] = self._umount
        self.umount_works = True
        self.hv.fs.clock = self.clock
        self.host.mounts = lambda: list(self.hv.mounts)  # libvirt's (un)mounts show here
        # The agent's filesystem checks (a child process) reach the fake filesystem.
        self.runner.scripts[os.path.abspath(fs_check.__file__)] = self.hv.fs.check

    def _umount(self, argv: tuple[str, ...]) -> CommandResult:
        if not self.umount_works:
            return CommandResult(argv, 32, "", f"umount: {argv[-1]}: target is busy.")
        self.hv.unmount(argv[-1])
        return CommandResult(argv, 0, "", "")

    def nfs(self, action: str, **kwargs) -> Outcome:
        """An action on the NFS pool the parameters define (NFS, overridable)."""
        return self.run(action, **{**NFS, **kwargs})

    def mounted(self, target: str = NFS["target_path"]) -> bool:
        return any(m.mount_point == target for m in self.hv.mounts)


def no_pool_error(name: str) -> HypervisorError:
    return HypervisorError(f"pool lookup: Storage pool not found: {name}", NO_STORAGE_POOL)
