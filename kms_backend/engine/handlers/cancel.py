"""Cancel (KMIP 2.1 §6.1.5, 1.4 §4.22): withdraw an operation answered Operation Pending.

Canceled if it had not started; Unable To Cancel once it runs (key generation cannot be interrupted halfway
without leaving its objects half made, so it completes and its result still waits for a Poll); Completed if done.
"""

from __future__ import annotations

from ...kmip import _schema_data as S
from ..context import RequestContext


def handle(ctx: RequestContext, request: S.CancelRequest) -> S.CancelResponse:
    value = request.asynchronous_correlation_value
    result = ctx.engine.asynchronous.cancel(value, ctx.user)
    return S.CancelResponse(asynchronous_correlation_value=value, cancellation_result=result)


__all__ = ["handle"]
