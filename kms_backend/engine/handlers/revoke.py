"""Revoke (KMIP 2.1 §6.1.44): Active/Pre-Active → Deactivated, or → Compromised for a compromise reason."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, RevocationReasonCode, State, Tag
from ..context import RequestContext
from ..lifecycle import require_state

_COMPROMISE = frozenset({RevocationReasonCode.KEY_COMPROMISE, RevocationReasonCode.CA_COMPROMISE})


def handle(ctx: RequestContext, request: S.RevokeRequest) -> S.RevokeResponse:
    mo = ctx.load(request.unique_identifier, Operation.REVOKE, with_object=False, for_update=True)
    attrs = mo.attributes
    reason = request.revocation_reason
    if reason.revocation_reason_code in _COMPROMISE:
        require_state(mo, State.PRE_ACTIVE, State.ACTIVE, State.DEACTIVATED, State.COMPROMISED, action="revoke")
        attrs.set(Tag.STATE, State.COMPROMISED)
        attrs.set(Tag.COMPROMISE_DATE, ctx.now)
        occurred = request.compromise_occurrence_date
        attrs.set(Tag.COMPROMISE_OCCURRENCE_DATE, occurred if occurred is not None else ctx.now)
    else:
        require_state(mo, State.PRE_ACTIVE, State.ACTIVE, action="revoke")
        attrs.set(Tag.STATE, State.DEACTIVATED)
        if not isinstance(attrs.get(Tag.DEACTIVATION_DATE), int) or attrs.get(Tag.DEACTIVATION_DATE) > ctx.now:
            attrs.set(Tag.DEACTIVATION_DATE, ctx.now)
    attrs.set(Tag.REVOCATION_REASON, reason)
    ctx.save(mo)
    ctx.forget(mo.uid)
    return S.RevokeResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
