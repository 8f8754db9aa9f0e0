"""ocf:havirt:VirtualDomain whose own abort of a migration never returns.

A test hook for the watchdog path of migrate_to: the agent stays stuck where it
would abort the migration job, so the watchdog has to answer for it and abort the
job itself. Installed next to the real agent by the ``stuck_abort_agent`` fixture.
"""

from __future__ import annotations

import time

from havirt.agents.virtual_domain import VirtualDomain
from havirt.ocf.dispatcher import main as dispatch

HOOK_MESSAGE = "test hook: the agent's own abort of the migration hangs"


class StuckOwnAbort(VirtualDomain):
    def _abort_migration(self, ctx, dom, seconds):  # type: ignore[no-untyped-def]
        ctx.log.warn(HOOK_MESSAGE)
        time.sleep(3600)  # ended by the watchdog's os._exit


def main() -> None:
    dispatch(StuckOwnAbort)
