"""Log (KMIP 2.1 §6.1.29): a client writes a message into the server's log.

The message is logged at INFO with the user who sent it, as data (never as a format string), truncated to a
bounded length so a client cannot flood the log with one request.
"""

from __future__ import annotations

import logging

from ...kmip import _schema_data as S
from ..context import RequestContext

log = logging.getLogger("keystead.client")

#: Longest Log Message kept, in characters.
MAX_LOG_MESSAGE = 4096


def handle(ctx: RequestContext, request: S.LogRequest) -> S.LogResponse:
    message = request.log_message
    if len(message) > MAX_LOG_MESSAGE:
        message = message[:MAX_LOG_MESSAGE] + "…"
    log.info("client log from %s: %r", ctx.user, message)
    return S.LogResponse()


__all__ = ["handle"]
