"""What start does to a pool before libvirt starts it: the definition made the
resource's (never under an active pool, the previous one kept in a file), the tools
its type needs checked, and its target directory there and answering."""

from __future__ import annotations

from havirt.agents.env import PoolEnv
from havirt.agents.libvirt import definition_backup
from havirt.agents.pool import definition, fs_check
from havirt.agents.pool.health import check_seconds
from havirt.agents.pool.wanted import definition_xml
from havirt.ocf.agent import ActionContext
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.agents.libvirt.protocols import Hypervisor
    from havirt.agents.libvirt.protocols import StoragePool as Pool

# Debian packages with the tools a pool type needs on the node.
HELPER_PACKAGES = {
    "mount.nfs": "nfs-common",
    "mount.cifs": "cifs-utils",
    "mount.glusterfs": "glusterfs-client",
    "vgchange": "lvm2",
    "iscsiadm": "open-iscsi",
}
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"


def check_tools(ctx: ActionContext, spec: definition.PoolSpec) -> None:
    """The mount helper (or LVM tool) the pool type needs must be on this node."""
    tool = None
    if spec.type == "netfs":
        tool = definition.MOUNT_HELPERS.get(spec.source_format or "nfs")
    elif spec.type == "logical":
        tool = "vgchange"
    elif spec.type == "iscsi":
        tool = "iscsiadm"  # the kernel initiator's tool (iscsi-direct needs none)
    if tool and ctx.host.which(tool, SBIN_PATH) is None:
        raise OcfError(
            OcfExit.ERR_INSTALLED,
            f"pool {spec.name} (type={spec.type}) needs {tool}, which is not installed on "
            f"this node (Debian: apt-get install {HELPER_PACKAGES[tool]})",
        )


def reconcile(ctx: ActionContext, hv: Hypervisor, pool: Pool, wanted: definition.PoolSpec) -> Pool:
    """Make libvirt's definition the wanted one: never under an active pool, and never
    without keeping the previous definition in a file."""
    defined_xml = pool.xml(inactive=True)
    try:
        diffs = definition.differences(wanted, definition.from_xml(defined_xml))
    except definition.DefinitionError as exc:
        diffs = [str(exc)]
    if not diffs:
        return pool
    what = "; ".join(diffs)
    if pool.is_active():
        raise OcfError(
            OcfExit.ERR_GENERIC,
            f"pool {pool.name} is active with a definition that differs from the "
            f"resource's ({what}): stop it (virsh pool-destroy {pool.name}) so the agent "
            "can redefine it",
        )
    env = PoolEnv.of(ctx)
    backup = definition_backup.keep(
        env.backup_dir, f"pool-{pool.name}", defined_xml, env.host.time()
    )
    ctx.log.warn(
        f"redefining pool {pool.name} as the resource says ({what}); "
        f"the previous definition is kept in {backup}"
    )
    return hv.define_pool(definition.with_uuid(definition_xml(ctx, wanted), pool.uuid))


def prepare_target(ctx: ActionContext, pool: Pool, spec: definition.PoolSpec) -> None:
    """The target directory must exist (libvirt's build makes it) and must answer."""
    if spec.type == "logical" or spec.luns:
        # /dev/<vg> appears when libvirt activates the volume group, an iscsi pool's
        # block devices when the initiator logs in; an iscsi-direct pool has no target.
        return
    check = fs_check.exists_check(ctx.runner, spec.target, check_seconds(ctx, 10.0))
    if check.ok:
        return
    if check.missing:
        ctx.log.info(f"creating the target directory {spec.target} (virsh pool-build)")
        pool.build()
        return
    raise OcfError(OcfExit.ERR_GENERIC, f"cannot start pool {spec.name}: {check.problem}")
