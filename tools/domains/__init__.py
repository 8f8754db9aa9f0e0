"""The definition store: each guest's domain XML, versioned, on shared storage
(``store.py``), and what a definition must be before it is stored (``definition.py``)."""

from __future__ import annotations

from havirt.tools.domains.definition import Definition, check_definition, check_guest_name
from havirt.tools.domains.store import Change, DefinitionStore, Revision, read_definition

__all__ = [
    "Change",
    "Definition",
    "DefinitionStore",
    "Revision",
    "check_definition",
    "check_guest_name",
    "read_definition",
]
