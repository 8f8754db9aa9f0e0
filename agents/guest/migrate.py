"""The guest's live migration as the agent carries it out around libvirt's job: the
URIs from the migration parameters, what migrate_to prepares before the job (the saved
definition, the target's pools and networks, speed and downtime), the wait for the
guest's arrival in migrate_from, and the check that exactly one copy is left.
Imported by migrate_to and migrate_from only."""

from __future__ import annotations

from havirt.agents.env import GuestEnv
from havirt.agents.guest import migration
from havirt.agents.guest.domain_state import RUNNING, STOPPED, judge
from havirt.agents.guest.migration_run import MigrationRun, set_migration_speed
from havirt.agents.guest.observation import Identity, Observation, observe
from havirt.agents.guest.start import POLL, start_resources
from havirt.agents.libvirt.boundary import HypervisorError, migrate_flags
from havirt.ocf.agent import ActionContext
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: keep the agent's imports lean

if TYPE_CHECKING:
    from havirt.agents.guest.domain_config import DomainConfig
    from havirt.agents.guest.stop import HypervisorFor
    from havirt.agents.libvirt.protocols import Domain, Hypervisor


def migrate_out(
    ctx: ActionContext,
    hv: Hypervisor,
    dom: Domain,
    ident: Identity,
    config: DomainConfig,
    target: str,
    kept: float,
    hypervisor_for: HypervisorFor,
    run: MigrationRun,
) -> str | None:
    """Live-migrate ``dom`` to node ``target`` as the parameters say, every call ending
    ``kept`` seconds before the deadline; what went wrong, or None when it succeeded.
    HypervisorError when libvirt refuses."""
    p = ctx.params
    local_uri = hv.actual_uri
    options = migration.parse_migrate_options(p.migrate_options)
    route = route_of(ctx, options.migrateuri)
    dest_uri = route.remote_uri(local_uri, target)
    data_uri = route.data_uri(local_uri, target)
    flags = migrate_flags(options.switches)
    if p.save_config_on_stop or p.sync_config_on_stop:
        from havirt.agents.guest.stop import save_config

        save_config(ctx, dom, config)
    if p.start_resources:
        remote = hypervisor_for(ctx, reserve=kept)
        remote.uri = dest_uri
        start_resources(ctx, remote, config)
        remote.close()
    set_migration_speed(ctx, dom, p.migration_speed)
    downtime_pending = bool(p.migration_downtime)
    if downtime_pending:
        try:
            dom.set_migration_downtime(p.migration_downtime)
            downtime_pending = False
        except HypervisorError as exc:
            ctx.log.debug(f"downtime before the migration job refused ({exc}); retrying")
    ctx.log.info(
        f"{ident.name}: live migration to {target} via {dest_uri}"
        + (f" (data over {data_uri})" if data_uri else "")
    )
    return run.run(
        ctx,
        dom,
        dest_uri,
        data_uri,
        flags,
        p.migration_speed,
        p.migration_downtime if downtime_pending else 0,
    )


def route_of(ctx: ActionContext, options_uri: str | None = None) -> migration.Route:
    """How this guest's migrations reach other nodes, as its parameters say
    (``options_uri``: the ``--migrateuri`` of migrate_options)."""
    p = ctx.params
    return migration.Route(
        remoteuri=p.remoteuri,
        transport=p.migration_transport,
        user=p.migration_user,
        network_suffix=p.migration_network_suffix,
        migrateuri=p.migrateuri,
        options_uri=options_uri,
        port=p.migrateport,
    )


def wait_arrived(ctx: ActionContext, hv: Hypervisor, ident: Identity) -> Observation:
    """The guest as it runs here after migrate_to's migration (waited for, bounded)."""
    grace = ctx.deadline.within(5.0)
    while True:
        obs = observe(ctx, hv, ident)
        if obs.domain is not None and obs.outcome == RUNNING:
            return obs
        if obs.domain is None and grace.expired():
            raise OcfError(
                OcfExit.ERR_GENERIC,
                f"{ident.name}: migrate_from: the guest did not arrive on this node",
            )
        if ctx.deadline.remaining() <= POLL:
            raise OcfError(
                OcfExit.ERR_GENERIC,
                f"{ident.name}: migrate_from: {obs.verdict.explanation}",
            )
        ctx.host.sleep(POLL)


def verify_gone_from_source(ctx: ActionContext, hv: Hypervisor, dom: Domain, source: str) -> None:
    """Exactly one copy: the guest must no longer run on the migration source."""
    src_uri = route_of(ctx).remote_uri(hv.actual_uri, source)
    remote = GuestEnv.of(ctx).hypervisor(src_uri, ctx.deadline.within(10.0))
    try:
        other = remote.lookup(name=dom.name, uuid=dom.uuid)
        state = other.state() if other is not None else None
    except HypervisorError as exc:
        ctx.log.warn(f"cannot check {source} for a leftover copy of {dom.name}: {exc}")
        return
    finally:
        remote.close()
    if state is not None and judge(state).outcome != STOPPED:
        raise OcfError(
            OcfExit.ERR_GENERIC,
            f"{dom.name} arrived here but is still {state} on {source}: two copies",
        )
