"""Keep a guest resource's utilization attributes in the CIB up to date.

Unlike the stock agent, which reads the CIB through crm_resource on every
monitor, the values last written are remembered (ResourceState), so the CIB is
touched only when the guest's size changes (or once after a node reboot).
"""

from __future__ import annotations

from havirt.agents.guest.resource_state import ResourceState

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.agents.libvirt.protocols import Domain
    from havirt.ocf.agent import ActionContext
    from havirt.ocf.runner import Runner


def sync_guest(ctx: ActionContext, state: ResourceState, dom: Domain) -> None:
    """Bring the resource's utilization attributes to what the parameters ask for the
    guest's size (autoset) or their absence (unset); problems are logged as warnings."""
    p = ctx.params
    vcpus, memory_kib = dom.vcpus_and_memory()
    sizes = {"cpu": vcpus, "host_memory": memory_kib // 1024, "hv_memory": memory_kib // 1024}
    wanted: dict[str, int | None] = {}
    for attr, size in sizes.items():
        if p[f"autoset_utilization_{attr}"]:  # autoset wins, as in the stock agent
            wanted[attr] = size
        elif p[f"unset_utilization_{attr}"]:
            wanted[attr] = None
    budget = min(10.0, ctx.deadline.remaining())
    for problem in sync(ctx.runner, state, ctx.env.resource, wanted, budget):
        ctx.log.warn(problem)


def sync(
    runner: Runner,
    state: ResourceState,
    resource: str,
    wanted: dict[str, int | None],
    timeout: float,
) -> list[str]:
    """Set (int) or delete (None) each utilization attribute that changed; return problems."""
    written: dict[str, int | None] = dict(state.get("utilization", {}))
    problems: list[str] = []
    changed = False
    for attribute, value in wanted.items():
        if attribute in written and written[attribute] == value:
            continue
        if value is None:
            argv = [
                "crm_resource",
                "--resource",
                resource,
                "--utilization",
                "--delete-parameter",
                attribute,
            ]
        else:
            argv = [
                "crm_resource",
                "--resource",
                resource,
                "--utilization",
                "--set-parameter",
                attribute,
                "--parameter-value",
                str(value),
            ]
        result = runner.run(argv, timeout=timeout)
        # Deleting an attribute that is not there is not a problem (crm_resource: 105 / 6).
        if result.ok or (value is None and result.returncode in (6, 105)):
            written[attribute] = value
            changed = True
        else:
            problems.append(f"utilization {attribute}: {result.describe()}")
    if changed:
        state.update(utilization=written)
    return problems
