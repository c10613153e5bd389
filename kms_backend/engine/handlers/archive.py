"""Archive (KMIP 2.1 §6.1.4): the client lets the server move an object to archival storage.

The object's Storage Status becomes archived (§12.3: Locate finds it only with that bit in its Storage Status
Mask) and Archive Date is set (§4.5). Archiving an archived object is Object Archived.
"""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..objects import STORAGE_ARCHIVED


def handle(ctx: RequestContext, request: S.ArchiveRequest) -> S.ArchiveResponse:
    mo = ctx.load(request.unique_identifier, Operation.ARCHIVE, with_object=False, for_update=True)
    if mo.storage_status == STORAGE_ARCHIVED:
        raise KmipError(ResultReason.OBJECT_ARCHIVED, f"object {mo.uid} is archived already")
    mo.storage_status = STORAGE_ARCHIVED
    mo.attributes.set(Tag.ARCHIVE_DATE, ctx.now)
    ctx.save(mo)
    ctx.forget(mo.uid)  # its key material leaves every cache (the HSM's unsealed copies too)
    return S.ArchiveResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
