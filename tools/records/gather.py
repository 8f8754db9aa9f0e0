"""Reading the records' sources: crm_mon and the CIB (in parallel), each guest's config
file, and every node's libvirt (in parallel, each bounded by a timeout)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from havirt.tools.pacemaker import ClusterStatus, PacemakerAdapter
from havirt.tools.pacemaker.cib import CibConfig, Primitive, parse_config
from havirt.tools.records.model import GuestIdentity, RecordsError, Sources
from havirt.tools.records.scan import (
    DEFAULT_TIMEOUT,
    MigrationJob,
    NodeScan,
    Scanner,
    local_node,
    node_uris,
    read_job,
)


def _parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run blocking calls at once (tools waiting on Pacemaker's daemons, loading
    libvirt.so); the first failure is raised once all are done."""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(1, len(calls))]
    for thread in threads:
        thread.start()
    run(0)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def identity(primitive: Primitive) -> GuestIdentity:
    """The domain a guest resource runs: the ``<name>`` (and ``<uuid>``) of its config file,
    read here (shared storage: every node sees it), else the resource id."""
    from havirt.agents.guest import domain_config
    from havirt.ocf.errors import OcfError

    path = primitive.params.get("config")
    if not path:
        return GuestIdentity(primitive.id, primitive.id, problem="no config parameter")
    try:
        parsed = domain_config.load(path)
    except OcfError as exc:
        return GuestIdentity(primitive.id, primitive.id, config=path, problem=exc.reason)
    return GuestIdentity(primitive.id, parsed.name, parsed.uuid, path)


def gather(
    pacemaker: PacemakerAdapter,
    scanner: Scanner,
    *,
    template: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    all_nodes: bool = False,
    hostname: str | None = None,
) -> Sources:
    """Everything the records need. Only the nodes online in Pacemaker are asked, unless
    ``all_nodes``; ``template`` overrides how a node's libvirt is reached."""
    if timeout <= 0:
        raise RecordsError(f"timeout must be more than 0 s (got {timeout:g})")
    status, cib, _ = _parallel(
        pacemaker.status, lambda: pacemaker.cib_xml("configuration"), scanner.prepare
    )
    try:
        config = parse_config(cib)
    except ValueError as exc:  # lxml's XMLSyntaxError is a ValueError too
        raise RecordsError(f"cannot read the CIB's configuration: {exc}") from None
    identities = {g.id: identity(g) for g in config.guests}
    local = local_node([n.name for n in status.nodes], hostname)
    every = scan_nodes(
        scanner,
        status,
        config,
        template=template,
        timeout=timeout,
        all_nodes=all_nodes,
        local=local,
    )
    return Sources(status, config, identities, every, local)


def scan_nodes(
    scanner: Scanner,
    status: ClusterStatus,
    config: CibConfig,
    *,
    template: str | None,
    timeout: float,
    all_nodes: bool,
    local: str | None,
) -> dict[str, NodeScan]:
    """Every cluster node's libvirt listing (``scanner`` prepared): the nodes online in
    Pacemaker are asked, the others too with ``all_nodes`` (else ``asked`` is False);
    ``local`` is the node this runs on (its local hypervisor URI)."""
    names = [n.name for n in status.nodes]
    uris = node_uris(names, config.guests, template=template, local=local)
    ask = {n.name: uris[n.name] for n in status.nodes if all_nodes or n.online}
    scans = scanner.scan(ask, timeout) if ask else {}
    return {n: scans.get(n) or NodeScan(n, uris[n], asked=False) for n in names}


@dataclass(frozen=True)
class NodesLibvirt:
    """Each node's libvirt, read when asked (the live
    :class:`~havirt.tools.cluster.env.LibvirtView` of ``havirt domain start``): as
    :func:`gather` reads it, with the same ``template``, ``timeout`` and ``all_nodes``."""

    scanner: Scanner
    template: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    all_nodes: bool = False
    hostname: str | None = None  # this machine's (None: uname -n)
    # reads one domain's job on one node (URI, domain, timeout): scan.read_job unless given
    read_job: Callable[[str, str, float], MigrationJob | None] = read_job
    # the nodes whose job read failed, with why: not asked again
    unreadable: dict[str, str] = field(default_factory=dict, compare=False)

    def domains(self, status: ClusterStatus, config: CibConfig) -> dict[str, NodeScan]:
        self.scanner.prepare()
        return scan_nodes(
            self.scanner,
            status,
            config,
            template=self.template,
            timeout=self.timeout,
            all_nodes=self.all_nodes,
            local=self._local(status),
        )

    def _local(self, status: ClusterStatus) -> str | None:
        return local_node([n.name for n in status.nodes], self.hostname)

    def job(
        self, status: ClusterStatus, config: CibConfig, node: str, domain: str
    ) -> MigrationJob | None:
        """``domain``'s job on ``node``, read as :meth:`domains` reads that node; None
        when there is none or the node cannot be read (then it is not asked again)."""
        if node in self.unreadable:
            return None
        try:
            uris = node_uris(
                [n.name for n in status.nodes],
                config.guests,
                template=self.template,
                local=self._local(status),
            )
            return self.read_job(uris[node], domain, self.timeout)
        except Exception as exc:  # best effort: a follower never fails on it
            self.unreadable[node] = str(exc) or type(exc).__name__
            return None

    def identity(self, primitive: Primitive) -> GuestIdentity:
        return identity(primitive)
