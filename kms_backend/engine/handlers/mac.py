"""MAC (KMIP 2.1 §6.1.32): HMAC-SHA-1/SHA-2/SHA-3 or AES-CMAC of Data with a managed symmetric key, one-shot or
streamed (Init/Final Indicator, Correlation Value)."""

from __future__ import annotations

from ... import crypto
from ...crypto import MacStream
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation
from ..context import RequestContext
from . import _crypto as C


def handle(ctx: RequestContext, request: S.MACRequest) -> S.MACResponse:
    correlation = request.correlation_value
    if correlation is not None and not request.init_indicator:
        return _continue(ctx, request, correlation)
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


def _continue(ctx: RequestContext, request: S.MACRequest, correlation: bytes) -> S.MACResponse:
    final = bool(request.final_indicator)
    session = C.take_session(ctx, correlation, Operation.MAC, final=final)
    stream: MacStream = session.stream
    data = C.request_data(request.data, required=False)
    if not final:
        C.run_streamed(ctx, correlation, lambda: stream.update(data))
        return S.MACResponse(unique_identifier=session.uid, correlation_value=correlation)
    return S.MACResponse(unique_identifier=session.uid, mac_data=stream.finalize(data))


__all__ = ["handle"]
