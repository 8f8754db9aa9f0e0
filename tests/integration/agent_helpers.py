"""Running an installed OCF agent inside a lab node, as Pacemaker would run it there.

Shared by the integration tests of every agent (importable as ``agent_helpers``;
the ``installed_agents`` fixture in conftest.py installs them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from havirt.tools.lab import Lab


class AgentRun:
    """One action's exit code, stderr and wall time (measured around the node's exec)."""

    def __init__(self, rc: int, stderr: str, seconds: float) -> None:
        self.rc = rc
        self.stderr = stderr
        self.seconds = seconds

    @property
    def reason(self) -> str | None:
        lines = [x for x in self.stderr.splitlines() if x.startswith("ocf-exit-reason:")]
        return lines[-1].split(":", 1)[1] if lines else None

    def __repr__(self) -> str:
        return f"<rc={self.rc} {self.seconds:.1f}s stderr={self.stderr[-800:]!r}>"


def run_ocf(
    lab: Lab,
    node: str,
    agent: str,
    action: str,
    resource: str,
    reskeys: Mapping[str, str],
    timeout_ms: int = 30000,
    interval_ms: int = 0,
    extra_env: Mapping[str, str] | None = None,
) -> AgentRun:
    """Run ``agent action`` in ``node`` with OCF_RESKEY_* from ``reskeys``."""
    env = {
        "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RESOURCE_INSTANCE": resource,
        "OCF_RESKEY_CRM_meta_timeout": str(timeout_ms),
        "OCF_RESKEY_CRM_meta_interval": str(interval_ms),
        "HA_RSCTMP": "/run/resource-agents",
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        **{f"OCF_RESKEY_{key}": value for key, value in reskeys.items()},
        **(extra_env or {}),
    }
    start = time.monotonic()
    result = lab.nodes[node].exec([agent, action], env=env, timeout=timeout_ms / 1000 + 30)
    return AgentRun(result.returncode, result.stderr, time.monotonic() - start)


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
