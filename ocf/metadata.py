"""OCF meta-data XML, generated with lxml from an agent's declarations.

Two renderings from the same data (an agent picks one with ``metadata_ocf_version``):
- OCF 1.0: valid against resource-agents' ``ra-api-1.dtd`` (what ocf-tester and
  xmllint check). It has no place for ``reloadable`` or ``deprecated``, so those
  are told in the descriptions, and reload-agent is not advertised.
- OCF 1.1: adds ``reloadable``/``deprecated`` and ``reload-agent``, for callers
  that announce OCF 1.1 (``OCF_RA_VERSION_MINOR``); valid against Pacemaker's
  and pcs's OCF 1.1 RNG.
"""

from __future__ import annotations

from havirt.ocf.agent import ResourceAgent
from havirt.ocf.params import Parameter
from lxml import etree


def _desc(parent: etree._Element, tag: str, text: str) -> None:
    el = etree.SubElement(parent, tag, lang="en")
    el.text = text


def _param_longdesc(param: Parameter, ocf11: bool, legacy_reload: bool = False) -> str:
    text = param.longdesc.strip()
    extra: list[str] = []
    if param.choices:
        shown = (repr(c) if c else "'' (unset)" for c in param.choices)
        extra.append("Allowed values: " + ", ".join(shown) + ".")
    if param.unit:
        extra.append(f"Unit: {param.unit}.")
    if not ocf11:
        # OCF 1.0 with "reload": Pacemaker reloads for every non-unique parameter.
        if legacy_reload and not param.reloadable and not param.unique:
            extra.append(
                "Pacemaker does not restart the resource when this changes; "
                "the new value applies from the next start."
            )
        if param.deprecated:
            extra.append(f"Deprecated: {param.deprecated.desc}")
    return "\n".join([text, *extra]) if extra else text


def build(agent: type[ResourceAgent], ocf_version: tuple[int, int] = (1, 0)) -> etree._Element:
    ocf11 = ocf_version >= (1, 1)
    root = etree.Element("resource-agent", name=agent.name, version=agent.version)
    etree.SubElement(root, "version").text = "1.1" if ocf11 else "1.0"
    _desc(root, "longdesc", agent.longdesc.strip())
    _desc(root, "shortdesc", agent.shortdesc.strip())
    legacy_reload = not ocf11 and any(
        a.name == "reload" and (a.until_ocf is None or ocf_version < a.until_ocf)
        for a in agent.actions
    )
    params_el = etree.SubElement(root, "parameters")
    for param in agent.parameters:
        attrs = {
            "name": param.name,
            "unique": "1" if param.unique else "0",
            "required": "1" if param.required else "0",
        }
        if ocf11:
            attrs["reloadable"] = "1" if param.reloadable else "0"
        p_el = etree.SubElement(params_el, "parameter", attrs)
        _desc(p_el, "longdesc", _param_longdesc(param, ocf11, legacy_reload))
        short = param.shortdesc
        if param.deprecated and not ocf11:
            short = f"{short} (deprecated)"
        _desc(p_el, "shortdesc", short)
        if ocf11 and param.deprecated:
            dep = etree.SubElement(p_el, "deprecated")
            if param.deprecated.replaced_with:
                etree.SubElement(dep, "replaced-with", name=param.deprecated.replaced_with)
            _desc(dep, "desc", param.deprecated.desc)
        content: dict[str, str] = {"type": param.type}
        if param.default is not None:
            content["default"] = param.default
        etree.SubElement(p_el, "content", content)
    actions_el = etree.SubElement(root, "actions")
    for spec in agent.actions:
        if ocf_version < spec.since_ocf or (spec.until_ocf and ocf_version >= spec.until_ocf):
            continue
        attrs = {"name": spec.name, "timeout": f"{spec.timeout}s"}
        if spec.interval is not None:
            attrs["interval"] = f"{spec.interval}s"
        if spec.depth is not None:
            attrs["depth"] = str(spec.depth)
        if spec.role is not None:
            attrs["role"] = spec.role
        etree.SubElement(actions_el, "action", attrs)
    return root


def render(agent: type[ResourceAgent], ocf_version: tuple[int, int] = (1, 0)) -> str:
    root = build(agent, ocf_version)
    body = etree.tostring(root, pretty_print=True, encoding="unicode")
    doctype = '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">\n' if ocf_version < (1, 1) else ""
    return f'<?xml version="1.0"?>\n{doctype}{body}'
