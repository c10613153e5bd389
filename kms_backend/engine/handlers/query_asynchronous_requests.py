"""Query Asynchronous Requests (KMIP 2.1 §6.1.41): the requesting user's operations answered Operation Pending
and not yet polled, with their stage (Submitted, In Process, Completed)."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ..context import RequestContext


def handle(ctx: RequestContext, request: S.QueryAsynchronousRequestsRequest) -> S.QueryAsynchronousRequestsResponse:
    found = ctx.engine.asynchronous.requests(ctx.user)
    wanted = request.asynchronous_correlation_values
    if wanted is not None and wanted.asynchronous_correlation_value is not None:
        found = [r for r in found if r.asynchronous_correlation_value == wanted.asynchronous_correlation_value]
    operations = request.operations
    if operations is not None and operations.operation:
        found = [r for r in found if r.operation in operations.operation]
    return S.QueryAsynchronousRequestsResponse(asynchronous_request=found)


__all__ = ["handle"]
