"""MAC (KMIP 2.1 §6.1.32): HMAC-SHA-1/SHA-2/SHA-3 or AES-CMAC of Data with a managed symmetric key, one-shot or
streamed (Init/Final Indicator, Correlation Value)."""

from __future__ import annotations

from typing import Any

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation
from ..context import RequestContext
from ._data import request_data
from ._mac import load_mac_key
from ._streams import Session, continue_stream, continues, start_stream
from ._usage import consume_usage


def handle(ctx: RequestContext, request: S.MACRequest) -> S.MACResponse:
    if continues(request):
        return _continue(ctx, request)
    mac = load_mac_key(ctx, request, Operation.MAC)
    uid = ctx.returned(mac.mo.uid)
    if request.init_indicator and not request.final_indicator:
        correlation = start_stream(ctx, Operation.MAC, mac.mo.uid, mac.stream(), request.data)
        return S.MACResponse(unique_identifier=uid, correlation_value=correlation)
    data = request_data(request.data)
    consume_usage(ctx, mac.mo, len(data))
    mac_data = crypto.mac(mac.key.material, mac.algorithm, data, approved_only=mac.approved_only, mode=mac.mode)
    return S.MACResponse(unique_identifier=uid, mac_data=mac_data)


def _continue(ctx: RequestContext, request: S.MACRequest) -> S.MACResponse:
    def final(session: Session, data: bytes) -> dict[str, Any]:
        return {"mac_data": session.stream.finalize(data)}

    return continue_stream(ctx, request, Operation.MAC, S.MACResponse, final)


__all__ = ["handle"]
