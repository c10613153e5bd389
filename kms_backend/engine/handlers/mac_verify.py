"""MAC Verify (KMIP 2.1 §6.1.33): check MAC Data over Data with a managed symmetric key (constant-time
comparison), one-shot or streamed; the answer is the Validity Indicator. Verification processes protected data,
so Deactivated and Compromised keys may do it (``_usage`` module doc)."""

from __future__ import annotations

from typing import Any

from ... import crypto
from ...crypto import MacStream
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext
from ._data import request_data
from ._params import approved_only, mac_algorithm, mac_mode
from ._streams import Session, continue_stream, continues, open_session
from ._usage import U, load_key, validity


def _mac_data(request: S.MACVerifyRequest) -> bytes:
    if request.mac_data is None:
        raise KmipError(ResultReason.INVALID_MESSAGE, "the request carries no MAC Data")
    return bytes(request.mac_data)


def handle(ctx: RequestContext, request: S.MACVerifyRequest) -> S.MACVerifyResponse:
    if continues(request):
        return _continue(ctx, request)
    mo, key = load_key(
        ctx, request.unique_identifier, Operation.MAC_VERIFY, U.MAC_VERIFY, kinds=("symmetric",), process=True
    )
    algorithm = mac_algorithm(mo, key, request.cryptographic_parameters)
    mode = mac_mode(algorithm, request.cryptographic_parameters)
    uid = ctx.returned(mo.uid)
    approved = approved_only(ctx)
    if request.init_indicator and not request.final_indicator:
        stream = MacStream(key.material, algorithm, approved_only=approved, mode=mode)
        stream.update(request_data(request.data, required=False))
        correlation = open_session(ctx, Operation.MAC_VERIFY, mo.uid, stream)
        return S.MACVerifyResponse(unique_identifier=uid, correlation_value=correlation)
    valid = crypto.mac_verify(
        key.material, algorithm, request_data(request.data), _mac_data(request), approved_only=approved, mode=mode
    )
    return S.MACVerifyResponse(unique_identifier=uid, validity_indicator=validity(valid))


def _continue(ctx: RequestContext, request: S.MACVerifyRequest) -> S.MACVerifyResponse:
    def final(session: Session, data: bytes) -> dict[str, Any]:
        return {"validity_indicator": validity(session.stream.verify(_mac_data(request), data))}

    return continue_stream(ctx, request, Operation.MAC_VERIFY, S.MACVerifyResponse, final)


__all__ = ["handle"]
