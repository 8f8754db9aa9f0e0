"""Calls of the installed guest agent (ocf:havirt:VirtualDomain) inside a lab node.

Shared by the guest agent's integration tests (importable as ``guest_agent_calls``:
pytest puts this folder on ``sys.path``); built on :mod:`agent_helpers`. The agent
itself comes from the ``agent_path`` fixture in conftest.py.
"""

from __future__ import annotations

from agent_helpers import AgentRun, run_ocf, wait_until
from havirt.tools.lab import Lab, LabGuest

SUCCESS, GENERIC, NOT_RUNNING = 0, 1, 7

__all__ = ["GENERIC", "NOT_RUNNING", "SUCCESS", "AgentRun", "run_agent", "started", "wait_until"]


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
    return run_ocf(
        lab,
        node,
        agent,
        action,
        guest.name,
        {"config": guest.node_xml_path, **reskeys},
        timeout_ms=timeout_ms,
        interval_ms=interval_ms,
    )


def started(lab: Lab, agent: str, guest: LabGuest, node: str = "node1", **reskeys: str) -> None:
    run = run_agent(lab, node, agent, "start", guest, timeout_ms=60000, **reskeys)
    assert run.rc == SUCCESS, run
    guest.wait_console(timeout=60)
