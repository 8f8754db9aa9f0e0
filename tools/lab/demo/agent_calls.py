"""The agent demo's part of pacemaker-execd: one run of ocf:havirt:VirtualDomain inside
a lab node (environment variables, one action per run, the exit code is the answer),
recorded as an :class:`~havirt.tools.lab.demo.steps.AgentCall`, and the check of its
answer against the one a step expects."""

from __future__ import annotations

import os
from collections.abc import Callable

from havirt.ocf.exitcodes import OcfExit
from havirt.tools import install
from havirt.tools.lab import LabGuest
from havirt.tools.lab.demo.steps import AgentCall, Step, StepFailed
from havirt.tools.lab.node import LibvirtNode

AGENT_MODULE = "havirt.agents.virtual_domain"
INSTALLED_OCF_ROOT = "/usr/lib/ocf"
STATE_DIR = "/run/resource-agents"  # HA_RSCTMP inside a node (node-private /run)
# The lab's shared directory is no filesystem libvirt knows to be shared: --unsafe.
MIGRATION = {"migration_transport": "tcp", "migrate_options": "--unsafe"}


def rc_name(rc: int) -> str:
    try:
        return f"OCF_{OcfExit(rc).name}"
    except ValueError:
        return f"exit code {rc}"


def exit_reason(stderr: str) -> str | None:
    lines = [x for x in stderr.splitlines() if x.startswith("ocf-exit-reason:")]
    return lines[-1].split(":", 1)[1].strip() if lines else None


def agent_launcher_is_current(path: str) -> bool:
    """True if ``path`` is the launcher this havirt would install (same interpreter, code)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read() == install.launcher(AGENT_MODULE)
    except (OSError, UnicodeDecodeError):
        return False


def agent_env(
    guest: LabGuest, ocf_root: str, interval_ms: int, timeout_ms: int, **reskeys: str
) -> dict[str, str]:
    """The environment pacemaker-execd gives the agent for ``guest``."""
    env = {
        "OCF_ROOT": ocf_root,
        "OCF_RESOURCE_INSTANCE": guest.name,
        "OCF_RESOURCE_TYPE": "VirtualDomain",
        "OCF_RESOURCE_PROVIDER": install.PROVIDER,
        "OCF_RESKEY_config": guest.node_xml_path,
        "OCF_RESKEY_CRM_meta_timeout": str(timeout_ms),
        "OCF_RESKEY_CRM_meta_interval": str(interval_ms),
        "HA_RSCTMP": STATE_DIR,
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }
    env.update({f"OCF_RESKEY_{key}": value for key, value in {**MIGRATION, **reskeys}.items()})
    return env


def call_agent(
    node: LibvirtNode,
    agent: str,
    action: str,
    env: dict[str, str],
    clock: Callable[[], float],
) -> AgentCall:
    """Run ``agent action`` inside ``node`` with ``env``, timed on ``clock``."""
    timeout_ms = int(env["OCF_RESKEY_CRM_meta_timeout"])
    began = clock()
    result = node.exec([agent, action], env=env, timeout=timeout_ms / 1000 + 30)
    seconds = clock() - began
    lines = tuple(x for x in result.stderr.splitlines() if x.strip())
    return AgentCall(
        node=node.name,
        action=action,
        interval_ms=int(env["OCF_RESKEY_CRM_meta_interval"]),
        rc=result.returncode,
        rc_name=rc_name(result.returncode),
        seconds=round(seconds, 3),
        reason=exit_reason(result.stderr),
        log=lines,
    )


def expect(step: Step, call: AgentCall, want: int) -> None:
    """Record ``call`` in ``step``; :class:`StepFailed` if it did not answer ``want``."""
    step.calls.append(call)
    if call.rc != want:
        why = f": {call.reason}" if call.reason else ""
        raise StepFailed(
            f"{call.label} on {call.node} answered {call.rc} ({call.rc_name}), "
            f"expected {want} ({rc_name(want)}){why}"
        )
