"""Export (KMIP 2.1 §6.1.18): like Get, and the object's attributes with it."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation
from ..context import RequestContext
from .get import export_object
from .get_attributes import visible_attributes


def handle(ctx: RequestContext, request: S.ExportRequest) -> S.ExportResponse:
    mo = ctx.load(request.unique_identifier, Operation.EXPORT)
    managed_object = export_object(ctx, mo, request)
    return S.ExportResponse(
        object_type=mo.object_type,
        unique_identifier=ctx.returned(mo.uid),
        attributes=visible_attributes(mo),
        managed_object=managed_object,  # type: ignore[arg-type]
    )


__all__ = ["handle"]
