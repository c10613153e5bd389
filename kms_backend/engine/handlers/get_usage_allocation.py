"""Get Usage Allocation (KMIP 2.1 §6.1.23, 1.4 §4.20): reserve part of an object's Usage Limits for a client that
will use the key itself: the requested count comes off the remaining Usage Limits Count."""

from __future__ import annotations

from dataclasses import replace

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ..context import RequestContext


def handle(ctx: RequestContext, request: S.GetUsageAllocationRequest) -> S.GetUsageAllocationResponse:
    mo = ctx.load(request.unique_identifier, Operation.GET_USAGE_ALLOCATION, with_object=False, for_update=True)
    wanted = request.usage_limits_count
    if wanted <= 0:
        raise KmipError(ResultReason.INVALID_FIELD, "Usage Limits Count must be positive")
    limits = mo.attributes.get(Tag.USAGE_LIMITS)
    if not isinstance(limits, S.UsageLimits):
        raise KmipError(ResultReason.ATTRIBUTE_NOT_FOUND, f"object {mo.uid} has no Usage Limits to allocate from")
    remaining = limits.usage_limits_count if limits.usage_limits_count is not None else limits.usage_limits_total
    if wanted > remaining:
        raise KmipError(ResultReason.USAGE_LIMIT_EXCEEDED, f"object {mo.uid} has {remaining} uses left, not {wanted}")
    mo.attributes.set(Tag.USAGE_LIMITS, replace(limits, usage_limits_count=remaining - wanted))
    ctx.save(mo, touch=False)
    return S.GetUsageAllocationResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
