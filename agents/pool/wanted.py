"""The pool definition a StoragePool resource asks for: read from its parameters (or
its pool_xml file) when validate runs, carried to the action (:class:`Carried`), and
the definition an action works with, the resource's or libvirt's own."""

from __future__ import annotations

from havirt.agents.pool import definition
from havirt.ocf.agent import ActionContext
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from havirt.agents.libvirt.protocols import StoragePool as Pool


class Carried:
    """What validate leaves for the action within one invocation (``ctx.state``)."""

    __slots__ = ("wanted", "pool_xml_text")

    def __init__(self) -> None:
        self.wanted: definition.PoolSpec | None = None  # the definition the parameters ask for
        self.pool_xml_text: str | None = None  # pool_xml's text, as given


def carry_wanted(ctx: ActionContext) -> None:
    """Read the definition the parameters ask for (pool_xml, or type=... with its
    fields) into ``ctx``'s :class:`Carried`; ERR_CONFIGURED when it is wrong."""
    p = ctx.params
    if p.pool_xml:
        given = [f for f in ("type", *definition.DEFINITION_FIELDS) if p.get(f)]
        if given:
            raise OcfError(
                OcfExit.ERR_CONFIGURED,
                f"parameter '{given[0]}' does not go with 'pool_xml', which defines the "
                "whole pool: remove one of them",
            )
        from havirt.ocf.files import read_text

        text = read_text(p.pool_xml, "pool_xml file")
        try:
            spec = definition.from_xml(text)
        except definition.DefinitionError as exc:
            raise OcfError(
                OcfExit.ERR_CONFIGURED, f"parameter 'pool_xml': {p.pool_xml}: {exc}"
            ) from None
        if spec.name != p.pool:
            raise OcfError(
                OcfExit.ERR_CONFIGURED,
                f"parameter 'pool_xml': {p.pool_xml} defines pool '{spec.name}', but "
                f"parameter 'pool' is '{p.pool}': make them agree",
            )
        carried = ctx.carried(Carried)
        carried.wanted = spec
        carried.pool_xml_text = text
        return
    try:
        wanted = definition.from_params(p)
    except definition.DefinitionError as exc:
        raise OcfError(OcfExit.ERR_CONFIGURED, str(exc)) from None
    if wanted is not None:
        ctx.carried(Carried).wanted = wanted


def wanted_spec(ctx: ActionContext) -> definition.PoolSpec | None:
    """The definition the parameters ask for; None when libvirt's own counts."""
    return ctx.carried(Carried).wanted


def spec_of(ctx: ActionContext, pool: Pool) -> definition.PoolSpec:
    """The definition to work with: the resource's, else libvirt's."""
    wanted = wanted_spec(ctx)
    if wanted is not None:
        return wanted
    try:
        return definition.from_xml(pool.xml())
    except definition.DefinitionError as exc:
        raise OcfError(
            OcfExit.ERR_CONFIGURED, f"pool {pool.name} as libvirt defines it: {exc}"
        ) from None


def definition_xml(ctx: ActionContext, spec: definition.PoolSpec) -> str:
    """The XML to define ``spec`` with: pool_xml's text as given, else rendered."""
    text = ctx.carried(Carried).pool_xml_text
    if text is not None:
        return text
    return definition.to_xml(spec)
