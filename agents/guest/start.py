"""What start does to bring a guest up, beyond the OCF mapping: restore from a
snapshot, remove a persistent definition (kept in a file), start the pools and networks
it uses, launch it (on a copy-on-write disk when asked), and wait until it really runs.
Imported by start and migrate_from only: the monitor never imports this module."""

from __future__ import annotations

import os

from havirt.agents.env import GuestEnv
from havirt.agents.guest.domain_state import RUNNING
from havirt.agents.guest.observation import Identity, Observation, observe
from havirt.agents.libvirt import definition_backup
from havirt.agents.libvirt.errors import HypervisorError
from havirt.ocf.agent import ActionContext
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: keep the agent's imports lean

if TYPE_CHECKING:
    from collections.abc import Callable

    from havirt.agents.guest.domain_config import DomainConfig
    from havirt.agents.libvirt.protocols import Domain, Hypervisor

POLL = 0.25  # seconds between state polls while waiting for a change


def launch(ctx: ActionContext, hv: Hypervisor, config: DomainConfig, obs: Observation) -> Domain:
    """Start the guest: restored from its snapshot, else created from its definition
    (on a copy-on-write disk when backingfile asks); returns the domain."""
    p = ctx.params
    if p.snapshot:
        saved = os.path.join(p.snapshot, f"{config.name}.state")
        if os.path.exists(saved):
            ctx.log.info(f"restoring {config.name} from {saved}")
            hv.restore(saved)
            os.unlink(saved)  # consumed: a later start must boot fresh, not resume old RAM
            dom = hv.lookup(name=config.name)
            if dom is None:
                raise OcfError(OcfExit.ERR_GENERIC, f"{config.name} vanished after restore")
            return dom
    if obs.domain is not None and obs.domain.is_persistent():
        undefine_keeping_backup(ctx, obs.domain)
    if p.start_resources:
        start_resources(ctx, hv, config)
    if p.backingfile:
        return launch_copy_on_write(ctx, hv, config)
    ctx.log.info(f"starting {config.name} from {config.path}")
    return hv.create(config.xml)


def undefine_keeping_backup(ctx: ActionContext, dom: Domain) -> None:
    """A persistent definition lets libvirt autostart the guest outside Pacemaker:
    remove it, but keep its XML so no definition is ever lost."""
    env = GuestEnv.of(ctx)
    backup = definition_backup.keep(
        env.backup_dir, dom.name, dom.xml(inactive=True), env.host.time()
    )
    ctx.log.warn(
        f"{dom.name} was defined persistently in libvirt; undefining it so only Pacemaker "
        f"starts it (definition kept in {backup})"
    )
    dom.undefine()


def start_resources(ctx: ActionContext, hv: Hypervisor, config: DomainConfig) -> None:
    """Make the storage pools and networks the guest uses active on ``hv``'s host."""
    for pool in config.pools:
        if hv.ensure_pool_active(pool):
            ctx.log.info(f"started storage pool {pool}")
    for net in config.networks:
        if hv.ensure_network_active(net):
            ctx.log.info(f"started network {net}")


def launch_copy_on_write(ctx: ActionContext, hv: Hypervisor, config: DomainConfig) -> Domain:
    """Start the guest on a qcow2 overlay of backingfile (fresh when stateless)."""
    p = ctx.params
    disk = os.path.splitext(config.path)[0] + ".qcow2"
    fresh = p.stateless or not (os.path.exists(disk) and os.path.getsize(disk) > 0)
    if fresh:
        result = ctx.runner.run(
            [
                "qemu-img",
                "create",
                "-f",
                "qcow2",
                "-F",
                image_format(ctx, p.backingfile),
                "-b",
                p.backingfile,
                disk,
            ],
            timeout=ctx.deadline.remaining(),
        )
        if not result.ok:
            raise OcfError(
                OcfExit.ERR_GENERIC,
                f"cannot create {disk} on {p.backingfile}: {result.describe()}",
            )
    dom = hv.define(config.xml)
    try:
        if fresh and p.stateless and p.copyindirs:
            result = ctx.runner.run(
                ["virt-copy-in", "-d", config.name, *p.copyindirs.split(), "/"],
                timeout=ctx.deadline.remaining(),
            )
            if not result.ok:
                raise OcfError(OcfExit.ERR_GENERIC, f"copyindirs failed: {result.describe()}")
        dom.start()
    finally:
        forget_definition(ctx, dom)
    return dom


def forget_definition(ctx: ActionContext, dom: Domain) -> None:
    """Undefine the definition made only for virt-copy-in and the start (a running
    guest stays, transient): left persistent, libvirt could start the guest outside
    Pacemaker, and it would drift from the definition store."""
    try:
        dom.undefine()
    except HypervisorError as exc:
        ctx.log.warn(f"could not undefine {dom.name} after its start: {exc}")


def wait_running(
    ctx: ActionContext,
    hv: Hypervisor,
    ident: Identity,
    what: str,
    deep_checks: Callable[[ActionContext, Domain], str | None],
) -> None:
    """Wait until the guest really runs (and ``deep_checks``, the monitor's, pass)."""
    while True:
        obs = observe(ctx, hv, ident)
        if (
            obs.outcome == RUNNING
            and obs.state
            and obs.state.reason not in ("migration", "postcopy", "starting_up")
        ):
            assert obs.domain is not None
            if not deep_checks(ctx, obs.domain):
                return
        elif obs.outcome != RUNNING and what == "start":
            raise OcfError(
                OcfExit.ERR_GENERIC, f"{ident.name} did not start: {obs.verdict.explanation}"
            )
        if ctx.deadline.remaining() <= POLL:
            raise OcfError(
                OcfExit.ERR_GENERIC,
                f"{ident.name} is not running (and passing its checks) by the end of "
                f"{what}'s timeout: {obs.verdict.explanation}",
            )
        ctx.host.sleep(POLL)


def image_format(ctx: ActionContext, path: str) -> str:
    """The format of a backing file (qemu-img needs it named since QEMU 6.1)."""
    import json

    result = ctx.runner.run(["qemu-img", "info", "--output=json", "-U", path], timeout=15.0)
    if result.ok:
        try:
            return str(json.loads(result.stdout).get("format") or "raw")
        except ValueError:
            pass
    return "raw"
