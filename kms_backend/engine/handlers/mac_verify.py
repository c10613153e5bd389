"""MAC Verify (KMIP 2.1 §6.1.33): check MAC Data over Data with a managed symmetric key (constant-time
comparison), one-shot or streamed; the answer is the Validity Indicator. Verification processes protected data,
so Deactivated and Compromised keys may do it (``_usage`` module doc)."""

from __future__ import annotations

from typing import Any

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation
from ..context import RequestContext
from ._data import request_data, required_bytes
from ._mac import load_mac_key
from ._streams import Session, continue_stream, continues, start_stream
from ._usage import validity


def handle(ctx: RequestContext, request: S.MACVerifyRequest) -> S.MACVerifyResponse:
    if continues(request):
        return _continue(ctx, request)
    mac = load_mac_key(ctx, request, Operation.MAC_VERIFY)
    uid = ctx.returned(mac.mo.uid)
    if request.init_indicator and not request.final_indicator:
        correlation = start_stream(ctx, Operation.MAC_VERIFY, mac.mo.uid, mac.stream(), request.data)
        return S.MACVerifyResponse(unique_identifier=uid, correlation_value=correlation)
    data, expected = request_data(request.data), required_bytes(request.mac_data, "MAC Data")
    valid = crypto.mac_verify(
        mac.key.material, mac.algorithm, data, expected, approved_only=mac.approved_only, mode=mac.mode
    )
    return S.MACVerifyResponse(unique_identifier=uid, validity_indicator=validity(valid))


def _continue(ctx: RequestContext, request: S.MACVerifyRequest) -> S.MACVerifyResponse:
    def final(session: Session, data: bytes) -> dict[str, Any]:
        return {
            "validity_indicator": validity(session.stream.verify(required_bytes(request.mac_data, "MAC Data"), data))
        }

    return continue_stream(ctx, request, Operation.MAC_VERIFY, S.MACVerifyResponse, final)


__all__ = ["handle"]
