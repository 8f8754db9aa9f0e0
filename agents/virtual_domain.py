"""ocf:havirt:VirtualDomain - a libvirt guest as a Pacemaker resource.

A drop-in for ocf:heartbeat:VirtualDomain (same parameters, same meaning) that
asks libvirt's API instead of parsing virsh output, bounds every call by the
operation's deadline, never answers "not running" while a QEMU process of the
guest exists, and verifies that a migration leaves exactly one copy.
"""

from __future__ import annotations

import os

from havirt.agents.env import GuestEnv, GuestHost
from havirt.agents.guest import domain_config, migration
from havirt.agents.guest.domain_state import FAILED, RUNNING, STOPPED
from havirt.agents.guest.observation import Identity, margin, observe
from havirt.agents.guest.params import ACTIONS, PARAMETERS
from havirt.agents.guest.resource_state import ResourceState
from havirt.ocf.agent import ActionContext, ResourceAgent
from havirt.ocf.dispatcher import entry_point
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.files import FileProblem

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.agents.guest.migration_run import MigrationRun
    from havirt.agents.libvirt.protocols import Domain, Hypervisor


class Carried:
    """What one hook leaves for the next within an action (``ctx.state``)."""

    __slots__ = ("config", "resource_state")

    def __init__(self) -> None:
        self.config: domain_config.DomainConfig | None = None  # loaded by validate
        self.resource_state: ResourceState | None = None  # read once per action


def _config(ctx: ActionContext) -> domain_config.DomainConfig:
    """The configuration validate loaded (the actions that need one run after it)."""
    config = ctx.carried(Carried).config
    if config is None:
        raise RuntimeError("no guest configuration was loaded before this action")
    return config


class VirtualDomain(ResourceAgent):
    name = "VirtualDomain"
    host_class = GuestHost
    env_class = GuestEnv
    version = "1.0"
    shortdesc = "Manages a libvirt virtual domain (drop-in for ocf:heartbeat:VirtualDomain)"
    longdesc = (
        "Starts, stops, monitors and live-migrates one libvirt guest from its XML definition "
        "file. Parameters have the same names and meaning as ocf:heartbeat:VirtualDomain's. "
        "The agent talks to libvirt through its API with every call bounded by the operation "
        "timeout; when libvirtd is down or hung it looks for the guest's QEMU process and never "
        "reports a running guest as stopped. Monitor depth 0 checks the guest state (and runs "
        "monitor_scripts); depth 10 also pings the QEMU guest agent when the guest has one."
    )
    parameters = PARAMETERS
    actions = ACTIONS

    def timeout_reserve(self, action: str, total: float) -> float:
        # migrate_to: the watchdog aborts the migration job before it answers.
        if action == "migrate_to":
            return migration.migration_budget(total).watchdog_abort
        return 0.0

    # -- helpers -------------------------------------------------------------
    def _hypervisor(self, ctx: ActionContext, reserve: float = 0.0) -> Hypervisor:
        uri = ctx.params.get("hypervisor") or None
        return GuestEnv.of(ctx).hypervisor(uri, ctx.deadline, reserve)

    def _state(self, ctx: ActionContext) -> ResourceState:
        carried = ctx.carried(Carried)
        state = carried.resource_state
        if state is None:  # one per action: the file is read once
            state = ResourceState(GuestEnv.of(ctx).state_dir, self.name, ctx.env.resource)
            carried.resource_state = state
        return state

    def _identity(self, ctx: ActionContext) -> Identity:
        config = ctx.carried(Carried).config
        state = self._state(ctx)
        if config is not None:
            uuid = config.uuid
            if uuid is None and state.get("name") == config.name:
                uuid = state.get("uuid")  # transient UUID of the copy we started
            return Identity(config.name, uuid)
        if state.get("name"):
            return Identity(state.get("name"), state.get("uuid"))
        # Nothing better known: guests are usually named like their resource.
        return Identity(ctx.env.resource, None)

    def _renamed(self, ctx: ActionContext, ident: Identity) -> Identity | None:
        """The guest this resource last ran, when the config names another one."""
        state = self._state(ctx)
        name = state.get("name")
        if not name or name == ident.name:
            return None
        return Identity(name, state.get("uuid"))

    def _remember(self, ctx: ActionContext, dom: Domain) -> None:
        config = ctx.carried(Carried).config
        self._state(ctx).update(name=dom.name, uuid=dom.uuid, config=getattr(config, "path", None))

    # -- validation ------------------------------------------------------------
    def validate(self, ctx: ActionContext) -> None:
        p = ctx.params
        ctx.carried(Carried).config = domain_config.load(p.config, cache=self._state(ctx))
        if p.hypervisor:
            problem = migration.check_uri(p.hypervisor, "hypervisor")
            if problem:
                raise OcfError(OcfExit.ERR_CONFIGURED, f"parameter 'hypervisor': {problem}")
        if p.snapshot:
            if p.force_stop:
                raise OcfError(
                    OcfExit.ERR_CONFIGURED,
                    "parameters 'snapshot' and 'force_stop' exclude each other: "
                    "a forced stop cannot save the guest's state",
                )
            if not os.path.isdir(p.snapshot):
                raise OcfError(
                    OcfExit.ERR_INSTALLED,
                    f"parameter 'snapshot': directory {p.snapshot} does not exist on this node",
                )
        if p.backingfile and not os.path.isfile(p.backingfile):
            raise OcfError(
                OcfExit.ERR_INSTALLED,
                f"parameter 'backingfile': {p.backingfile} does not exist on this node",
            )
        for script in (p.monitor_scripts or "").split():
            if not (os.path.isfile(script) and os.access(script, os.X_OK)):
                raise OcfError(
                    OcfExit.ERR_INSTALLED,
                    f"parameter 'monitor_scripts': {script} is not an executable file on this node",
                )
        needs = []
        if p.sync_config_on_stop:
            needs.append(("csync2", "sync_config_on_stop"))
        if p.backingfile:
            needs.append(("qemu-img", "backingfile"))
        if p.backingfile and p.stateless and p.copyindirs:
            needs.append(("virt-copy-in", "copyindirs"))
        for tool, param in needs:
            if ctx.host.which(tool) is None:
                raise OcfError(
                    OcfExit.ERR_INSTALLED, f"parameter '{param}' needs {tool}, not installed here"
                )

    def validate_all(self, ctx: ActionContext) -> OcfExit:
        config = _config(ctx)
        if config.domain_type == "kvm" and not ctx.host.exists("/dev/kvm"):
            ctx.log.warn(f"{config.name} is a KVM guest but /dev/kvm is missing on this node")
        from havirt.agents.guest.storage_lease import require

        found = require(ctx, config)
        if found is not None and found.protected:
            ctx.log.info(f"{config.name}: {found.summary}")
        return OcfExit.SUCCESS

    def _lenient_params(self, ctx: ActionContext) -> None:
        """Parameters one by one, defaults for the malformed ones (for stop and probe)."""
        values = self.parameter_set().parse_lenient(ctx.env.reskeys)
        ctx.params = values
        carried = ctx.carried(Carried)
        if carried.config is None and values.get("config"):
            try:
                carried.config = domain_config.load(values["config"])
            except OcfError:
                pass

    # -- monitor -----------------------------------------------------------------
    def monitor(self, ctx: ActionContext) -> OcfExit:
        hv = self._hypervisor(ctx, reserve=margin(ctx.deadline.total))
        ident = self._identity(ctx)
        obs = observe(ctx, hv, ident)
        if obs.outcome == STOPPED and (renamed := self._renamed(ctx, ident)) is not None:
            # The config now names another domain than the one this resource started (a
            # wrong file copied over it): the guest it started is what counts while it runs.
            before = observe(ctx, hv, renamed)
            if before.outcome == RUNNING:
                why = (
                    f"config {ctx.params.config} names {ident.name}, but this resource "
                    f"runs {renamed.name} here: fix the file before the guest's next start"
                )
                ctx.log.warn(why)
                ctx.warn_reason(why)
                return OcfExit.SUCCESS
            obs = before if before.outcome == FAILED else obs
        if obs.outcome != RUNNING:
            if obs.outcome == FAILED or not ctx.env.is_probe:
                # A probe finding nothing is no failure: no exit reason for it.
                ctx.fail(f"{ident.name}: {obs.verdict.explanation}")
            return obs.verdict.code
        if not obs.libvirt_reachable:
            ctx.log.warn(obs.verdict.explanation)
            return OcfExit.SUCCESS
        assert obs.domain is not None
        if ctx.env.is_probe:
            self._remember(ctx, obs.domain)
            return OcfExit.SUCCESS
        problem = self._deep_checks(ctx, obs.domain)
        if problem:
            ctx.fail(f"{ident.name}: {problem}")
            return OcfExit.ERR_GENERIC
        self._remember(ctx, obs.domain)
        self._sync_utilization(ctx, obs.domain)
        return OcfExit.SUCCESS

    def _deep_checks(self, ctx: ActionContext, dom: Domain) -> str | None:
        from havirt.agents.libvirt.boundary import HypervisorError

        for script in (ctx.params.monitor_scripts or "").split():
            result = ctx.runner.run([script], timeout=ctx.deadline.remaining())
            if not result.ok:
                return f"monitor script failed: {result.describe()}"
        config = ctx.carried(Carried).config
        if ctx.env.check_level >= 10 and config is not None and config.has_guest_agent:
            try:
                dom.agent_ping(max(1, int(min(5.0, ctx.deadline.remaining()))))
            except HypervisorError as exc:
                return f"the QEMU guest agent does not answer: {exc}"
        return None

    def _sync_utilization(self, ctx: ActionContext, dom: Domain) -> None:
        p = ctx.params
        # Checked here: the monitor imports utilization only when it is asked for.
        if not any(
            p[f"{verb}_utilization_{attr}"]
            for verb in ("autoset", "unset")
            for attr in ("cpu", "host_memory", "hv_memory")
        ):
            return
        from havirt.agents.guest import utilization

        utilization.sync_guest(ctx, self._state(ctx), dom)

    # -- start ---------------------------------------------------------------------
    def start(self, ctx: ActionContext) -> OcfExit:
        from havirt.agents.guest.start import launch, wait_running
        from havirt.agents.guest.storage_lease import require
        from havirt.agents.libvirt.boundary import (
            RESOURCE_BUSY,
            HypervisorError,
            HypervisorUnavailable,
        )

        config = _config(ctx)
        hv = self._hypervisor(ctx)
        ident = self._identity(ctx)
        try:
            obs = observe(ctx, hv, ident)
            if not obs.libvirt_reachable:
                raise OcfError(
                    OcfExit.ERR_GENERIC, f"cannot start {config.name}: {obs.verdict.explanation}"
                )
            if obs.outcome == RUNNING:
                ctx.log.info(f"{config.name} is already running")
                # RUNNING from a reachable libvirt always comes with the domain.
                self._remember(ctx, obs.domain)  # type: ignore[arg-type]
                return OcfExit.SUCCESS
            if obs.outcome == FAILED:
                raise OcfError(
                    OcfExit.ERR_GENERIC,
                    f"cannot start {config.name}: {obs.verdict.explanation}; stop it first",
                )
            require(ctx, config)
            dom = launch(ctx, hv, config, obs)
            wait_running(ctx, hv, Identity(dom.name, dom.uuid), "start", self._deep_checks)
        except HypervisorUnavailable as exc:
            raise OcfError(OcfExit.ERR_GENERIC, f"cannot start {config.name}: {exc}") from None
        except HypervisorError as exc:
            if exc.code == RESOURCE_BUSY:
                raise OcfError(
                    OcfExit.ERR_GENERIC,
                    f"refused to start {config.name}: another host holds the storage lease on "
                    f"its disks, so it (or a guest sharing its disks) runs there: {exc}",
                ) from None
            raise OcfError(OcfExit.ERR_GENERIC, f"failed to start {config.name}: {exc}") from None
        self._remember(ctx, dom)
        self._sync_utilization(ctx, dom)
        ctx.log.info(f"{config.name} started")
        return OcfExit.SUCCESS

    # -- stop --------------------------------------------------------------------------
    def stop(self, ctx: ActionContext) -> OcfExit:
        return self._stop(ctx, self._identity(ctx))

    def _stop(self, ctx: ActionContext, ident: Identity) -> OcfExit:
        from havirt.agents.guest.stop import GuestStop

        return GuestStop(observe, self._hypervisor, ctx.carried(Carried).config).stop(ctx, ident)

    def stop_unconfigured(self, ctx: ActionContext, error: OcfError) -> OcfExit:
        # A missing or broken configuration does not mean nothing runs: look for the
        # guest by what we know of it, and stop it if it is there.
        self._lenient_params(ctx)
        ident = self._identity(ctx)
        ctx.log.info(f"stop with invalid configuration ({error.reason}); looking for {ident.name}")
        return self._stop(ctx, ident)

    def probe_unconfigured(self, ctx: ActionContext, error: OcfError) -> OcfExit:
        return self._monitor_unconfigured(ctx, error, OcfExit.NOT_RUNNING)

    def monitor_unconfigured(self, ctx: ActionContext, error: OcfError) -> OcfExit:
        # A guest that runs well stays running even if its configuration file vanished,
        # is unreadable or malformed for a moment (an NFS hiccup, an editor saving, a
        # half-copied file): stopping it is an outage for nothing, and the file is only
        # needed at the next start. Without a running copy the configuration error stands
        # (Pacemaker starts the guest where the configuration is fine). A malformed
        # parameter is wrong on every node: that error stands as it is.
        if error.code != OcfExit.ERR_INSTALLED and not isinstance(error, FileProblem):
            return error.code
        return self._monitor_unconfigured(ctx, error, error.code)

    def _monitor_unconfigured(
        self, ctx: ActionContext, error: OcfError, stopped: OcfExit
    ) -> OcfExit:
        self._lenient_params(ctx)
        ident = self._identity(ctx)
        obs = observe(ctx, self._hypervisor(ctx, margin(ctx.deadline.total)), ident)
        if obs.outcome == STOPPED:
            return stopped
        # Tell the truth about a copy that runs, and say what is wrong.
        ctx.log.warn(f"{error.reason}; but {ident.name} runs here: {obs.verdict.explanation}")
        if obs.outcome == RUNNING:
            ctx.warn_reason(
                f"{error.reason}; {ident.name} keeps running (needed at its next start)"
            )
            return OcfExit.SUCCESS
        ctx.fail(f"{error.reason}; {obs.verdict.explanation}")
        return OcfExit.ERR_GENERIC

    # -- migration ---------------------------------------------------------------
    def migrate_to(self, ctx: ActionContext) -> OcfExit:
        from havirt.agents.guest.migrate import migrate_out
        from havirt.agents.libvirt.boundary import HypervisorError

        config = _config(ctx)
        target = ctx.env.migrate_target
        if not target:
            raise OcfError(
                OcfExit.ERR_GENERIC, "migrate_to needs the target node (CRM_meta_migrate_target)"
            )
        # Every call ends by the time the agent must answer, before the watchdog would.
        kept = ctx.deadline.end - ctx.answer_by.end
        hv = self._hypervisor(ctx, reserve=kept)
        ident = self._identity(ctx)
        try:
            obs = observe(ctx, hv, ident)
            if obs.outcome != RUNNING or obs.domain is None:
                raise OcfError(
                    OcfExit.ERR_GENERIC,
                    f"{ident.name}: migrate_to: not active locally ({obs.verdict.explanation})",
                )
            outcome = migrate_out(
                ctx,
                hv,
                obs.domain,
                ident,
                config,
                target,
                kept,
                self._hypervisor,
                self._migration_run(),
            )
        except HypervisorError as exc:
            raise OcfError(OcfExit.ERR_GENERIC, f"{ident.name}: migrate_to: {exc}") from None
        if outcome is not None:
            raise OcfError(OcfExit.ERR_GENERIC, f"{ident.name}: migration to {target} {outcome}")
        ctx.log.info(f"{ident.name}: live migration to {target} succeeded")
        return OcfExit.SUCCESS

    def _migration_run(self) -> MigrationRun:
        """The migration job's runner (a method, so a test agent can replace it)."""
        from havirt.agents.guest.migration_run import MigrationRun

        return MigrationRun(self._abort_migration)

    def _abort_migration(
        self, ctx: ActionContext, dom: Domain, seconds: float, again: bool = False
    ) -> bool:
        """The agent's own abort of the migration job near the deadline (a method, so a
        test agent can replace it: see tests/integration/stuck_abort_agent.py)."""
        from havirt.agents.guest.migration_run import abort_migration

        return abort_migration(ctx, dom, seconds, again)

    def migrate_from(self, ctx: ActionContext) -> OcfExit:
        from havirt.agents.guest.migrate import verify_gone_from_source, wait_arrived
        from havirt.agents.guest.start import wait_running
        from havirt.agents.guest.storage_lease import require
        from havirt.agents.libvirt.boundary import HypervisorUnavailable

        hv = self._hypervisor(ctx)
        ident = self._identity(ctx)
        source = ctx.env.migrate_source
        try:
            # The migration was done by migrate_to; wait (bounded) until the guest runs here.
            obs = wait_arrived(ctx, hv, ident)
            assert obs.domain is not None  # wait_arrived returns a guest that runs here
            arrived = Identity(obs.domain.name, obs.domain.uuid)
            wait_running(ctx, hv, arrived, "migrate_from", self._deep_checks)
            if source:
                verify_gone_from_source(ctx, hv, obs.domain, source)
        except HypervisorUnavailable as exc:
            raise OcfError(OcfExit.ERR_GENERIC, f"{ident.name}: migrate_from: {exc}") from None
        self._remember(ctx, obs.domain)
        # libvirt migrates a guest from a host with a lock manager to one without
        # (observed with libvirt 9.0): where leases are required, it must not stay here.
        require(ctx, _config(ctx))
        self._sync_utilization(ctx, obs.domain)
        return OcfExit.SUCCESS

    def reload_agent(self, ctx: ActionContext) -> OcfExit:
        # Reloadable parameters are read at each action; only utilization needs applying.
        from havirt.agents.libvirt.boundary import HypervisorError

        hv = self._hypervisor(ctx)
        try:
            obs = observe(ctx, hv, self._identity(ctx))
            if obs.domain is not None and obs.outcome == RUNNING:
                self._sync_utilization(ctx, obs.domain)
        except HypervisorError as exc:
            ctx.log.warn(f"reload: {exc}")
        return OcfExit.SUCCESS


main = entry_point(VirtualDomain)


if __name__ == "__main__":
    main()
