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
from havirt.agents.pool import fs_check
from havirt.agents.pool.definition import DefinitionError, PoolSpec, differences, from_xml
from havirt.agents.pool.health import check_seconds, health, lun_problem, mounted_at, reserve
from havirt.agents.pool.params import ACTIONS, PARAMETERS
from havirt.agents.pool.wanted import Carried, carry_wanted, definition_xml, spec_of, wanted_spec
from havirt.ocf.agent import ActionContext, ResourceAgent
from havirt.ocf.dispatcher import entry_point
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.agents.libvirt.protocols import Hypervisor


class StoragePool(ResourceAgent):
    name = "StoragePool"
    host_class = PoolHost
    env_class = PoolEnv
    version = "1.0"
    shortdesc = "Manages a libvirt storage pool (an NFS, filesystem, directory, LVM or iSCSI pool)"
    longdesc = (
        "Defines (if needed), starts, stops and monitors one libvirt storage pool; meant to "
        "be cloned on every node that runs guests. For netfs (NFS, CIFS, GlusterFS) and fs "
        "pools, starting the pool is libvirt's mount and stopping it the unmount. stop "
        "refuses while guests running on this node still use files or volumes of the pool "
        "(see force_stop). Monitor depth 0 checks that the pool is active and its target "
        "mounted (from /proc/self/mountinfo), depth 10 stats the target and depth 20 writes, "
        "reads back and removes a per-node status file there; these checks run in a child "
        "process bounded by the operation timeout, so a hung mount makes the monitor fail "
        "in time instead of hanging it. iSCSI pools (iscsi-direct: through libiscsi, no "
        "kernel initiator; iscsi: through the kernel initiator) are active when libvirt "
        "lists at least one data LUN of the target."
    )
    parameters = PARAMETERS
    actions = ACTIONS

    # -- helpers ---------------------------------------------------------------------
    def _hypervisor(self, ctx: ActionContext, reserve: float = 0.0) -> Hypervisor:
        uri = ctx.params.get("hypervisor") or None
        return PoolEnv.of(ctx).hypervisor(uri, ctx.deadline, reserve)

    def _not_running(self, ctx: ActionContext, why: str) -> OcfExit:
        if not ctx.env.is_probe:
            ctx.fail(why)  # a probe finding nothing is no failure: no exit reason
        return OcfExit.NOT_RUNNING

    # -- validation --------------------------------------------------------------------
    def validate(self, ctx: ActionContext) -> None:
        carry_wanted(ctx)

    def validate_all(self, ctx: ActionContext) -> OcfExit:
        spec = wanted_spec(ctx)
        if spec is None:
            ctx.log.info(
                f"pool {ctx.params.pool}: no definition given; the pool must be defined in "
                "libvirt on every node"
            )
            return OcfExit.SUCCESS
        from havirt.agents.pool.start import check_tools

        check_tools(ctx, spec)
        return OcfExit.SUCCESS

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
            spec = spec_of(ctx, pool)
            luns = lun_problem(pool, spec)
        except HypervisorUnavailable as exc:
            return self._monitor_without_libvirt(ctx, depth, exc)
        except HypervisorError as exc:
            ctx.fail(f"pool {p.pool}: libvirt error: {exc}")
            return OcfExit.ERR_GENERIC
        problem = health(ctx, spec, depth) or luns
        if problem:
            ctx.fail(f"pool {p.pool}: {problem}")
            return OcfExit.ERR_GENERIC
        return OcfExit.SUCCESS

    def _monitor_without_libvirt(self, ctx: ActionContext, depth: int, exc: Exception) -> OcfExit:
        """libvirtd is down or hung: the mount (or the directory) is the witness."""
        name = ctx.params.pool
        spec = wanted_spec(ctx)
        if spec is None or not spec.target:
            known = "the definition of" if spec is None else "the state of the iscsi-direct"
            ctx.fail(
                f"libvirt is unreachable ({exc}) and only libvirt knows {known} "
                f"pool {name}: cannot tell whether it is active"
            )
            return OcfExit.ERR_GENERIC
        if spec.mounted:
            if not mounted_at(ctx, spec.target):
                return self._not_running(
                    ctx, f"libvirt is unreachable ({exc}) and nothing is mounted at {spec.target}"
                )
        else:
            present = fs_check.exists_check(ctx.runner, spec.target, check_seconds(ctx))
            if present.missing:
                return self._not_running(
                    ctx, f"libvirt is unreachable ({exc}) and {spec.target} does not exist"
                )
        ctx.log.warn(
            f"libvirt is unreachable ({exc}); {spec.target} is there, so pool {name} counts "
            "as active"
        )
        problem = health(ctx, spec, depth)
        if problem:
            ctx.fail(f"pool {name}: {problem}")
            return OcfExit.ERR_GENERIC
        return OcfExit.SUCCESS

    # -- start -----------------------------------------------------------------------------
    def start(self, ctx: ActionContext) -> OcfExit:
        from havirt.agents.libvirt.boundary import HypervisorError
        from havirt.agents.pool.start import check_tools, prepare_target, reconcile

        name = ctx.params.pool
        wanted = wanted_spec(ctx)
        # Keep time after libvirt's mount to verify that the storage answers.
        hv = self._hypervisor(ctx, reserve=reserve(ctx.deadline.total))
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
                pool = hv.define_pool(definition_xml(ctx, wanted))
                ctx.log.info(f"defined pool {name}: {wanted.type} {wanted.source} {wanted.where}")
            elif wanted is not None:
                pool = reconcile(ctx, hv, pool, wanted)
            spec = spec_of(ctx, pool)
            if pool.autostart():
                ctx.log.warn(
                    f"pool {name} has autostart enabled: libvirtd starts it at boot, before "
                    f"Pacemaker decides; disable it with 'virsh pool-autostart --disable {name}'"
                )
            if pool.is_active():
                ctx.log.info(f"pool {name} is already active")
            else:
                check_tools(ctx, spec)
                prepare_target(ctx, pool, spec)
                ctx.log.info(f"starting pool {name} ({spec.type} {spec.source} {spec.where})")
                pool.start()
            luns = lun_problem(pool, spec)
        except HypervisorError as exc:
            raise OcfError(OcfExit.ERR_GENERIC, f"cannot start pool {name}: {exc}") from None
        problem = health(ctx, spec, 10) or luns
        if problem:
            raise OcfError(OcfExit.ERR_GENERIC, f"pool {name} is active, but {problem}")
        ctx.log.info(f"pool {name} is active {spec.where}")
        return OcfExit.SUCCESS

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
        hv = self._hypervisor(ctx, reserve=reserve(ctx.deadline.total))
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
        from havirt.agents.pool.stop import detach_if_hung, release_guests, unmount_leftover

        name = ctx.params.pool
        hv = self._hypervisor(ctx, reserve=reserve(ctx.deadline.total))
        spec: PoolSpec | None = None
        try:
            pool = hv.lookup_pool(name)
            if pool is None:
                ctx.log.info(f"pool {name} is not defined on this node: nothing to stop")
                return OcfExit.SUCCESS
            if not pool.is_active():
                ctx.log.info(f"pool {name} is already stopped")
                return OcfExit.SUCCESS
            spec = spec_of(ctx, pool)
            release_guests(ctx, hv, pool, spec)
            if spec.mounted:
                detach_if_hung(ctx, spec)
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
            if spec is not None and spec.target and "busy" in str(exc):
                hint = f" (to see what still uses it: fuser -vm {spec.target})"
            raise OcfError(OcfExit.ERR_GENERIC, f"cannot stop pool {name}: {exc}{hint}") from None
        if spec.mounted:
            unmount_leftover(ctx, spec)
        ctx.log.info(f"pool {name} stopped")
        return OcfExit.SUCCESS

    # -- reload ---------------------------------------------------------------------------
    def reload_agent(self, ctx: ActionContext) -> OcfExit:
        # force_stop, monitor_depth, check_timeout and status_file are read at each action.
        # A new definition cannot be applied under running guests: say so.
        from havirt.agents.libvirt.boundary import HypervisorError

        wanted = wanted_spec(ctx)
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


main = entry_point(StoragePool)


if __name__ == "__main__":
    main()
