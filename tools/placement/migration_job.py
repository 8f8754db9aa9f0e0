"""What libvirt says of a live migration while the move watcher follows it: while
crm_mon shows a guest migrating, its source node's libvirt is asked (through the
environment's ``LibvirtView``) for the domain's job, and the move's detail says how far
it is (``migrating: 312 of 1024 MiB left, 69 %, 85 MiB/s``). When libvirt says nothing
(no job, the node cannot be read, the default view), the detail stays ``migrating``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from havirt.tools.placement.guest_move import MOVING, GuestMove
from havirt.tools.placement.recovery import in_flight

if TYPE_CHECKING:
    from havirt.tools.cluster.env import ClusterEnv
    from havirt.tools.pacemaker import ClusterStatus
    from havirt.tools.pacemaker.cib import CibConfig
    from havirt.tools.records.scan import MigrationJob

MIGRATING = "migrating"  # the watcher's detail while crm_mon shows the guest migrating
JOB_EVERY = 1.0  # seconds between two reads of one guest's job
MIB = 1024 * 1024


def job_text(job: MigrationJob, before: MigrationJob | None = None) -> str:
    """``312 of 1024 MiB left, 69 %``, and the speed since ``before`` (an earlier reading
    of the same job) when libvirt's own elapsed time has advanced."""
    done = 100 * (job.total - job.remaining) // job.total if job.total else 0
    text = f"{job.remaining // MIB} of {job.total // MIB} MiB left, {max(0, min(done, 100))} %"
    if before is not None and job.elapsed_ms > before.elapsed_ms:
        sent = job.processed - before.processed
        if sent >= 0:
            speed = sent * 1000 / (job.elapsed_ms - before.elapsed_ms) / MIB
            text += f", {speed:.0f} MiB/s"
    return text


class JobNotes:
    """The job of each guest being live-migrated, in its move's detail (the module doc).
    ``domains``: the libvirt domain of each guest (default: the guest's name)."""

    def __init__(self, env: ClusterEnv, config: CibConfig, domains: Mapping[str, str]) -> None:
        self.view, self.clock = env.libvirt, env.monotonic
        self.config = config
        self.domains = dict(domains)
        self.shown: dict[str, str] = {}  # guest -> the detail set here
        self.jobs: dict[str, MigrationJob] = {}  # guest -> its last reading
        self.asked: dict[str, float] = {}  # guest -> when its job was last read
        self.last: dict[str, MigrationJob] = {}  # guest -> libvirt's last reading, kept

    def forget(self, move: GuestMove) -> None:
        """Before the watcher judges a poll: the detail set here is ``migrating`` again
        (the watcher's own word, which it clears or replaces as it always does)."""
        if move.detail and move.detail == self.shown.get(move.guest):
            move.detail = MIGRATING

    def note(self, move: GuestMove, status: ClusterStatus) -> None:
        """After the watcher judged a poll: while the guest migrates, its job's progress
        (read at most every :data:`JOB_EVERY` seconds; in between the last text stays)."""
        guest = move.guest
        migrating = move.state == MOVING and in_flight(status, guest) == "Migrating"
        if not migrating or move.detail != MIGRATING or move.source is None:
            self.shown.pop(guest, None)
            self.jobs.pop(guest, None)
            return
        now = self.clock()
        if guest in self.asked and now - self.asked[guest] < JOB_EVERY:
            move.detail = self.shown.get(guest, move.detail)
            return
        self.asked[guest] = now
        job = self.view.job(status, self.config, move.source, self.domains.get(guest, guest))
        if job is None:
            self.shown.pop(guest, None)
            self.jobs.pop(guest, None)
            return
        move.detail = self.shown[guest] = f"{MIGRATING}: {job_text(job, self.jobs.get(guest))}"
        self.jobs[guest] = self.last[guest] = job
