"""What a libvirt domain state means for Pacemaker: the one state table.

The libvirt boundary translates libvirt's integer states and reasons into the
names used here; this module decides, without any I/O, what a monitor answers.
docs/reference/state-table.md is generated from ``STATE_TABLE``.
"""

from __future__ import annotations

from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.record import Record

RUNNING = "running"
FAILED = "failed"
STOPPED = "stopped"


class DomainState(Record):
    state: str  # running, blocked, paused, shutdown, shutoff, crashed, pmsuspended, nostate
    reason: str  # libvirt's reason for that state, lower case (e.g. "ioerror", "migration")

    def __str__(self) -> str:
        return f"{self.state} ({self.reason})"


class Verdict(Record):
    outcome: str  # RUNNING, FAILED or STOPPED
    explanation: str

    @property
    def code(self) -> OcfExit:
        return {
            RUNNING: OcfExit.SUCCESS,
            FAILED: OcfExit.ERR_GENERIC,
            STOPPED: OcfExit.NOT_RUNNING,
        }[self.outcome]


# (state, reason or "*") -> (outcome, explanation). First match wins: specific
# reasons before the "*" of their state.
STATE_TABLE: tuple[tuple[str, str, str, str], ...] = (
    ("running", "*", RUNNING, "the guest is running"),
    ("blocked", "*", RUNNING, "the guest is running (blocked: a normal transient state)"),
    ("paused", "ioerror", FAILED, "the guest is paused after a disk I/O error (check its storage)"),
    ("paused", "watchdog", FAILED, "the guest is paused by its watchdog device"),
    ("paused", "crashed", FAILED, "the guest is paused after a guest kernel panic"),
    ("paused", "postcopy_failed", FAILED, "the guest is paused: a post-copy migration failed"),
    ("paused", "api_error", FAILED, "the guest is paused after a hypervisor API error"),
    ("paused", "migration", RUNNING, "the guest is paused for a live migration"),
    ("paused", "postcopy", RUNNING, "the guest is paused in a post-copy migration"),
    ("paused", "save", RUNNING, "the guest is paused while being saved"),
    ("paused", "dump", RUNNING, "the guest is paused while its memory is dumped"),
    ("paused", "snapshot", RUNNING, "the guest is paused while a snapshot is taken"),
    ("paused", "shutting_down", RUNNING, "the guest is paused while shutting down"),
    ("paused", "starting_up", RUNNING, "the guest is paused while starting up"),
    ("paused", "user", RUNNING, "the guest is paused by an administrator (counts as running)"),
    ("paused", "*", RUNNING, "the guest is paused (still counts as running)"),
    ("shutdown", "*", RUNNING, "the guest is shutting down"),
    ("pmsuspended", "*", RUNNING, "the guest suspended itself to RAM (still counts as running)"),
    ("crashed", "*", FAILED, "the guest crashed and is kept in the crashed state"),
    ("shutoff", "crashed", STOPPED, "the guest is shut off after it crashed"),
    ("shutoff", "failed", STOPPED, "the guest is shut off: it failed to start"),
    ("shutoff", "*", STOPPED, "the guest is shut off"),
    ("nostate", "*", RUNNING, "the hypervisor reports no state (never taken as stopped)"),
    ("undefined", "*", STOPPED, "the hypervisor does not know the guest"),
)


def judge(state: DomainState) -> Verdict:
    for table_state, table_reason, outcome, explanation in STATE_TABLE:
        if table_state == state.state and table_reason in ("*", state.reason):
            return Verdict(outcome, explanation)
    # An unknown future libvirt state: never claim "stopped" for something we do not know.
    return Verdict(RUNNING, f"unknown hypervisor state {state}: treated as running")
