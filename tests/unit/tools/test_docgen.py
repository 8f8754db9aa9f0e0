"""docgen: parameter tables embedded in guides between markers."""

from __future__ import annotations

import pytest
from havirt.agents.storage_pool import StoragePool
from havirt.tools import docgen


def test_the_table_replaces_what_was_between_the_markers() -> None:
    begin = docgen.EMBED_BEGIN.format(name="StoragePool")
    text = f"intro\n{begin}\nstale table\n{docgen.EMBED_END}\noutro\n"
    out = docgen.embed_parameters(text, StoragePool, "guide.md")
    assert out.startswith(f"intro\n{begin}\n| name | type |")
    assert "stale table" not in out and out.endswith(f"{docgen.EMBED_END}\noutro\n")
    assert "| `force_stop` | string | `refuse` |" in out
    assert docgen.embed_parameters(out, StoragePool, "guide.md") == out  # stable


def test_missing_markers_are_an_error() -> None:
    with pytest.raises(ValueError, match="markers"):
        docgen.embed_parameters("no markers here\n", StoragePool, "guide.md")
