"""Destroy (KMIP 2.1 §6.1.15): erase the key material; the object stays, Destroyed, with its attributes.

Active objects must be revoked first (Wrong Key Lifecycle State). Compromised → Destroyed Compromised.
"""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, State, Tag
from ..context import RequestContext
from ..lifecycle import require_state
from ..objects import STORAGE_DESTROYED
from . import _hsm_keys


def handle(ctx: RequestContext, request: S.DestroyRequest) -> S.DestroyResponse:
    hsm = _hsm_keys.source(ctx, request.unique_identifier)
    if hsm is not None:  # a key that lives in the HSM
        return _hsm_keys.destroy(ctx, hsm, request)
    mo = ctx.load(request.unique_identifier, Operation.DESTROY, with_object=False, for_update=True)
    require_state(mo, State.PRE_ACTIVE, State.DEACTIVATED, State.COMPROMISED, action="destroy")
    new_state = State.DESTROYED_COMPROMISED if mo.state == State.COMPROMISED else State.DESTROYED
    mo.attributes.set(Tag.STATE, new_state)
    mo.attributes.set(Tag.DESTROY_DATE, ctx.now)
    mo.replace_object(None)
    mo.storage_status = STORAGE_DESTROYED
    ctx.save(mo)
    ctx.forget(mo.uid)
    return S.DestroyResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
