"""havirt's meta-data renderer against the schemas its consumers check, as installed on
this node (each test skips, saying what is missing, where a schema is not installed):

- resource-agents' ``ra-api-1.dtd``: OCF 1.0, what ocf-tester checks;
- pcs's ``ocf-1.0.rng`` / ``ocf-1.1.rng``: what ``pcs resource describe/create``
  needs to understand an agent of each version;
- resource-agents' ``metadata.rng``: the (stricter, order-sensitive) schema
  resource-agents holds its own shipped agents to. It is neither 1.0 nor 1.1:
  it knows neither ``reloadable`` nor ``deprecated`` and no ``time`` type
  (it says ``second``), so it only applies to a 1.0 rendering without time
  parameters.

The renderer's content (escaping, versions, attributes) is unit-tested in
tests/unit/ocf/test_ocf_metadata.py, with the same toy agents.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from havirt.ocf import metadata
from havirt.ocf.params import Deprecation, Parameter
from lxml import etree

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "ocf"))
from metadata_toys import LegacyReloadToy, NastyDefaultToy, NoTimeToy, parse, toy_xml
from ocf_toy import ToyAgent

RA_DTD = Path("/usr/share/resource-agents/ra-api-1.dtd")
RA_RNG = Path("/usr/share/resource-agents/metadata.rng")
PCS_RNG_10 = Path("/usr/share/pcs/data/ocf-1.0.rng")
PCS_RNG_11 = Path("/usr/share/pcs/data/ocf-1.1.rng")


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not installed")
    return path


@functools.cache
def _validator(path: Path):
    if path.suffix == ".dtd":
        return etree.DTD(str(path))
    return etree.RelaxNG(etree.parse(str(path)))


def assert_valid(xml: str, schema: Path) -> None:
    validator = _validator(need(schema))
    doc = parse(xml)
    ok = validator.validate(doc)
    assert ok, f"not valid against {schema}:\n{validator.error_log}\n{xml}"


@pytest.fixture(scope="module")
def xml10() -> str:
    return toy_xml((1, 0))


@pytest.fixture(scope="module")
def xml11() -> str:
    return toy_xml((1, 1))


# -- validity


def test_ocf10_valid_against_ra_api_dtd(xml10):
    assert_valid(xml10, RA_DTD)


def test_ocf10_valid_against_pcs_ocf10_rng(xml10):
    assert_valid(xml10, PCS_RNG_10)


def test_ocf11_valid_against_pcs_ocf11_rng(xml11):
    assert_valid(xml11, PCS_RNG_11)


def test_ocf11_is_not_claimed_valid_against_the_dtd(xml11):
    # reloadable/deprecated/reload-agent have no place in ra-api-1.dtd: this is
    # why the 1.0 rendering exists at all.
    assert not _validator(need(RA_DTD)).validate(parse(xml11))


def test_legacy_reload_rendering_valid():
    assert_valid(metadata.render(LegacyReloadToy, (1, 0)), RA_DTD)
    assert_valid(metadata.render(LegacyReloadToy, (1, 0)), PCS_RNG_10)
    assert_valid(metadata.render(LegacyReloadToy, (1, 1)), PCS_RNG_11)


def test_special_characters_everywhere_stay_valid():
    assert_valid(metadata.render(NastyDefaultToy, (1, 0)), RA_DTD)
    assert_valid(metadata.render(NastyDefaultToy, (1, 1)), PCS_RNG_11)


def test_resource_agents_metadata_rng_applies_to_1_0_without_time_parameters():
    assert_valid(metadata.render(NoTimeToy, (1, 0)), RA_RNG)


def test_agent_without_parameters_is_valid():
    class Bare(ToyAgent):
        parameters = ()

    xml = metadata.render(Bare, (1, 0))
    assert_valid(xml, RA_DTD)
    assert_valid(xml, PCS_RNG_10)
    assert_valid(metadata.render(Bare, (1, 1)), PCS_RNG_11)


XMLLINT = shutil.which("xmllint")


@pytest.mark.skipif(XMLLINT is None, reason="xmllint is not installed")
def test_xmllint_accepts_both_renderings(xml10, xml11, tmp_path):
    # As ocf-tester does it: validate against the DOCTYPE, from the DTD's folder.
    need(RA_DTD)
    tester = subprocess.run(
        [XMLLINT, "--noout", "--valid", "-"],
        input=xml10,
        capture_output=True,
        text=True,
        cwd=RA_DTD.parent,
        timeout=30,
    )
    assert tester.returncode == 0, tester.stderr
    assert tester.stderr == ""

    path10, path11 = tmp_path / "toy-1.0.xml", tmp_path / "toy-1.1.xml"
    path10.write_text(xml10)
    path11.write_text(xml11)
    checks = [
        ["--dtdvalid", str(RA_DTD), str(path10)],
        ["--relaxng", str(need(PCS_RNG_10)), str(path10)],
        ["--relaxng", str(need(PCS_RNG_11)), str(path11)],
    ]
    for args in checks:
        done = subprocess.run(
            [XMLLINT, "--noout", "--nonet", *args], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, f"xmllint {' '.join(args)}:\n{done.stderr}"


# -- document shape


def test_deprecated_without_successor_is_valid_in_ocf11():
    class Dep(ToyAgent):
        parameters = (Parameter("old", "Old", "Old.", deprecated=Deprecation("Not needed.")),)

    assert_valid(metadata.render(Dep, (1, 1)), PCS_RNG_11)


def test_non_ascii_text_is_valid():
    class Unicode(ToyAgent):
        shortdesc = "Gäste — hochverfügbar"

    assert_valid(metadata.render(Unicode, (1, 0)), RA_DTD)
