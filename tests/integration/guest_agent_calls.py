"""Running an installed OCF agent inside a lab node, as pacemaker-execd would.

Shared by the integration tests of the agents (importable as ``guest_agent_calls``:
pytest puts this folder on ``sys.path``). The agent itself comes from the
``agent_path`` fixture in conftest.py.
"""

from __future__ import annotations

import os
import time

from havirt.tools.lab import Lab, LabGuest

SUCCESS, GENERIC, NOT_RUNNING = 0, 1, 7


class AgentRun:
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


def run_agent(
    lab: Lab,
    node: str,
    agent: str,
    action: str,
    guest: LabGuest,
    timeout_ms: int = 30000,
    interval_ms: int = 0,
    **reskeys: str,
) -> AgentRun:
    env = {
        "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RESOURCE_INSTANCE": guest.name,
        "OCF_RESKEY_config": guest.node_xml_path,
        "OCF_RESKEY_CRM_meta_timeout": str(timeout_ms),
        "OCF_RESKEY_CRM_meta_interval": str(interval_ms),
        "HA_RSCTMP": "/run/resource-agents",
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }
    for key, value in reskeys.items():
        env[f"OCF_RESKEY_{key}"] = value
    start = time.monotonic()
    result = lab.nodes[node].exec([agent, action], env=env, timeout=timeout_ms / 1000 + 30)
    return AgentRun(result.returncode, result.stderr, time.monotonic() - start)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def started(lab: Lab, agent: str, guest: LabGuest, node: str = "node1", **reskeys: str) -> None:
    run = run_agent(lab, node, agent, "start", guest, timeout_ms=60000, **reskeys)
    assert run.rc == SUCCESS, run
    guest.wait_console(timeout=60)
