"""What the dispatcher hands an agent's hooks besides its parameters: its environment.

An agent reaches the world only through this: its ``host`` (programs, the clock:
monotonic time, sleep, wall time; processes and signals, see ``ocf/host.py``), its
``runner`` for external commands, and its ``state_dir`` for small per-resource state.
An agent that needs more (the libvirt agents' hypervisor factory) declares a subclass
as its ``env_class``. The dispatcher builds the real one in one place
(``ResourceAgent.environment``), unless it is handed one: a test passes fakes in
instead of patching modules.

A plain class, not a dataclass: importing dataclasses costs the guest agent's monitor
(run every few seconds per guest) more than all of its own work.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from typing import Protocol, TypeVar

    from havirt.ocf.host import Host
    from havirt.ocf.runner import Runner

    E = TypeVar("E", bound="AgentEnv")

    class Holder(Protocol):  # an action's context (ocf.agent.ActionContext)
        agent_env: AgentEnv


class AgentEnv:
    """An agent's world for one action: the machine, its commands, its state directory."""

    __slots__ = ("host", "runner", "state_dir")

    def __init__(self, host: Host, runner: Runner, state_dir: str) -> None:
        self.host = host  # programs, clock, sleep, signals, /proc
        self.runner = runner  # external commands, each bounded by a timeout
        self.state_dir = state_dir  # per-resource state, emptied at boot (HA_RSCTMP)

    @classmethod
    def of(cls: type[E], ctx: Holder) -> E:
        """The context's environment, which the dispatcher built from the agent's
        ``env_class``: a ``cls`` (an agent handed another kind is a programming error)."""
        found = ctx.agent_env
        if not isinstance(found, cls):
            raise TypeError(f"the agent was handed {type(found).__name__}, not {cls.__name__}")
        return found
