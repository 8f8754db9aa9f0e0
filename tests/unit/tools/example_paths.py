"""Where the example inventories and the captured tool output are (imported by the tests
by this unique module name: `from conftest import` would depend on collection order)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "cluster-templates"
DATA = Path(__file__).parent / "data"
