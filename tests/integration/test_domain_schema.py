"""A definition is checked against libvirt's own domain schema, as installed on this
machine (tools/domains/schema.py); libvirt's test driver gives a real definition."""

from __future__ import annotations

import subprocess

import pytest
from havirt.tools.domains.schema import check_schema
from havirt.tools.errors import BadRequest, HavirtError
from havirt.tools.userinput import parse_xml

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real() -> str:
    return subprocess.run(
        ["virsh", "-c", "test:///default", "dumpxml", "test"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_a_definition_libvirt_made_passes(real: str) -> None:
    check_schema(parse_xml(real, "test"), "test")


def test_an_unknown_element_is_refused_naming_it_and_its_line(real: str) -> None:
    bad = real.replace("<vcpu", "<vcpux").replace("</vcpu>", "</vcpux>")
    line = next(i for i, text in enumerate(bad.splitlines(), 1) if "<vcpux" in text)
    with pytest.raises(BadRequest) as caught:
        check_schema(parse_xml(bad, "web1.xml"), "web1.xml")
    assert caught.value.message == (
        f"web1.xml is not a libvirt domain definition (line {line}): "
        "Element domain has extra content: vcpux"
    )


def test_a_missing_schema_says_what_to_install(tmp_path) -> None:
    with pytest.raises(HavirtError, match=r"domain\.rng is missing"):
        check_schema(parse_xml("<domain/>", "x"), "x", directory=str(tmp_path))
