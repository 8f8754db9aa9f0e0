"""How ocf:havirt:VirtualDomain stops a guest.

Gracefully while the stop timeout allows (``shutdown_mode``, repeated: a request
sent while the guest boots is lost), else destroy; then no QEMU process of the guest
may remain (stragglers are ended by PID, SIGTERM then SIGKILL). Without libvirt it
waits a while for libvirtd, then ends the QEMU process itself. Stop is idempotent:
a guest that runs nowhere is stopped. Loaded by stop (and by migrate_to, to save the
definition) only: the monitor never imports this module.
"""

from __future__ import annotations

import os

from havirt.agents.env import GuestEnv, GuestHost
from havirt.agents.guest import domain_config
from havirt.agents.guest.domain_state import STOPPED
from havirt.agents.guest.observation import Identity, Observation, margin
from havirt.ocf.agent import ActionContext
from havirt.ocf.exitcodes import OcfExit

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from havirt.agents.libvirt.protocols import Domain, Hypervisor
    from havirt.ocf.environment import Deadline

    class HypervisorFor(Protocol):
        def __call__(self, ctx: ActionContext, reserve: float = 0.0) -> Hypervisor: ...


POLL = 0.25  # seconds between state polls while waiting for a change
SHUTDOWN_REPEAT = 5.0  # seconds between graceful shutdown requests during stop
KILL_RESERVE = 1.5  # seconds kept to SIGKILL a QEMU that destroy did not end in time


def _host(ctx: ActionContext) -> GuestHost:
    return GuestEnv.of(ctx).host


class GuestStop:
    """The stop of one guest, with the agent's view of it: ``observe`` (where the guest
    stands), ``hypervisor`` (a connection whose calls end ``reserve`` seconds before
    the deadline) and the loaded ``config`` (to save the definition back, if asked)."""

    def __init__(
        self,
        observe: Callable[[ActionContext, Hypervisor, Identity], Observation],
        hypervisor: HypervisorFor,
        config: domain_config.DomainConfig | None,
    ) -> None:
        self.observe = observe
        self.hypervisor = hypervisor
        self.config = config

    def stop(self, ctx: ActionContext, ident: Identity) -> OcfExit:
        from havirt.agents.libvirt.boundary import (
            HypervisorError,
            HypervisorTimeout,
            HypervisorUnavailable,
        )

        p = ctx.params
        total = ctx.deadline.total
        forced_at = ctx.deadline.sooner(margin(total))  # when graceful attempts end
        # Calls may run until shortly before the deadline: destroy itself can take seconds.
        hv = self.hypervisor(ctx, reserve=min(0.5, margin(total) / 4))
        try:
            obs = self.observe(ctx, hv, ident)
            if not obs.libvirt_reachable:
                return self._stop_without_libvirt(ctx, ident, obs)
            if obs.domain is None and obs.pids:
                why = f"libvirt does not know {ident.name}, but its QEMU process remains"
                return self.reap(ctx, ident, reason=why)
            if obs.domain is None or (obs.outcome == STOPPED and not obs.pids):
                ctx.log.info(f"{ident.name} is already stopped")
                return OcfExit.SUCCESS
            dom = obs.domain
            if obs.state and obs.state.state not in ("shutoff",):
                if p.get("save_config_on_stop") or p.get("sync_config_on_stop"):
                    save_config(ctx, dom, self.config)
                if p.get("force_stop") or obs.state.state in ("paused", "crashed"):
                    pass  # a paused or crashed guest cannot react to a shutdown request
                elif not (p.get("snapshot") and self._save_state(ctx, dom)):
                    self._shutdown_gracefully(ctx, hv, dom, ident, forced_at)
            if self._is_stopped(ctx, hv, ident):
                return self.reap(ctx, ident)
            ctx.log.info(f"destroying {ident.name}")
            hv.reserve = max(hv.reserve, KILL_RESERVE)  # keep time to SIGKILL QEMU ourselves
            try:
                dom.destroy()
            except HypervisorTimeout:
                return self.reap(ctx, ident, reason="destroy did not finish in time", urgent=True)
            except HypervisorError as exc:
                if isinstance(exc, HypervisorUnavailable):
                    raise
                if exc.code is None or "not running" not in str(exc):
                    ctx.log.warn(f"destroy of {ident.name}: {exc}")
            while not self._is_stopped(ctx, hv, ident):
                if ctx.deadline.remaining() < KILL_RESERVE:
                    return self.reap(ctx, ident, reason="still running after destroy", urgent=True)
                ctx.host.sleep(POLL)
            return self.reap(ctx, ident)
        except HypervisorUnavailable as exc:
            ctx.log.warn(f"libvirt became unreachable during stop: {exc}")
            return self._stop_without_libvirt(ctx, ident, None)

    def _is_stopped(self, ctx: ActionContext, hv: Hypervisor, ident: Identity) -> bool:
        obs = self.observe(ctx, hv, ident)
        if not obs.libvirt_reachable:
            return not obs.pids
        return obs.outcome == STOPPED or (obs.state is not None and obs.state.state == "shutoff")

    def _shutdown_gracefully(
        self, ctx: ActionContext, hv: Hypervisor, dom: Domain, ident: Identity, until: Deadline
    ) -> None:
        from havirt.agents.libvirt.boundary import HypervisorError

        modes = [m.strip() for m in (ctx.params.get("shutdown_mode") or "").split(",") if m]
        how = f" (mode {','.join(modes)})" if modes else ""
        ctx.log.info(f"asking {ident.name} to shut down{how}")
        try:
            dom.shutdown(modes)
        except HypervisorError as exc:
            ctx.log.warn(f"graceful shutdown of {ident.name} refused: {exc}; destroying instead")
            return
        last_request = ctx.host.monotonic()
        while until.remaining() > 0:
            if self._is_stopped(ctx, hv, ident):
                ctx.log.info(f"{ident.name} shut down gracefully")
                return
            ctx.host.sleep(min(POLL * 2, max(until.remaining(), 0.01)))
            if ctx.host.monotonic() - last_request >= SHUTDOWN_REPEAT:
                # A request that arrives while the guest is still booting is lost
                # (nothing handles the power button yet): ask again.
                last_request = ctx.host.monotonic()
                try:
                    dom.shutdown(modes)
                except HypervisorError as exc:
                    ctx.log.debug(f"repeated shutdown request: {exc}")
        ctx.log.warn(f"{ident.name} did not shut down before the stop timeout; destroying")

    def _save_state(self, ctx: ActionContext, dom: Domain) -> bool:
        from havirt.agents.libvirt.boundary import HypervisorError

        target = os.path.join(ctx.params.snapshot, f"{dom.name}.state")
        try:
            dom.save(target)
            ctx.log.info(f"saved the state of {dom.name} to {target}")
            return True
        except HypervisorError as exc:
            ctx.log.error(f"saving the state of {dom.name} to {target} failed: {exc}")
            return False

    def _stop_without_libvirt(
        self, ctx: ActionContext, ident: Identity, obs: Observation | None
    ) -> OcfExit:
        """libvirtd is down or hung: wait a while for it, then end the QEMU process ourselves."""
        from havirt.agents.libvirt.boundary import HypervisorUnavailable

        wait_until = ctx.deadline.within(ctx.deadline.total / 2)
        while wait_until.remaining() > 0:
            pids = [p.pid for p in _host(ctx).qemu_processes(ident.name, ident.uuid)]
            if not pids:
                ctx.log.info(f"libvirt is unreachable and no QEMU process of {ident.name} exists")
                return OcfExit.SUCCESS
            ctx.host.sleep(min(1.0, wait_until.remaining()))
            hv = self.hypervisor(ctx, reserve=ctx.deadline.remaining() - wait_until.remaining())
            try:
                hv.connect()
            except HypervisorUnavailable:
                continue
            ctx.log.info("libvirt is reachable again; stopping through libvirt")
            return self.stop(ctx, ident)
        return self.reap(ctx, ident, reason="libvirt is unreachable")

    def reap(
        self, ctx: ActionContext, ident: Identity, reason: str | None = None, urgent: bool = False
    ) -> OcfExit:
        """Make sure no QEMU process of the guest is left; end stragglers by PID.

        ``urgent``: the deadline is close, SIGKILL at once instead of SIGTERM first."""
        import signal

        grace = ctx.deadline.within(0.0 if urgent else 2.0)
        while _host(ctx).qemu_processes(ident.name, ident.uuid) and grace.remaining() > 0:
            ctx.host.sleep(0.1)  # QEMU may take a moment to exit after libvirt reports shutoff
        steps = (
            ((signal.SIGKILL, 3.0),) if urgent else ((signal.SIGTERM, 5.0), (signal.SIGKILL, 3.0))
        )
        for sig, wait in steps:
            procs = _host(ctx).qemu_processes(ident.name, ident.uuid)
            if not procs:
                return OcfExit.SUCCESS
            why = reason or "libvirt reports the guest stopped but its QEMU process remains"
            for proc in procs:
                ctx.log.warn(
                    f"{why}: sending {sig.name} to QEMU process {proc.pid} of {ident.name}"
                )
                try:
                    ctx.host.kill(proc.pid, sig)
                except ProcessLookupError:
                    pass
            limit = ctx.deadline.within(min(wait, max(0.0, ctx.deadline.remaining() - 0.5)))
            while _host(ctx).qemu_processes(ident.name, ident.uuid) and limit.remaining() > 0:
                ctx.host.sleep(0.1)
        if _host(ctx).qemu_processes(ident.name, ident.uuid):
            ctx.fail(f"QEMU process of {ident.name} survived SIGKILL")
            return OcfExit.ERR_GENERIC
        return OcfExit.SUCCESS


def save_config(ctx: ActionContext, dom: Domain, config: domain_config.DomainConfig | None) -> None:
    """Write the running definition back to the config file: atomically, with a backup."""
    from havirt.agents.libvirt.boundary import HypervisorError

    if config is None:
        return
    try:
        xml = dom.xml(inactive=True)
    except HypervisorError as exc:
        ctx.log.error(f"cannot read the definition of {dom.name} to save it: {exc}")
        return
    tmp = f"{config.path}.havirt-new"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(xml)
            handle.flush()
            os.fsync(handle.fileno())
        _copy2(config.path, f"{config.path}.bak")
        os.replace(tmp, config.path)
        ctx.log.info(f"saved the definition of {dom.name} to {config.path}")
    except OSError as exc:
        ctx.log.error(f"cannot save the definition of {dom.name}: {exc}")
        return
    if ctx.params.get("sync_config_on_stop"):
        result = ctx.runner.run(["csync2", "-x", config.path], timeout=30.0)
        if not result.ok:
            ctx.log.error(f"csync2 failed: {result.describe()}")


def _copy2(src: str, dst: str) -> None:
    import shutil

    shutil.copy2(src, dst)
