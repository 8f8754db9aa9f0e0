"""The world a command runs in: this machine's, or the one a test hands in.

The click context object may hold a :class:`ClusterWorld` (tests pass one:
``invoke(..., obj=ClusterWorld(...))``); each part it leaves out is this machine's.
It makes the cluster commands' :class:`~havirt.tools.cluster.env.ClusterEnv` and
carries the other boundaries havirt's commands reach: the Pacemaker adapter of the
commands that only read or push the CIB, how ``domain list`` reads its sources and
``domain start`` each node's libvirt, how
``validate`` connects over SSH, whether a directory is writable, and for the
definition store's commands (``domain edit|revert|import``) who changes, when, the
editor and where its copy goes.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import shlex
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click
from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.cluster.lock import Holder, LockEnv, LockRecord
from havirt.tools.errors import BadRequest

if TYPE_CHECKING:
    from collections.abc import Sequence

    from havirt.tools.cluster.env import LibvirtView
    from havirt.tools.pacemaker import Pacemaker, PacemakerAdapter
    from havirt.tools.records import Sources
    from havirt.tools.validate.engine import Connector

    # (connect template, timeout, all nodes) -> what domain/node list show
    SourcesReader = Callable[[str | None, float, bool], Sources]
    # (connect template, timeout, all nodes) -> how domain start reads each node's libvirt
    LibvirtReader = Callable[[str | None, float, bool], LibvirtView]
    # (known_hosts, identities, ssh_config, connect timeout) -> validate's connector
    ConnectorMaker = Callable[[Sequence[str], Sequence[str], str | None, float], Connector]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _admin() -> str:
    """Who changes a definition: this user, and the one behind sudo when there is one."""
    name = _user()
    sudo = os.environ.get("SUDO_USER")
    return f"{sudo} (as {name})" if sudo and sudo != name else name


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _live_editor(path: str) -> None:
    """Run the admin's $VISUAL or $EDITOR (else vi) on ``path``, like virsh edit."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        done = subprocess.run([*shlex.split(editor), path], check=False)
    except (OSError, ValueError) as exc:
        raise BadRequest(
            f"cannot run the editor {editor!r}: {exc}", "set EDITOR to an editor that exists"
        ) from None
    if done.returncode != 0:
        raise BadRequest(
            f"the editor {editor!r} exited with {done.returncode}",
            "save and quit the editor normally to store the change",
        )


def waiting_printer(now: Callable[[], dt.datetime], quiet: bool) -> Callable[[LockRecord], None]:
    """Says on stderr whom a command waits for (once per holder)."""

    def waiting(record: LockRecord) -> None:
        if not quiet:
            click.echo(f"havirt: waiting for the cluster lock: {record.describe(now())}", err=True)

    return waiting


def live_lock_env(quiet: bool, now: Callable[[], dt.datetime]) -> LockEnv:
    """The lock's view of this machine: this process, the clocks, /proc."""
    from havirt.ocf.host import Host

    host = Host()
    started = host.process_started(os.getpid())

    def alive(pid: int, start: int) -> bool:
        begun = host.process_started(pid)
        return begun is not None and (not start or abs(begun - start) < 2)

    return LockEnv(
        me=Holder("", _user(), host.node_name(), os.getpid(), int(started or 0)),
        now=now,
        monotonic=time.monotonic,
        sleep=time.sleep,
        alive=alive,
        new_token=lambda: uuid.uuid4().hex,
        waiting=waiting_printer(now, quiet),
    )


def _live_pacemaker() -> Pacemaker:
    from havirt.tools.pacemaker import Pacemaker

    return Pacemaker()


def _live_sources(template: str | None, timeout: float, all_nodes: bool) -> Sources:
    """Read crm_mon, the CIB and every node's libvirt: Pacemaker from the command's
    world, libvirt through the real scanner."""
    from havirt.tools import records

    return records.gather(
        command_world().pacemaker(),
        records.LibvirtScanner(),
        template=template,
        timeout=timeout,
        all_nodes=all_nodes,
    )


def _live_libvirt(template: str | None, timeout: float, all_nodes: bool) -> LibvirtView:
    """Every node's libvirt through the real scanner, read when the command asks."""
    from havirt.tools import records

    return records.NodesLibvirt(records.LibvirtScanner(), template, timeout, all_nodes)


def _live_connector(
    known_hosts: Sequence[str],
    identities: Sequence[str],
    ssh_config: str | None,
    connect_timeout: float,
) -> Connector:
    from havirt.tools.validate import ssh  # fabric and paramiko: only when validate runs

    return ssh.make_connector(known_hosts, identities, ssh_config, connect_timeout)


def _live_writable(directory: str) -> bool:
    from havirt.tools.userinput import writable

    return writable(directory)


@dataclass(frozen=True)
class ClusterWorld:
    """Where a command's environment and boundaries come from: the click context
    object's, when it is one of these, else this machine's (see the module doc).
    Every part left out is this machine's."""

    make: Callable[[bool], ClusterEnv] | None = None  # quiet (no lock-waiting lines) -> env
    pacemaker: Callable[[], PacemakerAdapter] = _live_pacemaker  # also that of the live env
    sources: SourcesReader = _live_sources  # domain list|locate, node list
    libvirt: LibvirtReader = _live_libvirt  # domain start: copies outside Pacemaker
    connector: ConnectorMaker = _live_connector  # validate's SSH
    writable: Callable[[str], bool] = _live_writable  # may an output go into this directory
    # the definition store's commands (tools/cli/domains.py):
    who: Callable[[], str] = _admin  # who changes a definition
    now: Callable[[], dt.datetime] = _now  # when
    edit: Callable[[str], None] = _live_editor  # edits the file in place
    scratch: Callable[[], str] = tempfile.gettempdir  # where the editor's copy goes
    schemas: str | None = None  # libvirt's RelaxNG schemas (None: the installed ones)


def command_world() -> ClusterWorld:
    """The world of the click command running now: the one passed as the context
    object, else this machine's."""
    ctx = click.get_current_context(silent=True)
    world = ctx.find_object(ClusterWorld) if ctx is not None else None
    return world if world is not None else ClusterWorld()


def live_env(quiet: bool = False, pacemaker: PacemakerAdapter | None = None) -> ClusterEnv:
    """This machine: the live cluster's tools (or ``pacemaker``), the real clocks, this
    process."""
    return ClusterEnv(
        pacemaker=pacemaker if pacemaker is not None else _live_pacemaker(),
        monotonic=time.monotonic,
        now=_now,
        sleep=time.sleep,
        lock=live_lock_env(quiet, _now),
    )


def command_env(quiet: bool = False) -> ClusterEnv:
    """The environment of the click command running now (see the module doc)."""
    world = command_world()
    return world.make(quiet) if world.make is not None else live_env(quiet, world.pacemaker())
