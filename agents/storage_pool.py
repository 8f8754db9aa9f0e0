"""ocf:havirt:StoragePool - a libvirt storage pool as a (cloned) Pacemaker resource.

start defines the pool if libvirt does not know it and starts it (for netfs and
fs pools: libvirt mounts it), stop refuses while guests on this node still use
the pool, monitor checks that the pool is active and its target mounted, and at
depth 10/20 that the storage answers. No check touches the target in the agent's
own process: a hung NFS server or FUSE daemon costs a child process that is
killed (or, if even SIGKILL cannot end it, left behind), never the answer.
"""

from __future__ import annotations

from havirt.agents.env import PoolEnv, PoolHost
from havirt.agents.libvirt import definition_backup
from havirt.agents.pool import fs_check, mountinfo
from havirt.agents.pool.definition import (
    DEFINITION_FIELDS,
    MOUNT_HELPERS,
    DefinitionError,
    PoolSpec,
    differences,
    from_params,
    from_xml,
)
from havirt.agents.pool.params import ACTIONS, NODE_PLACEHOLDER, PARAMETERS
from havirt.ocf.agent import ActionContext, ResourceAgent
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.runner import KILL_WAIT

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.agents.libvirt.protocols import Domain, Hypervisor
    from havirt.agents.libvirt.protocols import StoragePool as Pool

POLL = 0.25  # seconds between polls while waiting for guests to go
DETACH_CHECK = 5.0  # at most this long for stop's look at a possibly hung mount
# Debian packages with the tools a pool type needs on the node.
HELPER_PACKAGES = {
    "mount.nfs": "nfs-common",
    "mount.cifs": "cifs-utils",
    "mount.glusterfs": "glusterfs-client",
    "vgchange": "lvm2",
}
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"


def _reserve(total: float) -> float:
    """Time kept back after a filesystem check: to kill the child, report, and stay
    clear of the dispatcher's watchdog (which answers at the very end)."""
    return max(2.0, total * 0.15) + KILL_WAIT


class Carried:
    """What validate leaves for the action within one invocation (``ctx.state``)."""

    __slots__ = ("wanted", "pool_xml_text")

    def __init__(self) -> None:
        self.wanted: PoolSpec | None = None  # the definition the parameters ask for
        self.pool_xml_text: str | None = None  # pool_xml's text, as given


def _host(ctx: ActionContext) -> PoolHost:
    """The node as this agent sees it (its environment's, built from ``env_class``)."""
    return PoolEnv.of(ctx).host


class StoragePool(ResourceAgent):
    name = "StoragePool"
    host_class = PoolHost
    env_class = PoolEnv
    version = "1.0"
    shortdesc = "Manages a libvirt storage pool (an NFS, filesystem, directory or LVM pool)"
    longdesc = (
        "Defines (if needed), starts, stops and monitors one libvirt storage pool; meant to "
        "be cloned on every node that runs guests. For netfs (NFS, CIFS, GlusterFS) and fs "
        "pools, starting the pool is libvirt's mount and stopping it the unmount. stop "
        "refuses while guests running on this node still use files or volumes of the pool "
        "(see force_stop). Monitor depth 0 checks that the pool is active and its target "
        "mounted (from /proc/self/mountinfo), depth 10 stats the target and depth 20 writes, "
        "reads back and removes a per-node status file there; these checks run in a child "
        "process bounded by the operation timeout, so a hung mount makes the monitor fail "
        "in time instead of hanging it."
    )
    parameters = PARAMETERS
    actions = ACTIONS

    # -- helpers ---------------------------------------------------------------------
    def _hypervisor(self, ctx: ActionContext, reserve: float = 0.0) -> Hypervisor:
        uri = ctx.params.get("hypervisor") or None
        return PoolEnv.of(ctx).hypervisor(uri, ctx.deadline, reserve)

    def _wanted(self, ctx: ActionContext) -> PoolSpec | None:
        """The definition the parameters ask for; None when libvirt's own counts."""
        return ctx.carried(Carried).wanted

    def _spec(self, ctx: ActionContext, pool: Pool) -> PoolSpec:
        wanted = self._wanted(ctx)
        if wanted is not None:
            return wanted
        try:
            return from_xml(pool.xml())
        except DefinitionError as exc:
            raise OcfError(
                OcfExit.ERR_CONFIGURED, f"pool {pool.name} as libvirt defines it: {exc}"
            ) from None

    def _definition_xml(self, ctx: ActionContext, spec: PoolSpec) -> str:
        text = ctx.carried(Carried).pool_xml_text
        if text is not None:
            return text
        from havirt.agents.pool.definition import to_xml

        return to_xml(spec)

    def _check_seconds(self, ctx: ActionContext, cap: float | None = None) -> float:
        """How long the next filesystem check may take."""
        left = ctx.deadline.remaining() - _reserve(ctx.deadline.total)
        limit = ctx.params.get("check_timeout") or 0
        if limit:
            left = min(left, float(limit))
        if cap is not None:
            left = min(left, cap)
        return max(0.2, left)

    def _status_name(self, ctx: ActionContext) -> str:
        node = ctx.env.node_name or ctx.host.node_name()
        template = ctx.params.get("status_file") or ".havirt-status-%n"
        return template.replace(NODE_PLACEHOLDER, node.replace("/", "_"))

    def _not_running(self, ctx: ActionContext, why: str) -> OcfExit:
        if not ctx.env.is_probe:
            ctx.fail(why)  # a probe finding nothing is no failure: no exit reason
        return OcfExit.NOT_RUNNING

    # -- validation --------------------------------------------------------------------
    def validate(self, ctx: ActionContext) -> None:
        p = ctx.params
        if p.pool_xml:
            given = [f for f in ("type", *DEFINITION_FIELDS) if p.get(f)]
            if given:
                raise OcfError(
                    OcfExit.ERR_CONFIGURED,
                    f"parameter '{given[0]}' does not go with 'pool_xml', which defines the "
                    "whole pool: remove one of them",
                )
            from havirt.ocf.files import read_text

            text = read_text(p.pool_xml, "pool_xml file")
            try:
                spec = from_xml(text)
            except DefinitionError as exc:
                raise OcfError(
                    OcfExit.ERR_CONFIGURED, f"parameter 'pool_xml': {p.pool_xml}: {exc}"
                ) from None
            if spec.name != p.pool:
                raise OcfError(
                    OcfExit.ERR_CONFIGURED,
                    f"parameter 'pool_xml': {p.pool_xml} defines pool '{spec.name}', but "
                    f"parameter 'pool' is '{p.pool}': make them agree",
                )
            carried = ctx.carried(Carried)
            carried.wanted = spec
            carried.pool_xml_text = text
            return
        try:
            wanted = from_params(p)
        except DefinitionError as exc:
            raise OcfError(OcfExit.ERR_CONFIGURED, str(exc)) from None
        if wanted is not None:
            ctx.carried(Carried).wanted = wanted

    def validate_all(self, ctx: ActionContext) -> OcfExit:
        spec = self._wanted(ctx)
        if spec is None:
            ctx.log.info(
                f"pool {ctx.params.pool}: no definition given; the pool must be defined in "
                "libvirt on every node"
            )
            return OcfExit.SUCCESS
        self._check_tools(ctx, spec)
        return OcfExit.SUCCESS

    def _check_tools(self, ctx: ActionContext, spec: PoolSpec) -> None:
        """The mount helper (or LVM tool) the pool type needs must be on this node."""
        tool = None
        if spec.type == "netfs":
            tool = MOUNT_HELPERS.get(spec.source_format or "nfs")
        elif spec.type == "logical":
            tool = "vgchange"
        if tool and ctx.host.which(tool, SBIN_PATH) is None:
            raise OcfError(
                OcfExit.ERR_INSTALLED,
                f"pool {spec.name} (type={spec.type}) needs {tool}, which is not installed on "
                f"this node (Debian: apt-get install {HELPER_PACKAGES[tool]})",
            )

    # -- monitor ---------------------------------------------------------------------------
    def monitor(self, ctx: ActionContext) -> OcfExit:
        from havirt.agents.libvirt.boundary import HypervisorError, HypervisorUnavailable

        p = ctx.params
        depth = 0 if ctx.env.is_probe else max(ctx.env.check_level, p.monitor_depth or 0)
        # libvirt may take half the time; the filesystem checks need the rest.
        hv = self._hypervisor(ctx, reserve=ctx.deadline.total / 2)
        try:
            pool = hv.lookup_pool(p.pool)
            if pool is None:
                return self._not_running(ctx, f"pool {p.pool} is not defined on this node")
            if not pool.is_active():
                return self._not_running(ctx, f"pool {p.pool} is not active")
            spec = self._spec(ctx, pool)
        except HypervisorUnavailable as exc:
            return self._monitor_without_libvirt(ctx, depth, exc)
        except HypervisorError as exc:
            ctx.fail(f"pool {p.pool}: libvirt error: {exc}")
            return OcfExit.ERR_GENERIC
        problem = self._health(ctx, spec, depth)
        if problem:
            ctx.fail(f"pool {p.pool}: {problem}")
            return OcfExit.ERR_GENERIC
        return OcfExit.SUCCESS

    def _monitor_without_libvirt(self, ctx: ActionContext, depth: int, exc: Exception) -> OcfExit:
        """libvirtd is down or hung: the mount (or the directory) is the witness."""
        name = ctx.params.pool
        spec = self._wanted(ctx)
        if spec is None:
            ctx.fail(
                f"libvirt is unreachable ({exc}) and only libvirt knows the definition of "
                f"pool {name}: cannot tell whether it is active"
            )
            return OcfExit.ERR_GENERIC
        if spec.mounted:
            if not mountinfo.mounts_at(spec.target, _host(ctx).mounts()):
                return self._not_running(
                    ctx, f"libvirt is unreachable ({exc}) and nothing is mounted at {spec.target}"
                )
        else:
            present = fs_check.exists_check(ctx.runner, spec.target, self._check_seconds(ctx))
            if present.missing:
                return self._not_running(
                    ctx, f"libvirt is unreachable ({exc}) and {spec.target} does not exist"
                )
        ctx.log.warn(
            f"libvirt is unreachable ({exc}); {spec.target} is there, so pool {name} counts "
            "as active"
        )
        problem = self._health(ctx, spec, depth)
        if problem:
            ctx.fail(f"pool {name}: {problem}")
            return OcfExit.ERR_GENERIC
        return OcfExit.SUCCESS

    def _health(self, ctx: ActionContext, spec: PoolSpec, depth: int) -> str | None:
        """What is wrong with an active pool at this depth; None when nothing is.

        0: mounted (from mountinfo) or, for pools libvirt does not mount, the target
        exists; 10: stat and statfs of the target; 20: a status file written, read
        back and removed (which answers all the stat would, and more)."""
        if spec.mounted:
            if not mountinfo.mounts_at(spec.target, _host(ctx).mounts()):
                return (
                    f"libvirt reports the pool active, but nothing is mounted at {spec.target} "
                    "(unmounted behind libvirt's back?)"
                )
        else:
            check = fs_check.exists_check(ctx.runner, spec.target, self._check_seconds(ctx))
            if not check.ok:
                return check.problem
        if depth >= 20 and spec.type != "logical":  # an LVM pool has no filesystem to write
            check = fs_check.write_check(
                ctx.runner, spec.target, self._status_name(ctx), self._check_seconds(ctx)
            )
        elif depth >= 10:
            check = fs_check.stat_check(ctx.runner, spec.target, self._check_seconds(ctx))
        else:
            return None
        return check.problem

    # -- start -----------------------------------------------------------------------------
    def start(self, ctx: ActionContext) -> OcfExit:
        from havirt.agents.libvirt.boundary import HypervisorError

        name = ctx.params.pool
        wanted = self._wanted(ctx)
        # Keep time after libvirt's mount to verify that the storage answers.
        hv = self._hypervisor(ctx, reserve=_reserve(ctx.deadline.total))
        try:
            pool = hv.lookup_pool(name)
            if pool is None:
                if wanted is None:
                    raise OcfError(
                        OcfExit.ERR_INSTALLED,
                        f"pool {name} is not defined on this node: define it in libvirt "
                        "(virsh pool-define), or set type=... with its source and target, or "
                        "pool_xml=..., so the agent defines it",
                    )
                pool = hv.define_pool(self._definition_xml(ctx, wanted))
                ctx.log.info(
                    f"defined pool {name}: {wanted.type} {wanted.source} at {wanted.target}"
                )
            elif wanted is not None:
                pool = self._reconcile(ctx, hv, pool, wanted)
            spec = self._spec(ctx, pool)
            if pool.autostart():
                ctx.log.warn(
                    f"pool {name} has autostart enabled: libvirtd starts it at boot, before "
                    f"Pacemaker decides; disable it with 'virsh pool-autostart --disable {name}'"
                )
            if pool.is_active():
                ctx.log.info(f"pool {name} is already active")
            else:
                self._check_tools(ctx, spec)
                self._prepare_target(ctx, pool, spec)
                ctx.log.info(f"starting pool {name} ({spec.type} {spec.source} at {spec.target})")
                pool.start()
        except HypervisorError as exc:
            raise OcfError(OcfExit.ERR_GENERIC, f"cannot start pool {name}: {exc}") from None
        problem = self._health(ctx, spec, 10)
        if problem:
            raise OcfError(OcfExit.ERR_GENERIC, f"pool {name} is active, but {problem}")
        ctx.log.info(f"pool {name} is active at {spec.target}")
        return OcfExit.SUCCESS

    def _reconcile(self, ctx: ActionContext, hv: Hypervisor, pool: Pool, wanted: PoolSpec) -> Pool:
        """Make libvirt's definition the wanted one: never under an active pool, and never
        without keeping the previous definition in a file."""
        from havirt.agents.pool.definition import with_uuid

        defined_xml = pool.xml(inactive=True)
        try:
            diffs = differences(wanted, from_xml(defined_xml))
        except DefinitionError as exc:
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
        return hv.define_pool(with_uuid(self._definition_xml(ctx, wanted), pool.uuid))

    def _prepare_target(self, ctx: ActionContext, pool: Pool, spec: PoolSpec) -> None:
        """The target directory must exist (libvirt's build makes it) and must answer."""
        if spec.type == "logical":
            return  # /dev/<vg> appears when libvirt activates the volume group
        check = fs_check.exists_check(ctx.runner, spec.target, self._check_seconds(ctx, 10.0))
        if check.ok:
            return
        if check.missing:
            ctx.log.info(f"creating the target directory {spec.target} (virsh pool-build)")
            pool.build()
            return
        raise OcfError(OcfExit.ERR_GENERIC, f"cannot start pool {spec.name}: {check.problem}")

    # -- stop --------------------------------------------------------------------------------
    def stop(self, ctx: ActionContext) -> OcfExit:
        return self._stop(ctx)

    def stop_unconfigured(self, ctx: ActionContext, error: OcfError) -> OcfExit:
        # The parameters are broken, but the pool may be active: stop it as libvirt
        # defines it (the guest check still applies).
        ctx.params = self.parameter_set().parse_lenient(ctx.env.reskeys)
        if not ctx.params.get("pool"):
            return super().stop_unconfigured(ctx, error)
        ctx.state = Carried()  # forget what the broken parameters asked for
        ctx.log.info(f"stop with invalid configuration ({error.reason}); stopping as defined")
        return self._stop(ctx)

    def probe_unconfigured(self, ctx: ActionContext, error: OcfError) -> OcfExit:
        from havirt.agents.libvirt.boundary import HypervisorError

        ctx.params = self.parameter_set().parse_lenient(ctx.env.reskeys)
        name = ctx.params.get("pool")
        if not name:
            return super().probe_unconfigured(ctx, error)
        hv = self._hypervisor(ctx, reserve=_reserve(ctx.deadline.total))
        try:
            pool = hv.lookup_pool(name)
            active = pool is not None and pool.is_active()
        except HypervisorError as exc:
            ctx.fail(
                f"{error.reason}; and libvirt cannot tell whether pool {name} is active: {exc}"
            )
            return OcfExit.ERR_GENERIC
        if not active:
            return OcfExit.NOT_RUNNING
        # Tell the truth; the monitors will fail on the configuration.
        ctx.log.warn(f"{error.reason}; but pool {name} is active on this node")
        return OcfExit.SUCCESS

    def _stop(self, ctx: ActionContext) -> OcfExit:
        from havirt.agents.libvirt.boundary import HypervisorError, HypervisorUnavailable

        name = ctx.params.pool
        hv = self._hypervisor(ctx, reserve=_reserve(ctx.deadline.total))
        spec: PoolSpec | None = None
        try:
            pool = hv.lookup_pool(name)
            if pool is None:
                ctx.log.info(f"pool {name} is not defined on this node: nothing to stop")
                return OcfExit.SUCCESS
            if not pool.is_active():
                ctx.log.info(f"pool {name} is already stopped")
                return OcfExit.SUCCESS
            spec = self._spec(ctx, pool)
            self._release_guests(ctx, hv, pool, spec)
            if spec.mounted:
                self._detach_if_hung(ctx, spec)
            ctx.log.info(f"stopping pool {name}")
            pool.destroy()
        except HypervisorUnavailable as exc:
            raise OcfError(
                OcfExit.ERR_GENERIC,
                f"cannot stop pool {name}: libvirt is unreachable ({exc}), so neither the "
                "pool nor the guests using it can be checked",
            ) from None
        except HypervisorError as exc:
            hint = ""
            if spec is not None and "busy" in str(exc):
                hint = f" (to see what still uses it: fuser -vm {spec.target})"
            raise OcfError(OcfExit.ERR_GENERIC, f"cannot stop pool {name}: {exc}{hint}") from None
        if spec.mounted:
            self._unmount_leftover(ctx, spec)
        ctx.log.info(f"pool {name} stopped")
        return OcfExit.SUCCESS

    def _users(self, hv: Hypervisor, pool: Pool, spec: PoolSpec) -> list[tuple[Domain, list[str]]]:
        """Running guests of this node that use the pool, with what they use of it."""
        from havirt.agents.libvirt.boundary import NO_DOMAIN, HypervisorError
        from havirt.agents.pool import usage as pool_usage

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

    def _release_guests(
        self, ctx: ActionContext, hv: Hypervisor, pool: Pool, spec: PoolSpec
    ) -> None:
        """Refuse to stop (or, with force_stop=destroy-guests, destroy) guests on the pool."""
        from havirt.agents.libvirt.boundary import HypervisorError

        users = self._users(hv, pool, spec)
        if not users:
            return
        listing = ", ".join(
            f"{dom.name} ({used[0]}{' and more' if len(used) > 1 else ''})" for dom, used in users
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
        for dom, _used in users:
            ctx.log.warn(
                f"force_stop=destroy-guests: destroying {dom.name}, which uses pool {pool.name}"
            )
            try:
                dom.destroy()
            except HypervisorError as exc:
                ctx.log.warn(f"destroy of {dom.name}: {exc}")
        reserve = _reserve(ctx.deadline.total)
        while users := self._users(hv, pool, spec):
            if ctx.deadline.remaining() <= reserve:
                names = ", ".join(dom.name for dom, _ in users)
                raise OcfError(
                    OcfExit.ERR_GENERIC,
                    f"pool {pool.name}: guests {names} still run after destroy",
                )
            ctx.host.sleep(POLL)

    def _detach_if_hung(self, ctx: ActionContext, spec: PoolSpec) -> None:
        """A hung mount would hang libvirt's unmount (and libvirtd's pool with it):
        detach it first, so the pool can stop within the deadline."""
        if not mountinfo.mounts_at(spec.target, _host(ctx).mounts()):
            return
        check = fs_check.stat_check(ctx.runner, spec.target, self._check_seconds(ctx, DETACH_CHECK))
        if check.ok or check.missing:
            return
        ctx.log.warn(f"{check.problem}; detaching the mount at {spec.target} (lazy unmount)")
        # No canonicalisation and no umount.<type> helper: both would touch the hung mount.
        result = ctx.runner.run(
            ["umount", "--lazy", "--no-canonicalize", "--internal-only", spec.target],
            timeout=self._check_seconds(ctx, 10.0),
        )
        if not result.ok:
            raise OcfError(
                OcfExit.ERR_GENERIC,
                f"pool {spec.name}: {check.problem}, and detaching it failed: {result.describe()}",
            )

    def _unmount_leftover(self, ctx: ActionContext, spec: PoolSpec) -> None:
        """libvirt may not recognise its own mount (an fs pool on an image file: the mount
        shows a loop device) and then leaves it: stop means nothing is mounted there."""
        left = mountinfo.mounts_at(spec.target, _host(ctx).mounts())
        if not left:
            return
        top = left[-1]
        ctx.log.warn(
            f"libvirt stopped pool {spec.name}, but {spec.target} is still mounted "
            f"({top.fstype} {top.source}); unmounting it"
        )
        result = ctx.runner.run(
            ["umount", "--no-canonicalize", spec.target], timeout=self._check_seconds(ctx, 10.0)
        )
        if mountinfo.mounts_at(spec.target, _host(ctx).mounts()):
            raise OcfError(
                OcfExit.ERR_GENERIC,
                f"pool {spec.name} is stopped in libvirt, but {spec.target} is still mounted "
                f"({top.fstype} {top.source}): {result.describe()}",
            )

    # -- reload ---------------------------------------------------------------------------
    def reload_agent(self, ctx: ActionContext) -> OcfExit:
        # force_stop, monitor_depth, check_timeout and status_file are read at each action.
        # A new definition cannot be applied under running guests: say so.
        from havirt.agents.libvirt.boundary import HypervisorError

        wanted = self._wanted(ctx)
        if wanted is None:
            return OcfExit.SUCCESS
        hv = self._hypervisor(ctx)
        try:
            pool = hv.lookup_pool(ctx.params.pool)
            if pool is not None and pool.is_active():
                diffs = differences(wanted, from_xml(pool.xml(inactive=True)))
                if diffs:
                    ctx.log.warn(
                        f"pool {pool.name}: the new definition ({'; '.join(diffs)}) applies at "
                        "the next start of the resource"
                    )
        except (HypervisorError, DefinitionError) as exc:
            ctx.log.warn(f"reload: {exc}")
        return OcfExit.SUCCESS


def main() -> None:
    from havirt.ocf.dispatcher import main as dispatch

    dispatch(StoragePool)


if __name__ == "__main__":
    main()
