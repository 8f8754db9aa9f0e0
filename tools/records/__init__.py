"""Record keeping: which guest runs where, according to Pacemaker and to libvirt.

``havirt node list``, ``havirt domain list`` and ``havirt domain locate`` are thin
renderings of this package: :func:`gather` reads crm_mon, the CIB and every node's
libvirt once; :func:`guests` and :func:`locate` join them guest by guest and flag
what is wrong (:mod:`.join`, :mod:`.flags`), :func:`nodes` node by node
(:mod:`.nodes`); the values they return are in :mod:`.model`. See docs/records.md.
"""

from __future__ import annotations

from havirt.tools.pacemaker.cib import CibConfig, Location, Primitive, parse_config
from havirt.tools.records.gather import NodesLibvirt, gather, identity, scan_nodes
from havirt.tools.records.join import guests, guests_on, locate
from havirt.tools.records.model import (
    DomainListing,
    Guest,
    GuestIdentity,
    GuestLocation,
    NodeRecord,
    RecordsError,
    Sources,
    Usage,
)
from havirt.tools.records.nodes import node_state, nodes
from havirt.tools.records.scan import (
    DEFAULT_TIMEOUT,
    LibvirtDomain,
    LibvirtScanner,
    NodeScan,
    Scanner,
    node_uris,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "CibConfig",
    "DomainListing",
    "Guest",
    "GuestIdentity",
    "GuestLocation",
    "LibvirtDomain",
    "LibvirtScanner",
    "Location",
    "NodeRecord",
    "NodeScan",
    "NodesLibvirt",
    "Primitive",
    "RecordsError",
    "Scanner",
    "Sources",
    "Usage",
    "gather",
    "guests",
    "guests_on",
    "identity",
    "locate",
    "node_state",
    "node_uris",
    "nodes",
    "parse_config",
    "scan_nodes",
]
