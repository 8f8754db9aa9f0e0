"""Record keeping: which guest runs where, according to Pacemaker and to libvirt.

``havirt node list``, ``havirt domain list`` and ``havirt domain locate`` are thin
renderings of this package: :func:`gather` reads crm_mon, the CIB and every node's
libvirt once; :func:`guests`, :func:`nodes` and :func:`locate` join them and flag
what is wrong (see :mod:`.join`). See docs/records.md.
"""

from __future__ import annotations

from havirt.tools.pacemaker.cib import CibConfig, Location, Primitive, parse_config
from havirt.tools.records.gather import gather, identity
from havirt.tools.records.join import (
    DomainListing,
    Flag,
    Guest,
    GuestIdentity,
    GuestLocation,
    NodeRecord,
    RecordsError,
    Sources,
    Usage,
    guests,
    guests_on,
    locate,
    node_state,
    nodes,
)
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
    "Flag",
    "Guest",
    "GuestIdentity",
    "GuestLocation",
    "LibvirtDomain",
    "LibvirtScanner",
    "Location",
    "NodeRecord",
    "NodeScan",
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
]
