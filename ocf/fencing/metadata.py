"""Fence agent meta-data in fence-agents' format, generated with lxml from the option table.

Valid against fence-agents' ``metadata.rng`` (``/usr/share/cluster/relaxng/``):
``resource-agent`` with ``shortdesc``, ``longdesc``, ``vendor-url``; each
parameter with ``getopt``, ``content`` and ``shortdesc`` (no per-parameter
longdesc in that schema); an old option name is marked ``deprecated`` and the
option replacing it ``obsoletes`` it. Pacemaker reads it to learn that the
agent takes ``plug`` (so it passes the target as ``plug=``).
"""

from __future__ import annotations

from havirt.ocf.fencing.actions import ACTIONS
from lxml import etree

TYPE_CHECKING = False

if TYPE_CHECKING:
    from havirt.ocf.fencing.agent import FenceAgent


def build(agent: type[FenceAgent]) -> etree._Element:
    table = agent.option_table()
    root = etree.Element("resource-agent", name=agent.name, shortdesc=agent.shortdesc)
    etree.SubElement(root, "longdesc").text = agent.longdesc.strip()
    etree.SubElement(root, "vendor-url").text = agent.vendor_url
    params = etree.SubElement(root, "parameters")
    obsoleted = {opt.alias_of: opt.name for opt in table if opt.alias_of}
    for opt in table:
        target = table.by_name[opt.alias_of] if opt.alias_of else opt
        attrs = {
            "name": opt.name,
            "unique": "0",
            "required": "1" if target.required else "0",
        }
        if opt.alias_of:
            attrs["deprecated"] = "1"
        elif opt.name in obsoleted:
            attrs["obsoletes"] = obsoleted[opt.name]
        el = etree.SubElement(params, "parameter", attrs)
        etree.SubElement(el, "getopt", mixed=target.spelled())
        content = {"type": target.type}  # the same four types as fence-agents'
        if target.default is not None:
            content["default"] = target.default
        etree.SubElement(el, "content", content)
        etree.SubElement(el, "shortdesc", lang="en").text = opt.shortdesc
    actions = etree.SubElement(root, "actions")
    for name in ACTIONS:
        attrs = {"name": name}
        if name == "on":
            attrs["automatic"] = "0"  # power fencing: no unfencing at node start
        etree.SubElement(actions, "action", attrs)
    return root


def render(agent: type[FenceAgent]) -> str:
    body = etree.tostring(build(agent), pretty_print=True, encoding="unicode")
    return f'<?xml version="1.0"?>\n{body}'
