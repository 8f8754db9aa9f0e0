"""Toy agents whose meta-data tests both the renderer's content (tests/unit/ocf) and
its validity against the installed schemas (tests/contract), and the one parser both
read the rendered XML with."""

from __future__ import annotations

from havirt.ocf import metadata
from havirt.ocf.agent import ActionSpec
from havirt.ocf.params import Parameter
from lxml import etree
from ocf_toy import ToyAgent


def parse(xml: str) -> etree._Element:
    # no DTD loading, no network: exactly the document as printed
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
    return etree.fromstring(xml.encode("utf-8"), parser)


class LegacyReloadToy(ToyAgent):
    """Advertises OCF 1.0 ``reload`` (until 1.1) beside 1.1's ``reload-agent``."""

    actions = (*ToyAgent.actions, ActionSpec("reload", timeout=10, until_ocf=(1, 1)))


class NoTimeToy(ToyAgent):
    parameters = tuple(p for p in ToyAgent.parameters if p.type != "time")


class NastyDefaultToy(ToyAgent):
    parameters = (
        Parameter(
            "pattern",
            'Pattern with "quotes" & <tags>',
            "Matches ]]> and & and \"'",
            default="a\"b<c&d'e>f",
        ),
    )
    actions = (ActionSpec("start", 20), ActionSpec("stop", 20), ActionSpec("monitor", 20))


def toy_xml(version: tuple[int, int]) -> str:
    return metadata.render(ToyAgent, version)
