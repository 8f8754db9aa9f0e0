"""A node with iSCSI pools behind the session seam, answering the scripts of
havirt.tools.validate.lun_probe and .rescan from answers captured on a real
iscsi-direct pool (lab node, tgtd target; tests/unit/validate/data/iscsi-direct-*),
with the script's own boundary in place of the captured one."""

from __future__ import annotations

import shlex
from pathlib import Path

from havirt.ocf.runner import CommandResult
from havirt.tools.validate.targets import Target

DATA = Path(__file__).parent / "data"
CAPTURED = "@@B"  # the boundary in the captured answers
LUN_ANSWER = (DATA / "iscsi-direct-lun-answer.txt").read_text()
POOLS_ANSWER = (DATA / "iscsi-direct-pools-answer.txt").read_text()
REAL_IQN = "iqn.2026-12.test.havirt:lc17417-tgt"
REAL_SERIAL = "HAVIRT-lc17417-tgt-1"


def boundary_of(command: str) -> str:
    script = shlex.split(command)[2]
    line = next(line for line in script.split("\n") if line.startswith("b="))
    return shlex.split(line)[0][2:]


def with_lun(answer: str, number: int, capacity: int, serial: str) -> str:
    """The captured LUN answer with one more data LUN."""
    volume = (
        f"{CAPTURED} vol unit:0:0:{number}\n<volume type='network'><name>unit:0:0:{number}"
        f"</name><capacity unit='bytes'>{capacity}</capacity></volume>\n{CAPTURED} serial\n"
        f"Unit Serial Number:[   {serial}]\n"
    )
    return answer.replace(f"\n{CAPTURED} end ", f"\n{volume}{CAPTURED} end ", 1)


class LunNode:
    """What one node answers: its pools listing and each refresh's LUNs (``luns``: the
    framed answer, or None for a failed refresh)."""

    def __init__(self, pools: str = POOLS_ANSWER, luns: str | None = LUN_ANSWER) -> None:
        self.pools = pools
        self.luns = luns
        self.commands: list[str] = []


class LunSession:
    def __init__(self, node: LunNode) -> None:
        self.node = node
        self.closed = False

    def run(self, command: str, timeout: float) -> CommandResult:
        self.node.commands.append(command)
        boundary = boundary_of(command)
        if "pool-refresh" in command or "vol-list" in command:
            text = self.node.luns
            if text is None:
                text = (
                    f"{CAPTURED} out pool0\n\n{CAPTURED} end pool0 1\n"
                    "error: failed to refresh pool 'luns': Failed to connect\n"
                )
        else:
            text = self.node.pools
        return CommandResult((command,), 0, text.replace(CAPTURED, boundary), "")

    def close(self) -> None:
        self.closed = True


class Unreachable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LunConnector:
    def __init__(self, nodes: dict[str, LunNode], down: tuple[str, ...] = ()) -> None:
        self.nodes = nodes
        self.down = down
        self.sessions: list[LunSession] = []

    def connect(self, target: Target) -> LunSession:
        if target.name in self.down:
            raise Unreachable(f"{target.name}: connection refused")
        session = LunSession(self.nodes[target.name])
        self.sessions.append(session)
        return session
