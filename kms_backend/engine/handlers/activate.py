"""Activate (KMIP 2.1 §6.1.1): Pre-Active → Active, Activation Date = now."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, State, Tag
from ..context import RequestContext
from ..lifecycle import require_state


def handle(ctx: RequestContext, request: S.ActivateRequest) -> S.ActivateResponse:
    mo = ctx.load(request.unique_identifier, Operation.ACTIVATE, with_object=False, for_update=True)
    require_state(mo, State.PRE_ACTIVE, action="activate")
    mo.attributes.set(Tag.STATE, State.ACTIVE)
    mo.attributes.set(Tag.ACTIVATION_DATE, ctx.now)
    ctx.save(mo)
    return S.ActivateResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
