"""docgen: generated tables spliced into guides between markers."""

from __future__ import annotations

import pytest
from havirt.agents.storage_pool import StoragePool
from havirt.tools.dev import docgen

BEGIN = "<!-- BEGIN generated parameters by `python -m havirt.tools.dev.docgen` -->\n"
END = "<!-- END generated parameters -->"


def test_the_table_replaces_what_was_between_the_markers() -> None:
    table = "\n".join(docgen.parameters_table(StoragePool)) + "\n"
    text = f"intro\n{BEGIN}stale table\n{END}\noutro\n"
    out = docgen.splice(text, "parameters", table)
    assert out.startswith(f"intro\n{BEGIN}| name | type |")
    assert "stale table" not in out and out.endswith(f"{END}\noutro\n")
    assert "| `force_stop` | string | `refuse` |" in out
    assert docgen.splice(out, "parameters", table) == out  # stable


def test_missing_markers_are_an_error() -> None:
    with pytest.raises(ValueError, match="markers"):
        docgen.splice("no markers here\n", "parameters", "table\n")
