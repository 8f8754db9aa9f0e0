"""What ocf:havirt:VirtualDomain knows of its guest: how to recognise it
(:class:`Identity`) and where it stands (:class:`Observation`, read by :func:`observe`),
shared by the agent's monitor and its start, stop and migration engines."""

from __future__ import annotations

from havirt.agents.env import GuestEnv
from havirt.agents.guest.domain_state import FAILED, RUNNING, STOPPED, DomainState, Verdict, judge
from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.agents.libvirt.protocols import Domain, Hypervisor
    from havirt.ocf.agent import ActionContext


class Identity(Record):
    """How to recognise the guest: its name and, when known, its UUID."""

    name: str
    uuid: str | None


class Observation(Record):
    _defaults = {"domain": None, "state": None, "pids": (), "libvirt_reachable": True}
    verdict: Verdict
    domain: Domain | None
    state: DomainState | None
    pids: tuple[int, ...]
    libvirt_reachable: bool

    @property
    def outcome(self) -> str:
        return self.verdict.outcome


def margin(total: float) -> float:
    """Time kept back at the end of an action for the forced path (destroy, abort)."""
    # destroy waits for QEMU to honour SIGTERM (seconds under load) before SIGKILL
    return min(10.0, max(4.0, total / 6.0))


def observe(ctx: ActionContext, hv: Hypervisor, ident: Identity) -> Observation:
    """Where the guest stands, from libvirt, with /proc as the witness of last resort."""
    from havirt.agents.libvirt.boundary import NO_DOMAIN, HypervisorError, HypervisorUnavailable

    try:
        dom = hv.lookup(name=ident.name, uuid=ident.uuid)
        if dom is not None:
            try:
                state = dom.state()
            except HypervisorError as exc:
                if exc.code != NO_DOMAIN:
                    raise
                dom = None  # gone since the lookup (a transient guest that just ended)
        if dom is None:
            state = DomainState("undefined", "unknown")
    except HypervisorUnavailable as exc:
        pids = tuple(p.pid for p in GuestEnv.of(ctx).host.qemu_processes(ident.name, ident.uuid))
        if pids:
            return Observation(
                Verdict(
                    RUNNING,
                    f"libvirt is unreachable ({exc}); QEMU process {pids[0]} of guest "
                    f"{ident.name} exists, so the guest counts as running",
                ),
                pids=pids,
                libvirt_reachable=False,
            )
        return Observation(
            Verdict(
                STOPPED,
                f"libvirt is unreachable ({exc}) and no QEMU process of {ident.name} exists",
            ),
            libvirt_reachable=False,
        )
    except HypervisorError as exc:
        # libvirt answered with an error: only the QEMU process can tell more.
        pids = tuple(p.pid for p in GuestEnv.of(ctx).host.qemu_processes(ident.name, ident.uuid))
        if pids:
            return Observation(
                Verdict(FAILED, f"libvirt error ({exc}) while QEMU process {pids[0]} runs"),
                pids=pids,
            )
        return Observation(
            Verdict(STOPPED, f"libvirt error ({exc}); no QEMU process of {ident.name} exists")
        )
    verdict = judge(state)
    pids = ()
    if verdict.outcome == STOPPED:
        # libvirt says stopped: believe it only if no QEMU process of the guest exists.
        pids = tuple(p.pid for p in GuestEnv.of(ctx).host.qemu_processes(ident.name, ident.uuid))
        if pids:
            verdict = Verdict(
                FAILED,
                f"libvirt reports {ident.name} as {state.state}, but its QEMU process "
                f"{pids[0]} still exists",
            )
    return Observation(verdict, dom, state, pids)
