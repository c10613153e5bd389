"""MAC (KMIP 2.1 §6.1.32): HMAC-SHA-1/SHA-2/SHA-3 or AES-CMAC of Data with a managed symmetric key, one-shot or
streamed (Init/Final Indicator, Correlation Value)."""

from __future__ import annotations

from typing import Any

from ... import crypto
from ...crypto import MacStream
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation
from ..context import RequestContext
from ._data import request_data
from ._params import approved_only, mac_algorithm, mac_mode
from ._streams import Session, continue_stream, continues, open_session
from ._usage import U, consume_usage, load_key


def handle(ctx: RequestContext, request: S.MACRequest) -> S.MACResponse:
    if continues(request):
        return _continue(ctx, request)
    mo, key = load_key(ctx, request.unique_identifier, Operation.MAC, U.MAC_GENERATE, kinds=("symmetric",))
    algorithm = mac_algorithm(mo, key, request.cryptographic_parameters)
    mode = mac_mode(algorithm, request.cryptographic_parameters)
    uid = ctx.returned(mo.uid)
    approved = approved_only(ctx)
    if request.init_indicator and not request.final_indicator:
        stream = MacStream(key.material, algorithm, approved_only=approved, mode=mode)
        stream.update(request_data(request.data, required=False))
        correlation = open_session(ctx, Operation.MAC, mo.uid, stream)
        return S.MACResponse(unique_identifier=uid, correlation_value=correlation)
    data = request_data(request.data)
    consume_usage(ctx, mo, len(data))
    return S.MACResponse(
        unique_identifier=uid, mac_data=crypto.mac(key.material, algorithm, data, approved_only=approved, mode=mode)
    )


def _continue(ctx: RequestContext, request: S.MACRequest) -> S.MACResponse:
    def final(session: Session, data: bytes) -> dict[str, Any]:
        return {"mac_data": session.stream.finalize(data)}

    return continue_stream(ctx, request, Operation.MAC, S.MACResponse, final)


__all__ = ["handle"]
