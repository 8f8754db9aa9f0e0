"""What a fence agent is: :class:`FenceAgent`, the base class whose callbacks an agent
implements, the :class:`FenceContext` they receive, and :class:`Plug`, one line of
``list``."""

from __future__ import annotations

from havirt.ocf.carried import Carrying
from havirt.ocf.fencing.options import COMMON_OPTIONS, FenceOption, OptionTable
from havirt.ocf.host import Host
from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from typing import Any, ClassVar

    from havirt.ocf.environment import Deadline
    from havirt.ocf.log import OcfLogger
    from havirt.ocf.params import Params
    from havirt.ocf.runner import Runner


class Plug(Record):
    """One line of ``list``: the plug, an alias (may be empty), and on/off/None."""

    _defaults = {"alias": "", "status": None}
    id: str
    alias: str
    status: str | None


class FenceContext(Carrying):
    """What the agent's callbacks receive."""

    def __init__(
        self,
        action: str,
        options: Params,
        log: OcfLogger,
        deadline: Deadline,
        runner: Runner | None,
        host: Host | None = None,
    ) -> None:
        self.action = action
        # The machine: programs, clock (the framework's and the agent's; a test's fake).
        self.host = Host() if host is None else host
        self.options = options
        self.log = log
        self.deadline = deadline  # the whole run's bound; libvirt calls use it
        self._runner = runner
        self.password: str | None = None  # set from password/_file/_script before connect
        self.state: object = None  # see carried(): what one callback leaves for the next

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            from havirt.ocf.runner import CommandRunner

            self._runner = CommandRunner()
        return self._runner

    @property
    def plug(self) -> str:
        plug: str = self.options.plug
        return plug


class FenceAgent:
    """Base of every havirt fence agent.

    A subclass declares ``name``, ``shortdesc``, ``longdesc``, ``vendor_url``
    and its own ``options``, and implements the callbacks below. Callbacks
    raise ``FenceError`` for a failure the admin must read.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1.0"
    shortdesc: ClassVar[str]
    longdesc: ClassVar[str]
    vendor_url: ClassVar[str] = ""
    options: ClassVar[tuple[FenceOption, ...]] = ()

    _table: ClassVar[OptionTable | None] = None

    @classmethod
    def option_table(cls) -> OptionTable:
        table: OptionTable | None = cls.__dict__.get("_table")  # never a base class's
        if table is None:
            table = cls._table = OptionTable((*COMMON_OPTIONS, *cls.options))
        return table

    def validate(self, ctx: FenceContext) -> None:
        """Checks across options, without touching the device; raise FenceError."""

    def connect(self, ctx: FenceContext) -> Any:
        """A session with the fence device, handed to the other callbacks."""
        return None

    def close(self, ctx: FenceContext, session: Any) -> None:
        """End the session; must not raise."""

    def get_power_status(self, ctx: FenceContext, session: Any, plug: str) -> str:
        """ON or OFF."""
        raise NotImplementedError

    def set_power_status(self, ctx: FenceContext, session: Any, plug: str, state: str) -> None:
        """Ask the device to turn ``plug`` ON or OFF; the framework verifies the outcome."""
        raise NotImplementedError

    def list_plugs(self, ctx: FenceContext, session: Any) -> list[Plug]:
        raise NotImplementedError

    def monitor(self, ctx: FenceContext, session: Any) -> None:
        """Is the device reachable and working? Listing its plugs says so."""
        self.list_plugs(ctx, session)
