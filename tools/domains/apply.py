"""Applying a stored change of a guest's definition to the running guest
(``havirt domain edit --apply``), as :mod:`.change` classified it.

- The guest runs nowhere: nothing to apply; its next start uses the store's file (the
  resource's ``config``).
- Nothing that matters, or only what takes effect at the next start: nothing to apply.
- Live: each live item through libvirt on the node Pacemaker runs the guest on (a
  :class:`LiveApplier`, given by the caller for that node; :class:`VirshApplier` is
  ``virsh`` over an SSH session). When one fails, :class:`PartlyApplied` says which
  were applied and which not.
- A restart: refused (:class:`NeedsRestart`) unless the caller has the admin's
  consent; then through Pacemaker only, as ``havirt domain stop`` and ``start`` with a
  wait (target-role Stopped, then Started), never by libvirt. A start refused after
  the stop (no room now, a copy running outside Pacemaker) leaves the guest stopped,
  and the report says why.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.domains.change import (
    ATTACH,
    DETACH,
    LIVE,
    NEXT_START,
    NOTHING,
    RESTART,
    SET_DESCRIPTION,
    SET_MEMORY,
    SET_TITLE,
    SET_VCPUS,
    Item,
    overall,
)
from havirt.tools.errors import HavirtError, Refused
from havirt.tools.json_fields import fields_dict
from havirt.tools.placement.domain import STARTED, STOPPED, DomainReport, read_guest, set_role
from havirt.tools.validate.framing import PATH, bounded, new_boundary, sh_command
from havirt.tools.validate.probe import Session

URI = "qemu:///system"

# what an apply did (ApplyReport.outcome)
NOT_RUNNING = "not running"
NOTHING_TO_APPLY = "nothing to apply"
APPLIED_LIVE = "applied live"
RESTARTED = "restarted"  # stopped and started again (report.start says whether it runs)
NOT_STOPPED = "did not stop"  # within the wait: not started again
NOT_STARTED = "stopped, not started"  # Pacemaker was not asked to start it (detail: why)
WOULD_APPLY = "would apply"  # a dry run (the check before the cluster lock)


class LiveApplier(Protocol):
    """libvirt's live changes to one running guest on one node; each raises HavirtError
    (libvirt's own words) when libvirt refuses."""

    def set_memory(self, guest: str, kib: int) -> None: ...
    def set_vcpus(self, guest: str, count: int) -> None: ...
    def attach(self, guest: str, device_xml: str) -> None: ...
    def detach(self, guest: str, device_xml: str) -> None: ...
    def set_text(self, guest: str, title: bool, text: str) -> None: ...


class RoleSetter(Protocol):
    """Sets a guest's target-role through Pacemaker and, with a wait, follows it there
    (:func:`havirt.tools.placement.domain.set_role`)."""

    def __call__(
        self,
        env: ClusterEnv,
        name: str,
        role: str,
        *,
        wait: float | None = ...,
        dry_run: bool = ...,
    ) -> DomainReport: ...


class NeedsRestart(Refused):
    """The change takes effect only when the guest is restarted, and the caller did not
    consent to one (the message names what needs it)."""


class PartlyApplied(HavirtError):
    """A live change failed part of the way (the message says which items were applied,
    which failed and which were not tried)."""


@dataclass
class ApplyReport:
    """What applying a change did."""

    guest: str
    needs: str  # change.NOTHING, NEXT_START, LIVE, RESTART
    outcome: str = NOTHING_TO_APPLY  # one of the outcomes above
    node: str | None = None  # where it ran when the apply began
    applied: list[Item] = field(default_factory=list)  # live items applied
    stop: DomainReport | None = None  # the restart's two halves
    start: DomainReport | None = None
    detail: str = ""  # why it was not started again

    @property
    def ok(self) -> bool:
        """Done as asked: the restart's stop and start both got there."""
        if self.outcome in (NOT_STOPPED, NOT_STARTED):
            return False
        return all(r.ok for r in (self.stop, self.start) if r is not None)

    def to_dict(self) -> dict[str, object]:
        return fields_dict(self, after={"needs": {"ok": self.ok}})


def apply_change(
    env: ClusterEnv,
    name: str,
    items: Sequence[Item],
    *,
    applier: Callable[[str], LiveApplier],
    restart: bool = False,
    wait: float = 300.0,
    dry_run: bool = False,
    roles: RoleSetter = set_role,
) -> ApplyReport:
    """Apply ``items`` (the change of ``name``'s stored definition) to the running guest:
    live through ``applier(node)``, or by a restart through Pacemaker (``roles``: stop,
    then start, each waited for) when ``restart`` (the admin's consent). NeedsRestart
    when it needs one without consent."""
    needs = overall(items)
    report = ApplyReport(name, needs)
    _, guest = read_guest(env, name)
    if not guest.nodes:
        report.outcome = NOT_RUNNING
        return report
    report.node = guest.node
    if needs in (NOTHING, NEXT_START):
        return report
    if guest.node is None:
        raise Refused(
            f"{name} is listed on several nodes ({', '.join(guest.nodes)}): the change "
            "cannot be applied now",
            f"let the cluster recover it first (crm_mon; crm_resource --cleanup --resource {name})",
        )
    if needs == RESTART and not restart:
        restarts = [i for i in items if i.kind == RESTART]
        raise NeedsRestart(
            f"{name} must be restarted for this change to take effect (it changes "
            f"{_listed(restarts)}); it runs on {guest.node} and was not restarted",
            f"havirt domain stop {name} --wait, then havirt domain start {name} --wait "
            "(it starts with the new definition)",
        )
    if dry_run:
        report.outcome = WOULD_APPLY
        if needs == RESTART:
            report.stop = roles(env, name, STOPPED, wait=wait, dry_run=True)
        return report
    if needs == LIVE:
        report.applied = apply_live(applier(guest.node), name, guest.node, items)
        report.outcome = APPLIED_LIVE
        return report
    report.stop = roles(env, name, STOPPED, wait=wait)
    if not report.stop.ok:
        report.outcome = NOT_STOPPED
        return report
    try:  # refused now (no room, a copy outside Pacemaker): it stays stopped
        report.start = roles(env, name, STARTED, wait=wait)
    except HavirtError as exc:
        report.outcome = NOT_STARTED
        report.detail = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        return report
    report.outcome = RESTARTED
    return report


def _listed(items: Sequence[Item]) -> str:
    return ", ".join(i.what for i in items)


def apply_live(applier: LiveApplier, guest: str, node: str, items: Sequence[Item]) -> list[Item]:
    """Apply each live item in turn; the ones applied. PartlyApplied when one fails."""
    done: list[Item] = []
    live = [i for i in items if i.kind == LIVE]
    for n, item in enumerate(live):
        try:
            _apply_one(applier, guest, item)
        except HavirtError as exc:
            left = live[n + 1 :]
            said = f"applied: {_listed(done)}" if done else "nothing was applied"
            rest = f"; not tried: {_listed(left)}" if left else ""
            raise PartlyApplied(
                f"{guest} on {node}: {item.what} failed: {exc.message}; {said}{rest}",
                f"the stored definition is complete: restart {guest} through the cluster "
                f"(havirt domain stop {guest} --wait, then start) to run all of it",
            ) from None
        done.append(item)
    return done


def _apply_one(applier: LiveApplier, guest: str, item: Item) -> None:
    if item.op == SET_MEMORY:
        applier.set_memory(guest, int(item.value))
    elif item.op == SET_VCPUS:
        applier.set_vcpus(guest, int(item.value))
    elif item.op == ATTACH:
        applier.attach(guest, item.value)
    elif item.op == DETACH:
        applier.detach(guest, item.value)
    elif item.op in (SET_TITLE, SET_DESCRIPTION):
        applier.set_text(guest, item.op == SET_TITLE, item.value)
    else:
        raise HavirtError(f"no live operation for {item.what}")


class VirshApplier:
    """:class:`LiveApplier` through ``virsh`` on a node, over an SSH session (the session
    seam of validate and domain sync: ``run(command, timeout) -> CommandResult``)."""

    def __init__(self, session: Session, node: str, timeout: float) -> None:
        self.session = session
        self.node = node
        self.timeout = timeout

    def set_memory(self, guest: str, kib: int) -> None:
        self._virsh(["setmem", guest, f"{kib}KiB", "--live"])

    def set_vcpus(self, guest: str, count: int) -> None:
        self._virsh(["setvcpus", guest, str(count), "--live"])

    def attach(self, guest: str, device_xml: str) -> None:
        self._virsh(["attach-device", guest, "/dev/stdin", "--live"], device_xml)

    def detach(self, guest: str, device_xml: str) -> None:
        self._virsh(["detach-device", guest, "/dev/stdin", "--live"], device_xml)

    def set_text(self, guest: str, title: bool, text: str) -> None:
        words = ["desc", guest, "--live", *(["--title"] if title else []), "--new-desc", text]
        self._virsh(words)

    def _virsh(self, words: list[str], stdin: str | None = None) -> None:
        quoted = " ".join(shlex.quote(w) for w in words)
        command = bounded(f"virsh -c {URI} {quoted}", self.timeout)
        if stdin is not None:
            end = new_boundary()  # a quoted here-document: nothing in it is expanded
            command = f"{command} <<'{end}'\n{stdin}\n{end}"
        script = f"PATH=$PATH:{PATH}; export PATH; LC_ALL=C; export LC_ALL\n{command}\n"
        result = self.session.run(sh_command(script), self.timeout + 5)
        if result.ok:
            return
        if result.timed_out:
            raise HavirtError(f"virsh {words[0]} on {self.node} timed out")
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()
        reason = said[-1] if said else f"exit {result.returncode}"
        raise HavirtError(f"virsh {words[0]} on {self.node}: {reason}")
