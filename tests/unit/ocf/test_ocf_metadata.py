"""Meta-data XML: its content (escaping, OCF versions, attributes, actions).

Validity against the schemas installed on a node (resource-agents' DTD and RNG,
pcs's RNGs, xmllint) is checked in tests/contract/test_ocf_metadata_schemas.py:
those files are the host's.
"""

from __future__ import annotations

import pytest
from havirt.ocf import metadata
from havirt.ocf.params import Deprecation, Parameter
from lxml import etree
from metadata_toys import LegacyReloadToy, NastyDefaultToy, parse, toy_xml
from ocf_toy import ToyAgent


@pytest.fixture(scope="module")
def xml10() -> str:
    return toy_xml((1, 0))


@pytest.fixture(scope="module")
def xml11() -> str:
    return toy_xml((1, 1))


def params_of(root: etree._Element) -> dict[str, etree._Element]:
    return {p.get("name"): p for p in root.find("parameters")}


def action_names(root: etree._Element) -> list[str]:
    return [a.get("name") for a in root.find("actions")]


def test_ocf10_prolog_and_version(xml10):
    lines = xml10.splitlines()
    assert lines[0] == '<?xml version="1.0"?>'
    assert lines[1] == '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">'
    root = parse(xml10)
    assert root.tag == "resource-agent"
    assert root.get("name") == "toy"
    assert root.get("version") == "0.9"
    assert root.findtext("version") == "1.0"
    assert [c.tag for c in root] == ["version", "longdesc", "shortdesc", "parameters", "actions"]


def test_ocf11_prolog_and_version(xml11):
    assert xml11.startswith('<?xml version="1.0"?>\n<resource-agent ')
    assert "DOCTYPE" not in xml11
    assert parse(xml11).findtext("version") == "1.1"


def test_descriptions_have_lang(xml10):
    root = parse(xml10)
    for el in root.iter("longdesc", "shortdesc", "desc"):
        assert el.get("lang") == "en"


def test_parameter_attributes(xml10):
    params = params_of(parse(xml10))
    assert list(params) == ["config", "mode", "count", "verbose", "grace", "legacy_path"]
    assert (params["config"].get("required"), params["config"].get("unique")) == ("1", "1")
    assert (params["mode"].get("required"), params["mode"].get("unique")) == ("0", "0")


def test_content_types_and_defaults(xml10):
    params = params_of(parse(xml10))
    content = {name: p.find("content").attrib for name, p in params.items()}
    assert content["config"] == {"type": "string"}
    assert content["mode"] == {"type": "string", "default": "safe"}
    assert content["count"] == {"type": "integer", "default": "4"}
    assert content["verbose"] == {"type": "boolean", "default": "false"}
    assert content["grace"] == {"type": "time", "default": "30s"}


def test_choices_and_unit_told_in_longdesc(xml10):
    params = params_of(parse(xml10))
    mode = params["mode"].findtext("longdesc")
    assert "'safe'" in mode and "'fast'" in mode and "(unset)" in mode
    assert "MiB/s" in params["count"].findtext("longdesc")


def test_actions(xml10):
    actions = {
        (a.get("name"), a.get("interval")): dict(a.attrib) for a in parse(xml10).find("actions")
    }
    assert actions[("start", None)] == {"name": "start", "timeout": "30s"}
    assert actions[("monitor", "10s")] == {
        "name": "monitor",
        "timeout": "20s",
        "interval": "10s",
        "depth": "0",
    }
    assert actions[("monitor", "11s")]["role"] == "Promoted"


# -- what differs between 1.0 and 1.1


def test_reload_agent_only_in_ocf11(xml10, xml11):
    assert "reload-agent" not in action_names(parse(xml10))
    assert "reload-agent" in action_names(parse(xml11))


def test_reloadable_is_an_attribute_only_in_ocf11(xml10, xml11):
    p10, p11 = params_of(parse(xml10)), params_of(parse(xml11))
    assert all("reloadable" not in p.attrib for p in p10.values())
    assert p11["verbose"].get("reloadable") == "1"
    assert p11["config"].get("reloadable") == "0"


def test_deprecated_is_an_element_in_ocf11(xml11):
    legacy = params_of(parse(xml11))["legacy_path"]
    dep = legacy.find("deprecated")
    assert dep is not None
    assert dep.find("replaced-with").get("name") == "config"
    assert dep.findtext("desc") == "Use config instead."
    assert legacy.findtext("shortdesc") == "Old configuration file"
    assert "Deprecated" not in legacy.findtext("longdesc")
    assert params_of(parse(xml11))["config"].find("deprecated") is None


def test_deprecated_is_text_in_ocf10(xml10):
    legacy = params_of(parse(xml10))["legacy_path"]
    assert legacy.find("deprecated") is None
    assert legacy.findtext("shortdesc") == "Old configuration file (deprecated)"
    assert legacy.findtext("longdesc").endswith("Deprecated: Use config instead.")


def test_deprecated_without_successor_in_ocf11():
    class Dep(ToyAgent):
        parameters = (
            Parameter(
                "old",
                "Old",
                "Old.",
                deprecated=Deprecation("Not needed any more."),
            ),
        )

    xml = metadata.render(Dep, (1, 1))
    dep = params_of(parse(xml))["old"].find("deprecated")
    assert dep.find("replaced-with") is None
    assert dep.findtext("desc") == "Not needed any more."


def test_ocf10_without_reload_action_does_not_promise_reloads(xml10):
    # Pacemaker restarts on any change when an OCF 1.0 agent has no "reload".
    for p in params_of(parse(xml10)).values():
        assert "reload" not in p.findtext("longdesc").lower()
        assert "restart" not in p.findtext("longdesc").lower()


def test_legacy_reload_advertised_only_in_ocf10_and_explained():
    root10 = parse(metadata.render(LegacyReloadToy, (1, 0)))
    root11 = parse(metadata.render(LegacyReloadToy, (1, 1)))
    assert "reload" in action_names(root10)
    assert "reload-agent" not in action_names(root10)
    assert "reload" not in action_names(root11)
    assert "reload-agent" in action_names(root11)
    p10 = params_of(root10)
    note = "does not restart the resource"
    # OCF 1.0 reload fires for every unique=0 parameter: say so where that
    # means the new value is not applied at once.
    assert note in p10["mode"].findtext("longdesc")
    assert note not in p10["config"].findtext("longdesc")  # unique: restart
    assert note not in p10["verbose"].findtext("longdesc")  # reloadable: applied
    for p in params_of(root11).values():
        assert note not in p.findtext("longdesc")


# -- escaping


def test_special_characters_are_escaped_in_text(xml10):
    assert "&lt;angle brackets&gt;" in xml10
    assert "&amp; ampersands" in xml10
    assert "<for tests>" not in xml10
    root = parse(xml10)
    assert root.findtext("shortdesc") == ToyAgent.shortdesc
    assert root.findtext("longdesc") == ToyAgent.longdesc


def test_special_characters_round_trip_in_attributes():
    xml = metadata.render(NastyDefaultToy, (1, 0))
    p = params_of(parse(xml))["pattern"]
    assert p.find("content").get("default") == "a\"b<c&d'e>f"
    assert p.findtext("shortdesc") == 'Pattern with "quotes" & <tags>'
    assert p.findtext("longdesc") == "Matches ]]> and & and \"'"


def test_descriptions_are_stripped_but_keep_inner_newlines():
    class Multi(ToyAgent):
        longdesc = "\n  First line.\nSecond line.\n  "

    root = parse(metadata.render(Multi, (1, 0)))
    assert root.findtext("longdesc") == "First line.\nSecond line."


def test_non_ascii_text_survives():
    class Unicode(ToyAgent):
        shortdesc = "Gäste — hochverfügbar"

    xml = metadata.render(Unicode, (1, 0))
    assert parse(xml).findtext("shortdesc") == "Gäste — hochverfügbar"
