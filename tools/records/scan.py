"""Asking every node's libvirt, at once, what runs there and what is defined there.

Each node is asked through the libvirt boundary (``havirt.agents.libvirt.boundary``,
the only module that talks to libvirt; its listing goes through libvirt.so's C API
without importing libvirt-python), in a thread of its own, bounded by a per-node
timeout: a dead or hung node costs that timeout, never a hung command.

Which URI reaches a node: :func:`node_uris`. By default the one the guests' own
agents use to migrate to it (the VirtualDomain resources' ``hypervisor``,
``migration_transport``, ``migration_user``, ``migration_network_suffix`` and
``remoteuri``, through the agent's own :class:`havirt.agents.guest.migration.Route`),
and the local hypervisor URI for the node the command runs on; or a template
given by the admin (``qemu+ssh://root@{node}/system``).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from havirt.tools.errors import HavirtError
from havirt.tools.json_fields import fields_dict
from havirt.tools.pacemaker.cib import Primitive

DEFAULT_TIMEOUT = 5.0
LOCAL_URI = "qemu:///system"
# With no guest resource to learn from: the transport nearly every KVM cluster has.
FALLBACK_TEMPLATE = "qemu+ssh://{node}/system"
NODE_PLACEHOLDER = "{node}"


@dataclass(frozen=True)
class LibvirtDomain:
    """One domain as one node's libvirt lists it."""

    name: str
    uuid: str
    state: str  # running, paused, shutoff, ... (libvirt's state, lower case)
    reason: str  # booted, migration, ioerror, ...
    persistent: bool  # defined on that node (not a transient domain)

    @property
    def active(self) -> bool:
        return self.state != "shutoff"

    @property
    def migrating(self) -> bool:
        """One end of a live migration (the incoming copy waits paused for its memory)."""
        return self.reason in ("migration", "postcopy", "postcopy_failed")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class NodeScan:
    """What one node's libvirt said, or why it said nothing."""

    node: str
    uri: str
    asked: bool = True
    domains: tuple[LibvirtDomain, ...] = ()
    error: str | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.asked and self.error is None

    def to_dict(self) -> dict[str, object]:
        reachable = self.ok if self.asked else None
        return fields_dict(self, after={"asked": {"reachable": reachable}})


class Scanner(Protocol):
    """Lists the domains of the nodes (node name -> URI), each within ``timeout`` s."""

    def prepare(self) -> None:
        """Get ready to scan (called while Pacemaker is being read)."""

    def scan(self, targets: Mapping[str, str], timeout: float) -> dict[str, NodeScan]: ...


class LibvirtScanner:
    """The real one: every node in parallel, through the libvirt boundary, bounded on
    ``clock`` (this machine's monotonic clock unless a caller hands in another); each
    node is listed by ``scan_node`` (the libvirt boundary's :func:`scan_node` unless
    a caller hands in another, e.g. one that never answers)."""

    def __init__(
        self,
        clock: Callable[[], float] | None = None,
        scan_node: Callable[[str, str, float], NodeScan] | None = None,
    ) -> None:
        self.clock = clock
        self.scan_node = scan_node

    def prepare(self) -> None:
        from havirt.agents.libvirt.boundary import preload

        preload()  # loading libvirt.so takes as long as crm_mon: do both at once

    def scan(self, targets: Mapping[str, str], timeout: float) -> dict[str, NodeScan]:
        results: dict[str, NodeScan] = {}
        threads = []
        list_node = self.scan_node or scan_node
        for node, uri in targets.items():
            thread = threading.Thread(
                target=lambda n=node, u=uri: results.__setitem__(n, list_node(n, u, timeout)),
                name=f"libvirt-{node}",
                daemon=True,  # a node that never answers must not keep the command alive
            )
            thread.start()
            threads.append((node, uri, thread))
        clock = self.clock or time.monotonic
        end = clock() + timeout + 2.0  # the boundary's own bound, plus closing
        for node, uri, thread in threads:
            thread.join(max(0.0, end - clock()))
            if node not in results:
                results[node] = NodeScan(node, uri, error=f"no answer within {timeout:g} s")
        return {node: results[node] for node in targets}


def scan_node(node: str, uri: str, timeout: float) -> NodeScan:
    """One node's listing (never raises: a failure is the scan's ``error``)."""
    from havirt.agents.libvirt.boundary import Hypervisor, HypervisorError
    from havirt.ocf.environment import Deadline

    start = time.monotonic()
    hv = Hypervisor(uri, Deadline(timeout), connect_timeout=timeout)
    try:
        listed = hv.listing()
    except HypervisorError as exc:
        return NodeScan(node, uri, error=str(exc), seconds=_since(start))
    finally:
        hv.close()
    domains = tuple(
        LibvirtDomain(d.name, d.uuid.lower(), d.state.state, d.state.reason, bool(d.persistent))
        for d in sorted(listed, key=lambda d: d.name)
    )
    return NodeScan(node, uri, domains=domains, seconds=_since(start))


@dataclass(frozen=True)
class MigrationJob:
    """A domain's running job as its node's libvirt reports it (``jobStats``): bytes of
    data to send in all, sent so far and still to send, and how long it has run."""

    total: int
    processed: int
    remaining: int
    elapsed_ms: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def read_job(
    uri: str,
    domain: str,
    timeout: float,
    connect: Callable[[str, float], Any] | None = None,
) -> MigrationJob | None:
    """The job ``domain`` runs on the libvirt at ``uri`` (a live migration, when the
    cluster says it migrates), each call bounded by ``timeout``; None when the domain is
    not there or runs no job. Raises when libvirt cannot be read. ``connect`` opens a
    boundary ``Hypervisor`` (``uri``, timeout) unless a caller hands in another."""
    hv = (connect or _hypervisor)(uri, timeout)
    try:
        hv.connect()  # libvirt-python's connection (jobStats needs it), and only that one
        dom = hv.lookup(name=domain)
        progress = dom.job_progress(timeout) if dom is not None else None
    finally:
        hv.close()
    if progress is None or not progress.active or progress.data_total <= 0:
        return None
    return MigrationJob(
        progress.data_total,
        progress.data_processed,
        progress.data_remaining,
        progress.elapsed_ms,
    )


def _hypervisor(uri: str, timeout: float) -> Any:
    from havirt.agents.libvirt.boundary import Hypervisor
    from havirt.ocf.environment import Deadline

    return Hypervisor(uri, Deadline(timeout), connect_timeout=timeout)


def _since(start: float) -> float:
    return round(time.monotonic() - start, 3)


def local_node(nodes: Iterable[str], hostname: str | None = None) -> str | None:
    """The cluster node this command runs on, by host name (Pacemaker's default node
    name is ``uname -n``; a short name matches a full one)."""
    host = hostname if hostname is not None else os.uname().nodename
    names = list(nodes)
    if host in names:
        return host
    short = host.split(".", 1)[0]
    return next((n for n in names if n.split(".", 1)[0] == short), None)


def check_template(template: str) -> None:
    if NODE_PLACEHOLDER not in template:
        raise HavirtError(
            f"connect template '{template}' does not contain {NODE_PLACEHOLDER}",
            hint="give one URI with the node's place marked, e.g. 'qemu+ssh://root@{node}/system'",
        )
    from havirt.agents.guest.migration import check_uri

    problem = check_uri(template.replace(NODE_PLACEHOLDER, "node"), "a connect template")
    if problem:
        raise HavirtError(f"connect template: {problem}")


def node_uris(
    nodes: Sequence[str],
    guests: Sequence[Primitive],
    *,
    template: str | None = None,
    local: str | None = None,
) -> dict[str, str]:
    """The libvirt URI of each node (see the module docstring)."""
    if template:
        check_template(template)
        return {n: template.replace(NODE_PLACEHOLDER, n) for n in nodes}
    keys: tuple[str, ...] = ("hypervisor", "remoteuri", "migration_transport", "migration_user")
    keys += ("migration_network_suffix",)
    ways = Counter(tuple(g.params.get(k) or None for k in keys) for g in guests)
    if not ways:
        uris = {n: FALLBACK_TEMPLATE.replace(NODE_PLACEHOLDER, n) for n in nodes}
    else:
        from havirt.agents.guest.migration import Route

        (hypervisor, remote, transport, user, suffix), _count = ways.most_common(1)[0]
        hypervisor = hypervisor or LOCAL_URI
        route = Route(remoteuri=remote, transport=transport, user=user, network_suffix=suffix)
        uris = {n: route.remote_uri(hypervisor, n) for n in nodes}
        if local in uris and _is_local(hypervisor):
            uris[local] = hypervisor
    if local in uris and not guests:
        uris[local] = LOCAL_URI
    return uris


def _is_local(uri: str) -> bool:
    """A URI without a host (qemu:///system, qemu+unix:///system?socket=...)."""
    return uri.partition("://")[2].startswith("/")
