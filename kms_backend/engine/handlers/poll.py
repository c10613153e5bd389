"""Poll (KMIP 2.1 §6.1.38, 1.4 §4.23): the result of an operation answered Operation Pending.

While it runs the batch item is Operation Pending again; once done it carries the operation's own response
payload (or its failure), once: a second Poll of the same value is Invalid Asynchronous Correlation Value. The
answering batch item names the polled operation (Create Key Pair...), since its payload is that operation's
response and a client reads a payload by the Operation beside it.
"""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip.schema import Struct
from ..context import RequestContext


def handle(ctx: RequestContext, request: S.PollRequest) -> Struct:
    operation, response = ctx.engine.asynchronous.poll(request.asynchronous_correlation_value, ctx.user)
    ctx.batch.answered_operation = operation
    return response


__all__ = ["handle"]
