"""Get Attribute List (KMIP 2.1 §6.1.21): references to every attribute the object has."""

from __future__ import annotations

from typing import Any

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, Tag
from ..context import RequestContext
from .get_attributes import visible_attributes


def handle(ctx: RequestContext, request: S.GetAttributeListRequest) -> S.GetAttributeListResponse:
    mo = ctx.load(request.unique_identifier, Operation.GET_ATTRIBUTE_LIST, with_object=False)
    references: list[Any] = []
    for tag, value in visible_attributes(mo):
        if isinstance(value, S.VendorAttribute):
            ref: Any = S.AttributeReference(
                vendor_identification=value.vendor_identification, attribute_name=value.attribute_name
            )
        else:
            try:
                ref = Tag(tag)
            except ValueError:
                continue
        if ref not in references:
            references.append(ref)
    return S.GetAttributeListResponse(unique_identifier=ctx.returned(mo.uid), attribute_reference=references)


__all__ = ["handle"]
