"""What ocf:havirt:VirtualDomain knows of its guest: how to recognise it
(:class:`Identity`) and where it stands (:class:`Observation`), shared by the agent's
monitor and its stop and migration engines."""

from __future__ import annotations

from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.agents.guest.domain_state import DomainState, Verdict
    from havirt.agents.libvirt.protocols import Domain


class Identity(Record):
    """How to recognise the guest: its name and, when known, its UUID."""

    __slots__ = (
        "name",
        "uuid",
    )

    name: str
    uuid: str | None


class Observation(Record):
    __slots__ = (
        "verdict",
        "domain",
        "state",
        "pids",
        "libvirt_reachable",
    )
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
