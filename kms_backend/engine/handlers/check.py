"""Check (KMIP 2.1 §6.1.7): may the client use the object as it intends to?

Cryptographic Usage Mask: every requested bit must be allowed by the object's mask (Incompatible Cryptographic
Usage Mask; Illegal Object Type for objects that carry no mask). Usage Limits Count: must not exceed what the
object's Usage Limits still allow (Usage Limit Exceeded). Lease Time: must not exceed the object's Lease Time,
when it has one (Permission Denied: the server's policy refuses it). On success the Unique Identifier is returned
(and becomes the ID Placeholder), so a following Get in the batch fetches the checked object.
"""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..lifecycle import mask_allows


def handle(ctx: RequestContext, request: S.CheckRequest) -> S.CheckResponse:
    mo = ctx.load(request.unique_identifier, Operation.CHECK, with_object=False)
    attrs = mo.attributes
    wanted_mask = request.cryptographic_usage_mask
    if wanted_mask is not None:
        mask = attrs.get(Tag.CRYPTOGRAPHIC_USAGE_MASK)
        if not isinstance(mask, int):
            raise KmipError(ResultReason.ILLEGAL_OBJECT_TYPE, f"object {mo.uid} has no Cryptographic Usage Mask")
        if wanted_mask & ~mask and not mask_allows(mask):
            raise KmipError(
                ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK,
                f"object {mo.uid} does not allow usage 0x{wanted_mask & ~mask:X}",
            )
    wanted_count = request.usage_limits_count
    limits = attrs.get(Tag.USAGE_LIMITS)
    if wanted_count is not None and isinstance(limits, S.UsageLimits):
        # Usage Limits Count is what remains; before any allocation (§4.59) the whole total remains.
        remaining = limits.usage_limits_count if limits.usage_limits_count is not None else limits.usage_limits_total
        if wanted_count > remaining:
            raise KmipError(
                ResultReason.USAGE_LIMIT_EXCEEDED, f"object {mo.uid} allows {remaining} more uses, not {wanted_count}"
            )
    lease = attrs.get(Tag.LEASE_TIME)
    if request.lease_time is not None and isinstance(lease, int) and request.lease_time > lease:
        raise KmipError(ResultReason.PERMISSION_DENIED, f"object {mo.uid} may be leased for at most {lease} seconds")
    return S.CheckResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
