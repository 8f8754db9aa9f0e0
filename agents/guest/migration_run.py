"""How ocf:havirt:VirtualDomain's migrate_to runs libvirt's migration job: started
with its bandwidth, followed with progress in the log, aborted before the deadline
(by the agent near it, or by the watchdog when the agent cannot answer), and judged
afterwards (a migration that completed just before its abort landed is a success).
Loaded by migrate_to only: the monitor never imports this module.
"""

from __future__ import annotations

from havirt.agents.guest import migration
from havirt.agents.guest.domain_state import RUNNING, DomainState, judge
from havirt.ocf.agent import ActionContext

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable

    from havirt.agents.libvirt.protocols import Domain, MigrationJob
    from havirt.ocf.environment import Deadline

# libvirt's "unlimited" migration bandwidth for QEMU, in MiB/s (INT64_MAX bytes/s).
MIGRATION_SPEED_UNLIMITED = (2**63 - 1) >> 20
PROGRESS_POLL = 0.5  # seconds between looks at a running migration job
PROGRESS_LOG = 2.0  # seconds between progress lines in the log
ABORT_RETRY = 0.2  # seconds between the watchdog's aborts while libvirt has no job yet


class MigrationRun:
    """One migration job of migrate_to. ``abort`` is how the agent aborts the job near
    the deadline (:func:`abort_migration`; the agent's method, so a test agent can
    replace it)."""

    def __init__(self, abort: Callable[..., bool]) -> None:
        self.abort = abort

    def run(
        self,
        ctx: ActionContext,
        dom: Domain,
        dest_uri: str,
        data_uri: str | None,
        flags: int,
        speed: int,
        downtime: int,
    ) -> str | None:
        """Migrate; log progress; abort before the deadline. None on success.

        Until it answers, the watchdog may answer for it: ``ctx.on_timeout`` then
        aborts the job first, so no migration goes on behind a failure."""
        plan = migration.migration_budget(ctx.deadline.total)
        settle_by = ctx.answer_by.sooner(plan.final)
        abort_at = settle_by.sooner(plan.abort_reserve)
        job = dom.start_migration(dest_uri, data_uri, flags, speed, ctx.deadline.remaining())
        ctx.on_timeout = lambda seconds: self._abort_at_timeout(ctx, dom, job, seconds)
        try:
            aborted = self._follow_migration(ctx, dom, job, abort_at, settle_by, plan, downtime)
            return self._migration_outcome(ctx, dom, job, aborted, plan)
        finally:
            ctx.on_timeout = None

    def _follow_migration(
        self,
        ctx: ActionContext,
        dom: Domain,
        job: MigrationJob,
        abort_at: Deadline,
        settle_by: Deadline,
        plan: migration.MigrationBudget,
        downtime: int,
    ) -> bool:
        """Wait for the job, logging progress, until it ends; abort it at ``abort_at``
        and stop waiting at ``settle_by``. True when it was aborted."""
        from havirt.agents.libvirt.boundary import HypervisorError

        aborted = landed = False
        last_log = -PROGRESS_LOG
        # Never sleep past the next point in time that matters.
        while not job.wait(min(PROGRESS_POLL, (settle_by if aborted else abort_at).remaining())):
            if aborted:
                if settle_by.expired():
                    return True
                if not landed:  # e.g. libvirt had not begun the job yet: try again
                    landed = self.abort(
                        ctx, dom, min(plan.abort_call, settle_by.remaining()), again=True
                    )
                continue
            if abort_at.expired():
                landed = self.abort(ctx, dom, plan.abort_call)
                aborted = True
                continue
            try:  # bounded by the abort: a slow answer must not delay it
                progress = dom.job_progress(limit=abort_at.remaining())
            except HypervisorError:
                continue
            if progress.active and downtime:
                try:
                    dom.set_migration_downtime(downtime)
                    downtime = 0
                except HypervisorError as exc:
                    ctx.log.debug(f"setting the downtime failed: {exc}")
            if progress.active and ctx.host.monotonic() - last_log >= PROGRESS_LOG:
                last_log = ctx.host.monotonic()
                done = progress.data_processed / progress.data_total if progress.data_total else 0
                ctx.log.info(
                    f"{dom.name}: migration {done:.0%} after {progress.elapsed_ms / 1000:.1f}s, "
                    f"{progress.data_remaining // 2**20} MiB to go"
                )
        return aborted

    def _abort_at_timeout(
        self, ctx: ActionContext, dom: Domain, job: MigrationJob, seconds: float
    ) -> str:
        """The watchdog's step for migrate_to: abort the job before the failure is answered,
        so the migration cannot complete after Pacemaker was told it failed."""
        from havirt.agents.libvirt.boundary import NO_DOMAIN, OPERATION_INVALID, HypervisorError

        end = ctx.host.monotonic() + seconds
        while True:
            if job.wait(0.0):
                return "the migration job had already ended"
            try:
                dom.abort_job(max(0.1, end - ctx.host.monotonic()))
                break
            except HypervisorError as exc:
                if exc.code == NO_DOMAIN:
                    return "the migration job had already ended (the guest left this node)"
                if exc.code != OPERATION_INVALID:
                    return f"aborting the migration job failed: {exc}"
                if end - ctx.host.monotonic() < 2 * ABORT_RETRY:
                    return f"libvirt had no migration job to abort: {exc}"
            job.wait(ABORT_RETRY)  # the migrate call has not begun libvirt's job yet
        ended = job.wait(end - ctx.host.monotonic())
        return "migration job aborted by the watchdog; " + (
            "the job ended" if ended else "libvirt is still ending the job"
        )

    def _migration_outcome(
        self,
        ctx: ActionContext,
        dom: Domain,
        job: MigrationJob,
        aborted: bool,
        plan: migration.MigrationBudget,
    ) -> str | None:
        from havirt.agents.libvirt.boundary import NO_DOMAIN, HypervisorError

        ended = job.wait(0.0)
        if not aborted:
            return None if job.error is None else f"failed: {job.error}"
        # The migration may have completed just before the abort landed.
        try:
            state = dom.state(limit=plan.final / 2)
        except HypervisorError as exc:
            if exc.code != NO_DOMAIN:
                return f"was aborted at the timeout; its state on this node is unknown ({exc})"
            state = DomainState("undefined", "unknown")  # transient and gone: it left
        if not ended:
            ctx.log.warn(f"{dom.name}: libvirt had not ended the aborted migration job yet")
        if judge(state).outcome == RUNNING:
            if state.state == "running":
                return "was aborted at the timeout; the guest still runs on this node"
            return f"was aborted at the timeout; the guest is {state} on this node"
        if job.error is not None:
            return f"failed: {job.error}"
        if not ended:
            return f"was aborted at the timeout; the guest is {state} on this node"
        return None


def abort_migration(ctx: ActionContext, dom: Domain, seconds: float, again: bool = False) -> bool:
    """The agent's own abort, near the deadline; waits at most ``seconds`` for libvirt.

    False when it did not land: libvirt had no job (the migrate call may not have
    begun it yet) or did not answer; the caller tries again while it waits."""
    from havirt.agents.libvirt.boundary import NO_DOMAIN, OPERATION_INVALID, HypervisorError

    log = ctx.log.debug if again else ctx.log.warn
    log(f"{dom.name}: aborting the migration, the timeout is near")
    try:
        dom.abort_job(seconds)
    except HypervisorError as exc:
        if exc.code == NO_DOMAIN:
            ctx.log.info(f"{dom.name}: the migration ended before the abort ({exc})")
            return True
        if exc.code == OPERATION_INVALID:
            log(f"{dom.name}: libvirt has no migration job to abort (yet): {exc}")
        else:
            ctx.log.error(f"{dom.name}: abort failed: {exc}")
        return False
    ctx.log.info(f"{dom.name}: migration job aborted")
    return True


def set_migration_speed(ctx: ActionContext, dom: Domain, speed: int) -> None:
    """The guest's migration bandwidth limit, before the migration starts. 0 ("no
    limit") lifts a limit libvirt kept from before (an earlier migration_speed: the
    domain keeps it while it runs), else the next migrations would crawl."""
    from havirt.agents.libvirt.boundary import HypervisorError

    if speed:
        dom.set_migration_speed(speed)
        return
    try:
        dom.set_migration_speed(MIGRATION_SPEED_UNLIMITED)
    except HypervisorError as exc:  # unlimited is libvirt's default anyway
        ctx.log.debug(f"{dom.name}: lifting the migration speed limit: {exc}")
