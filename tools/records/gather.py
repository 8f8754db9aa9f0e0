"""Reading the records' sources: crm_mon and the CIB (in parallel), each guest's config
file, and every node's libvirt (in parallel, each bounded by a timeout)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from havirt.tools.pacemaker import PacemakerAdapter
from havirt.tools.pacemaker.cib import Primitive, parse_config
from havirt.tools.records.model import GuestIdentity, RecordsError, Sources
from havirt.tools.records.scan import DEFAULT_TIMEOUT, NodeScan, Scanner, local_node, node_uris


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
    names = [n.name for n in status.nodes]
    local = local_node(names, hostname)
    uris = node_uris(names, config.guests, template=template, local=local)
    ask = {n.name: uris[n.name] for n in status.nodes if all_nodes or n.online}
    scans = scanner.scan(ask, timeout) if ask else {}
    every = {n: scans.get(n) or NodeScan(n, uris[n], asked=False) for n in names}
    return Sources(status, config, identities, every, local)
