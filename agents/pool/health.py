"""Whether an active pool's storage answers, at a monitor depth, and the time a
filesystem check may take. No check touches the target in the agent's own process:
each runs in a child bounded by the operation's deadline (see fs_check)."""

from __future__ import annotations

from havirt.agents.env import PoolEnv
from havirt.agents.pool import fs_check, mountinfo
from havirt.agents.pool.definition import WRITABLE_TYPES, PoolSpec
from havirt.agents.pool.params import NODE_PLACEHOLDER
from havirt.ocf.agent import ActionContext
from havirt.ocf.runner import KILL_WAIT

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.agents.libvirt.protocols import StoragePool as Pool

CONTROLLER_LUN_SUFFIX = "-lun-0"  # libvirt's name for LUN 0, the target's controller


def reserve(total: float) -> float:
    """Time kept back after a filesystem check: to kill the child, report, and stay
    clear of the dispatcher's watchdog (which answers at the very end)."""
    return max(2.0, total * 0.15) + KILL_WAIT


def check_seconds(ctx: ActionContext, cap: float | None = None) -> float:
    """How long the next filesystem check may take."""
    left = ctx.deadline.remaining() - reserve(ctx.deadline.total)
    limit = ctx.params.get("check_timeout") or 0
    if limit:
        left = min(left, float(limit))
    if cap is not None:
        left = min(left, cap)
    return max(0.2, left)


def mounted_at(ctx: ActionContext, target: str) -> list[mountinfo.Mount]:
    """What this node has mounted at ``target`` (from its mountinfo), bottom first."""
    return mountinfo.mounts_at(target, PoolEnv.of(ctx).host.mounts())


def status_name(ctx: ActionContext) -> str:
    """The depth-20 check's status file name for this node."""
    node = ctx.env.node_name or ctx.host.node_name()
    template = ctx.params.get("status_file") or ".havirt-status-%n"
    return template.replace(NODE_PLACEHOLDER, node.replace("/", "_"))


def health(ctx: ActionContext, spec: PoolSpec, depth: int) -> str | None:
    """What is wrong with an active pool at this depth; None when nothing is.

    0: mounted (from mountinfo) or, for pools libvirt does not mount, the target
    exists (an iscsi-direct pool has none); 10: stat and statfs of the target; 20: a
    status file written, read back and removed (which answers all the stat would, and
    more; only where there is a filesystem to write)."""
    if spec.mounted:
        if not mounted_at(ctx, spec.target):
            return (
                f"libvirt reports the pool active, but nothing is mounted at {spec.target} "
                "(unmounted behind libvirt's back?)"
            )
    elif spec.target:
        check = fs_check.exists_check(ctx.runner, spec.target, check_seconds(ctx))
        if not check.ok:
            return check.problem
    if depth >= 20 and spec.type in WRITABLE_TYPES:
        check = fs_check.write_check(ctx.runner, spec.target, status_name(ctx), check_seconds(ctx))
    elif depth >= 10 and spec.target:
        check = fs_check.stat_check(ctx.runner, spec.target, check_seconds(ctx))
    else:
        return None
    return check.problem


def lun_problem(pool: Pool, spec: PoolSpec) -> str | None:
    """What is wrong with an active iSCSI pool's LUNs as libvirt lists them (from its
    last refresh); None when at least one data LUN is there (LUN 0 is the target's
    controller, never a guest's disk)."""
    if not spec.luns:
        return None
    data = [path for path in pool.volume_paths() if not path.endswith(CONTROLLER_LUN_SUFFIX)]
    if data:
        return None
    return (
        f"libvirt lists no data LUN of target {spec.source_device} in pool {spec.name} "
        "(does the target's ACL admit this node's initiator IQN, and has it LUNs besides "
        "LUN 0? 'virsh pool-refresh' rereads them)"
    )
