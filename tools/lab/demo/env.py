"""The world `havirt demo` runs in, passed to it, never reached for.

The command parses its options, picks one of the two demos (the agent on a two-node
lab, :mod:`.demo`; the Pacemaker cluster, :mod:`.cluster_demo`), renders the steps it
yields and times the whole run. The demo it runs and the clock it times with come in
one :class:`DemoWorld`, found through the click context object like the cluster
commands' :class:`~havirt.tools.cli.world.ClusterWorld`: tests pass one
(``invoke(main, args, obj=DemoWorld(...))``), otherwise it is this machine's
(:func:`live_demo`, the monotonic clock). Only the standard library is imported here:
``havirt --help`` must not load the lab.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from havirt.tools.lab.demo.steps import Progress, Step


class RunDemo(Protocol):
    """A demo's ``run_demo`` as the command calls it (see :func:`.demo.run_demo`)."""

    def __call__(
        self,
        progress: Progress,
        *,
        keep: bool,
        lab_name: str,
        cache_dir: Path | str,
        clock: Callable[[], float],
    ) -> Generator[Step, None, None]: ...  # closed early on an error


@dataclass(frozen=True)
class Demo:
    """One demo: how to run it and how to take down a lab it left up (``--keep``)."""

    run: RunDemo
    take_down: Callable[[str], bool]  # lab name -> whether there was one to take down


def live_demo(agent_only: bool) -> Demo:
    """This machine's demo: the agent alone (``--agent``) or the cluster."""
    if agent_only:
        from havirt.tools.lab.demo import agent_demo as demo

        return Demo(run=demo.run_demo, take_down=demo.take_down)
    from havirt.tools.lab.demo import cluster_demo

    return Demo(run=cluster_demo.run_demo, take_down=cluster_demo.take_down)


@dataclass(frozen=True)
class DemoWorld:
    """Where `havirt demo` gets its demo and its clock (see the module doc)."""

    demo: Callable[[bool], Demo] = live_demo  # agent_only -> the demo to run
    # Times the whole run; time.monotonic as it is when the world is made.
    clock: Callable[[], float] = field(default_factory=lambda: time.monotonic)


def command_world() -> DemoWorld:
    """The world of the click command running now: the context object's, when it is a
    :class:`DemoWorld`, else this machine's."""
    import click

    ctx = click.get_current_context(silent=True)
    world = ctx.find_object(DemoWorld) if ctx is not None else None
    return world if world is not None else DemoWorld()
