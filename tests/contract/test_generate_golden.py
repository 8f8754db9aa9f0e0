"""Golden files of `havirt generate` for every example inventory in cluster-templates/.

Every generated file is compared with tests/golden/generate/<example>/<file>;
`pytest --regenerate-golden` rewrites them (and drops files no longer generated).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from havirt.tools import generate
from havirt.tools.inventory import load

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "cluster-templates").glob("*.toml"))
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "generate"


def _render(path: Path) -> dict[str, str]:
    inv = load(str(path))
    files = generate.render(inv)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    files[generate.MANIFEST] = generate.manifest_text(generate.manifest(inv, digest, files))
    return files


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_generated_files_match_golden(example: Path, golden, request) -> None:
    files = _render(example)
    folder = GOLDEN / example.stem
    for rel, text in files.items():
        golden(f"generate/{example.stem}/{rel}", text)
    stale = (
        sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        if folder.exists()
        else []
    )
    stale = [rel for rel in stale if rel not in files]
    if request.config.getoption("--regenerate-golden"):
        for rel in stale:
            (folder / rel).unlink()
    else:
        assert stale == [], f"golden files no longer generated: {stale} (--regenerate-golden)"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_generation_is_deterministic(example: Path) -> None:
    assert _render(example) == _render(example)
