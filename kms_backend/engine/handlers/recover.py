"""Recover (KMIP 2.1 §6.1.42): bring an archived object back on-line.

Storage Status returns to on-line (destroyed for a Destroyed object, whose key material is gone either way) and
Archive Date is removed (§4.5: it dates the object's placement in archival storage, which no longer holds).
Recovering an object that is not archived changes nothing: the spec lists no error for it.
"""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, Tag
from ..context import RequestContext
from ..lifecycle import DESTROYED_STATES
from ..objects import STORAGE_ARCHIVED, STORAGE_DESTROYED, STORAGE_ONLINE


def handle(ctx: RequestContext, request: S.RecoverRequest) -> S.RecoverResponse:
    mo = ctx.load(request.unique_identifier, Operation.RECOVER, with_object=False, for_update=True)
    if mo.storage_status == STORAGE_ARCHIVED:
        mo.storage_status = STORAGE_DESTROYED if mo.state in DESTROYED_STATES else STORAGE_ONLINE
        mo.attributes.remove(Tag.ARCHIVE_DATE)
        ctx.save(mo)
    return S.RecoverResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
