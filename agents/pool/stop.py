"""What stop does around libvirt's stop of a pool: the guests of this node that use
it refused (or, with force_stop=destroy-guests, destroyed), a hung mount detached
first, and a mount libvirt left behind unmounted after."""

from __future__ import annotations

from havirt.agents.libvirt.boundary import NO_DOMAIN, HypervisorError
from havirt.agents.pool import fs_check
from havirt.agents.pool import usage as pool_usage
from havirt.agents.pool.definition import PoolSpec
from havirt.agents.pool.health import check_seconds, mounted_at, reserve
from havirt.ocf.agent import ActionContext
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.agents.libvirt.protocols import Domain, Hypervisor
    from havirt.agents.libvirt.protocols import StoragePool as Pool

POLL = 0.25  # seconds between polls while waiting for guests to go
DETACH_CHECK = 5.0  # at most this long for stop's look at a possibly hung mount


def users(hv: Hypervisor, pool: Pool, spec: PoolSpec) -> list[tuple[Domain, list[str]]]:
    """Running guests of this node that use the pool, with what they use of it."""
    volumes = pool.volume_paths()
    found = []
    for dom in hv.running_domains():
        try:
            xml = dom.xml(secure=False)
        except HypervisorError as exc:
            if exc.code == NO_DOMAIN:
                continue  # ended since the listing
            raise
        used = pool_usage.uses(xml, pool.name, spec.target, volumes)
        if used:
            found.append((dom, used))
    return found


def release_guests(ctx: ActionContext, hv: Hypervisor, pool: Pool, spec: PoolSpec) -> None:
    """Refuse to stop (or, with force_stop=destroy-guests, destroy) guests on the pool."""
    using = users(hv, pool, spec)
    if not using:
        return
    listing = ", ".join(
        f"{dom.name} ({used[0]}{' and more' if len(used) > 1 else ''})" for dom, used in using
    )
    if spec.type == "dir":
        # Stopping a dir pool only ends libvirt's bookkeeping; the guests keep their files.
        ctx.log.warn(f"guests on this node use files of pool {pool.name}: {listing}")
        return
    if ctx.params.get("force_stop") != "destroy-guests":
        raise OcfError(
            OcfExit.ERR_GENERIC,
            f"pool {pool.name} is still used by guests running on this node: {listing}; "
            "stop or move them first (order them after the pool), or set "
            "force_stop=destroy-guests",
        )
    for dom, _used in using:
        ctx.log.warn(
            f"force_stop=destroy-guests: destroying {dom.name}, which uses pool {pool.name}"
        )
        try:
            dom.destroy()
        except HypervisorError as exc:
            ctx.log.warn(f"destroy of {dom.name}: {exc}")
    kept_back = reserve(ctx.deadline.total)
    while using := users(hv, pool, spec):
        if ctx.deadline.remaining() <= kept_back:
            names = ", ".join(dom.name for dom, _ in using)
            raise OcfError(
                OcfExit.ERR_GENERIC,
                f"pool {pool.name}: guests {names} still run after destroy",
            )
        ctx.host.sleep(POLL)


def detach_if_hung(ctx: ActionContext, spec: PoolSpec) -> None:
    """A hung mount would hang libvirt's unmount (and libvirtd's pool with it):
    detach it first, so the pool can stop within the deadline."""
    if not mounted_at(ctx, spec.target):
        return
    check = fs_check.stat_check(ctx.runner, spec.target, check_seconds(ctx, DETACH_CHECK))
    if check.ok or check.missing:
        return
    ctx.log.warn(f"{check.problem}; detaching the mount at {spec.target} (lazy unmount)")
    # No canonicalisation and no umount.<type> helper: both would touch the hung mount.
    result = ctx.runner.run(
        ["umount", "--lazy", "--no-canonicalize", "--internal-only", spec.target],
        timeout=check_seconds(ctx, 10.0),
    )
    if not result.ok:
        raise OcfError(
            OcfExit.ERR_GENERIC,
            f"pool {spec.name}: {check.problem}, and detaching it failed: {result.describe()}",
        )


def unmount_leftover(ctx: ActionContext, spec: PoolSpec) -> None:
    """libvirt may not recognise its own mount (an fs pool on an image file: the mount
    shows a loop device) and then leaves it: stop means nothing is mounted there."""
    left = mounted_at(ctx, spec.target)
    if not left:
        return
    top = left[-1]
    ctx.log.warn(
        f"libvirt stopped pool {spec.name}, but {spec.target} is still mounted "
        f"({top.fstype} {top.source}); unmounting it"
    )
    result = ctx.runner.run(
        ["umount", "--no-canonicalize", spec.target], timeout=check_seconds(ctx, 10.0)
    )
    if mounted_at(ctx, spec.target):
        raise OcfError(
            OcfExit.ERR_GENERIC,
            f"pool {spec.name} is stopped in libvirt, but {spec.target} is still mounted "
            f"({top.fstype} {top.source}): {result.describe()}",
        )
