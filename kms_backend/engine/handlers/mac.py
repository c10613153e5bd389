"""MAC (KMIP 2.1 §6.1.32): HMAC-SHA-1/SHA-2/SHA-3 or AES-CMAC of Data with a managed symmetric key, one-shot or
streamed (Init/Final Indicator, Correlation Value)."""

from __future__ import annotations

from typing import Any

from ... import crypto
from ...crypto import MacStream
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation
from ..context import RequestContext
from . import _crypto as C


def handle(ctx: RequestContext, request: S.MACRequest) -> S.MACResponse:
    if C.continues(request):
        return _continue(ctx, request)
    mo, key = C.load_key(ctx, request.unique_identifier, Operation.MAC, C.U.MAC_GENERATE, kinds=("symmetric",))
    algorithm = C.mac_algorithm(mo, key, request.cryptographic_parameters)
    mode = C.mac_mode(algorithm, request.cryptographic_parameters)
    uid = ctx.returned(mo.uid)
    approved = C.approved_only(ctx)
    if request.init_indicator and not request.final_indicator:
        stream = MacStream(key.material, algorithm, approved_only=approved, mode=mode)
        stream.update(C.request_data(request.data, required=False))
        correlation = C.open_session(ctx, Operation.MAC, mo.uid, stream)
        return S.MACResponse(unique_identifier=uid, correlation_value=correlation)
    data = C.request_data(request.data)
    C.consume_usage(ctx, mo, len(data))
    return S.MACResponse(
        unique_identifier=uid, mac_data=crypto.mac(key.material, algorithm, data, approved_only=approved, mode=mode)
    )


def _continue(ctx: RequestContext, request: S.MACRequest) -> S.MACResponse:
    def final(session: C.Session, data: bytes) -> dict[str, Any]:
        return {"mac_data": session.stream.finalize(data)}

    return C.continue_stream(ctx, request, Operation.MAC, S.MACResponse, final)


__all__ = ["handle"]
