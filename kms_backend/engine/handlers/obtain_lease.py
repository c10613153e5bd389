"""Obtain Lease (KMIP 2.1 §6.1.35, 1.4 §4.19): how long a client may use an object it holds before asking again,
with the Last Change Date that lets it tell whether its copy is still current."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..lifecycle import DESTROYED_STATES

#: The lease granted for objects without a Lease Time attribute (seconds).
DEFAULT_LEASE_TIME = 3600


def handle(ctx: RequestContext, request: S.ObtainLeaseRequest) -> S.ObtainLeaseResponse:
    mo = ctx.load(request.unique_identifier, Operation.OBTAIN_LEASE, with_object=False)
    if mo.state in DESTROYED_STATES:
        raise KmipError(ResultReason.OBJECT_DESTROYED, f"object {mo.uid} has been destroyed")
    lease = mo.attributes.get(Tag.LEASE_TIME)
    return S.ObtainLeaseResponse(
        unique_identifier=ctx.returned(mo.uid),
        lease_time=lease if isinstance(lease, int) else DEFAULT_LEASE_TIME,
        last_change_date=int(mo.attributes.get(Tag.LAST_CHANGE_DATE, ctx.now)),
    )


__all__ = ["DEFAULT_LEASE_TIME", "handle"]
