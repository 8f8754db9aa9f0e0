"""The parameters and actions of ocf:havirt:StoragePool, declared once.

The pool is named by ``pool``; its definition comes from one of three places:
the ``type`` and ``source_*``/``target_path`` fields (the agent defines the
pool), a pool XML file (``pool_xml``), or neither (the pool is already defined
in libvirt on every node). Cross-parameter rules live in
``pool_definition.from_params`` and the agent's ``validate``.
"""

from __future__ import annotations

from havirt.agents.guest.migration import check_uri
from havirt.agents.pool.definition import FORMATS, POOL_TYPES, check_iqn, check_options
from havirt.ocf.agent import ActionSpec, admin_actions, monitor_actions
from havirt.ocf.params import Parameter, shown

FORCE_STOP_POLICIES = ("refuse", "destroy-guests")
DEPTHS = (0, 10, 20)
NODE_PLACEHOLDER = "%n"


def _check_hypervisor(value: str) -> str | None:
    if value == "":
        return None
    problem = check_uri(value, "hypervisor")
    if problem:
        return problem
    rest = value.partition("://")[2]
    if rest and not rest.startswith("/"):
        return (
            f"{shown(value)} names a remote host; the pool is mounted on the node the agent runs "
            "on, so use that node's own libvirt (e.g. qemu:///system)"
        )
    return None


def _check_absolute(value: str) -> str | None:
    if value and not value.startswith("/"):
        return f"{shown(value)} is not an absolute path"
    return None


def _check_name(value: str) -> str | None:
    if "/" in value or any(c.isspace() or ord(c) < 32 for c in value):
        return (
            f"{shown(value)} is not a libvirt pool name (no '/', white space or control characters)"
        )
    return None


def _check_depth(value: int) -> str | None:
    if value not in DEPTHS:
        return f"{value} is not a monitor depth (use 0, 10 or 20)"
    return None


def _check_status_file(value: str) -> str | None:
    name = value.replace(NODE_PLACEHOLDER, "node")
    if not name.strip() or name in (".", "..") or "/" in name or "\0" in name:
        return (
            f"{shown(value)} is not a file name "
            f"(no '/'; {NODE_PLACEHOLDER} stands for the node name), "
            "e.g. .havirt-status-%n"
        )
    return None


def _check_options(value: str) -> str | None:
    return check_options(value) if value.strip() else None


def _check_iqn(value: str) -> str | None:
    return check_iqn(value.strip()) if value.strip() else None


_ALL_FORMATS = tuple(dict.fromkeys(f for formats in FORMATS.values() for f in formats))

PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "pool",
        "libvirt storage pool name",
        "Name of the libvirt storage pool this resource manages on every node it runs on "
        "(as in 'virsh pool-list --all').",
        required=True,
        unique=True,
        check=_check_name,
    ),
    Parameter(
        "pool_xml",
        "Pool definition file",
        "Absolute path of a libvirt pool XML definition (as 'virsh pool-dumpxml' prints it) "
        "present on every node; the pool name in it must equal 'pool'. Use it instead of "
        "'type' and the source/target fields; leave both unset when the pool is already "
        "defined in libvirt on every node.",
        check=_check_absolute,
    ),
    Parameter(
        "type",
        "Pool type",
        "Type of the pool the agent defines when libvirt does not know it yet: netfs (NFS, "
        "also CIFS or GlusterFS: mounted by libvirt), fs (a block device mounted by "
        "libvirt), dir (a directory), logical (an existing LVM volume group), iscsi-direct "
        "(the LUNs of an iSCSI target, reached through libiscsi by libvirt and QEMU: needs "
        "libvirt-daemon-driver-storage-iscsi-direct and qemu-block-extra on the node, no "
        "kernel initiator) or iscsi (the LUNs as the node's block devices: needs the kernel "
        "initiator, open-iscsi with iscsid running and the iscsi_tcp module). Leave unset "
        "to use pool_xml or an existing definition.",
        default="",
        choices=("", *POOL_TYPES),
    ),
    Parameter(
        "source_host",
        "Storage server",
        "netfs: host name or address of the NFS (CIFS, Gluster) server. iscsi-direct and "
        "iscsi: the target's portal, host or host:port (port 3260 by default; [IPv6]:port).",
    ),
    Parameter(
        "source_path",
        "Source path or device",
        "netfs: the exported directory on the server (e.g. /export/images). fs: the block "
        "device holding the filesystem (e.g. /dev/disk/by-id/...; a loop device works). Avoid "
        "an image file: libvirt does not recognise its own mount of one and leaves it mounted "
        "on stop (the agent then unmounts it itself).",
    ),
    Parameter(
        "source_name",
        "Volume group",
        "logical: the name of the existing LVM volume group.",
    ),
    Parameter(
        "source_device",
        "iSCSI target",
        "iscsi-direct and iscsi: the IQN of the iSCSI target whose LUNs are the pool's "
        "volumes (e.g. iqn.2026-01.com.example:storage1).",
        check=_check_iqn,
    ),
    Parameter(
        "initiator_iqn",
        "iSCSI initiator name",
        "iscsi-direct (required) and iscsi: the initiator IQN the node logs in with (QEMU "
        "too, for guests whose disks are volumes of the pool); the target's ACL must admit "
        "it.",
        check=_check_iqn,
    ),
    Parameter(
        "source_format",
        "Source format",
        "netfs: nfs (the default), cifs, glusterfs or auto. fs: the filesystem (ext4, xfs, "
        "...; default auto). logical: lvm2. Unset means the default, and an existing "
        "definition's format is then left as it is.",
        default="",
        choices=("", *_ALL_FORMATS),
    ),
    Parameter(
        "target_path",
        "Mount point",
        "Where the pool appears on the node: the mount point of a netfs or fs pool, the "
        "directory of a dir pool (e.g. /var/lib/libvirt/images). Must be the same path on "
        "every node for live migration, and written without symbolic links (it is matched "
        "against /proc/self/mountinfo as written). logical: /dev/<volume group> (the "
        "default). iscsi: where the LUNs' block devices appear (default /dev/disk/by-path). "
        "iscsi-direct has none. Two pools never share a target.",
        unique=True,
        check=_check_absolute,
    ),
    Parameter(
        "mount_options",
        "Extra mount options",
        "netfs and fs: comma-separated mount options added to libvirt's own "
        "(nodev,nosuid,noexec), e.g. 'vers=4.2,hard,timeo=600'.",
        default="",
        check=_check_options,
    ),
    Parameter(
        "hypervisor",
        "Hypervisor URI",
        "libvirt URI of this node's hypervisor, e.g. qemu:///system. Empty means libvirt's "
        "default URI. A remote URI is refused: the pool is mounted where the agent runs.",
        default="",
        check=_check_hypervisor,
    ),
    Parameter(
        "force_stop",
        "What stop does while guests use the pool",
        "refuse (the default): stop fails, naming the guests on this node that still use "
        "files or volumes of the pool (Pacemaker should have stopped or moved them first: "
        "order the guests after the pool). destroy-guests: power those guests off hard "
        "(virsh destroy), then stop the pool.",
        default="refuse",
        choices=FORCE_STOP_POLICIES,
        reloadable=True,
    ),
    Parameter(
        "monitor_depth",
        "Least depth of every recurring monitor",
        "Depth a recurring monitor checks at least, whatever its OCF_CHECK_LEVEL: 0 = the "
        "pool is active and its target mounted (from /proc/self/mountinfo; for dir, "
        "logical and iscsi: the target exists; for iscsi pools: libvirt lists at least one "
        "data LUN, LUN 0, the target's controller, not counted); 10 = also stat and statfs "
        "the target in a child process bounded by the timeout; 20 = write, fsync, read back "
        "and remove a per-node status file in the target instead (which answers all the "
        "stat would, and more; not for logical and iscsi pools, which have no filesystem). "
        "Probes always check depth 0.",
        type="integer",
        default="0",
        check=_check_depth,
        reloadable=True,
    ),
    Parameter(
        "check_timeout",
        "Bound of one filesystem check",
        "How long a stat or status-file check (depth 10/20, and the checks of start and "
        "stop) may take before the target counts as hung. 0 (the default) uses what is "
        "left of the operation's timeout, minus a margin to report the failure; at most "
        "86400.",
        type="integer",
        default="0",
        minimum=0,
        maximum=86400,  # longer than any operation timeout Pacemaker would wait for
        unit="seconds",
        reloadable=True,
    ),
    Parameter(
        "status_file",
        "Status file name for depth 20",
        "Name of the file the depth-20 check writes and removes in the target; %n stands "
        "for the node name, so nodes never write the same file.",
        default=".havirt-status-%n",
        check=_check_status_file,
        reloadable=True,
    ),
)

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("start", 60),
    ActionSpec("stop", 60),
    *monitor_actions(20, interval=20, deep_timeout=40),
    # Reload, not restart: a restart would stop the pool under running guests (and fail).
    *admin_actions(10),
)
