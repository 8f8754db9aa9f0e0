"""The checks validate runs, as data: id, title, what is compared.

Kept apart from the comparisons (:mod:`.checks`) and free of heavy imports:
``havirt --help`` and ``havirt validate --help`` read it.
"""

from __future__ import annotations


class CheckInfo:
    __slots__ = ("compares", "id", "title")

    def __init__(self, id: str, title: str, compares: str) -> None:
        self.id = id
        self.title = title
        self.compares = compares  # for --help and the docs


CONNECT = "connect"
CATALOG: tuple[CheckInfo, ...] = (
    CheckInfo(CONNECT, "SSH connection", "each node answers over SSH with a known host key"),
    CheckInfo("networks", "libvirt networks", "name, bridge, forward mode, active, autostart"),
    CheckInfo(
        "pools",
        "storage pools",
        "name, type, source (host, dir, device, format, mount options), target path, "
        "active, autostart",
    ),
    CheckInfo(
        "luns",
        "iSCSI LUNs",
        "each iSCSI pool's portal and target, and the data LUNs every node sees in it "
        "(number, capacity, VPD 0x80 serial)",
    ),
    CheckInfo(
        "ssh-trust",
        "SSH trust between nodes",
        "every node reaches every other as the migration user without a prompt "
        "(virsh -c qemu+ssh://PEER/system; ssh -o BatchMode=yes when that fails)",
    ),
    CheckInfo(
        "cpu",
        "CPU compatibility",
        "host CPU architecture, vendor, model and features (virsh capabilities)",
    ),
    CheckInfo("versions", "software versions", "libvirt, QEMU, Pacemaker and Corosync versions"),
    CheckInfo("host-uuid", "unique host UUIDs", "libvirt host UUIDs differ"),
    CheckInfo(
        "hostnames",
        "host names",
        "each node's hostname is its name; every node resolves every node name to the "
        "same, non-loopback addresses",
    ),
    CheckInfo("clock", "time sync", "clock offset of each node against the others' median"),
    CheckInfo(
        "lock-manager", "lock manager", "qemu.conf lock_manager and the lock driver's settings"
    ),
    CheckInfo(
        "memory",
        "N+1 memory",
        "the other nodes' available memory holds any one node's running guests",
    ),
    CheckInfo(
        "definitions",
        "guest definitions",
        "each node's persistent definition of a guest is the definition store's current "
        "revision; no node defines a guest the store does not know",
    ),
)
CHECK_IDS = tuple(check.id for check in CATALOG)
SKIPPABLE = tuple(i for i in CHECK_IDS if i != CONNECT)
