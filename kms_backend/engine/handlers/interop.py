"""Interop (KMIP 2.1 §6.1.26): a test harness marks the Begin, End or Reset of an interoperability test case.

The server has no per-test state to set up or discard, so every function succeeds; the identifier is checked to be
present and the function to be one of the three (Invalid Field otherwise), and both are logged, which lets an
operator line up server logs with a test run.
"""

from __future__ import annotations

import logging

from ...kmip import _schema_data as S
from ...kmip._registry_data import InteropFunction, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext

log = logging.getLogger("keystead.engine.interop")


def handle(ctx: RequestContext, request: S.InteropRequest) -> S.InteropResponse:
    if not request.interop_identifier:
        raise KmipError(ResultReason.INVALID_FIELD, "Interop needs an Interop Identifier")
    if not isinstance(request.interop_function, InteropFunction):  # an unnamed value is kept as a plain int
        raise KmipError(ResultReason.INVALID_FIELD, f"unknown Interop Function 0x{int(request.interop_function):08X}")
    log.info("interop %s %s (user %s)", request.interop_function.name, request.interop_identifier, ctx.user)
    return S.InteropResponse()


__all__ = ["handle"]
