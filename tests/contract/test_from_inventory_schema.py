"""Every guest of the cluster templates, rendered by `havirt domain add --from-inventory`
(tools/domains/from_inventory.py), is a domain definition libvirt's own schema, as
installed on this machine, accepts. The rendering's content is unit-tested in
tests/unit/validate/test_domain_add_inventory.py (unit tests may not read host paths)."""

from __future__ import annotations

from pathlib import Path

import pytest
from havirt.tools.domains import from_inventory
from havirt.tools.domains.schema import SCHEMA_DIR, check_schema
from havirt.tools.inventory import load
from havirt.tools.userinput import parse_xml

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((REPO / "cluster-templates").glob("*.toml"))


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.stem for t in TEMPLATES])
@pytest.mark.parametrize("domain_type", from_inventory.DOMAIN_TYPES)
def test_every_templates_guest_renders_as_libvirt_accepts(template: Path, domain_type) -> None:
    if not (Path(SCHEMA_DIR) / "domain.rng").is_file():
        pytest.skip(f"not installed: {SCHEMA_DIR}/domain.rng (libvirt0)")
    inv = load(str(template))
    assert inv.guests, f"{template.name} declares no guest"
    for guest in inv.guests:
        text = from_inventory.render(
            inv, guest, lambda: "0b6a3c1e-5a2f-4c38-9d0e-2f4b1f8e7a11", domain_type
        )
        check_schema(parse_xml(text, guest.name), f"{template.name}: {guest.name}")
