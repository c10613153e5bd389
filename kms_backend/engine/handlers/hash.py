"""Hash (KMIP 2.1 §6.1.24): the digest of Data under the Hashing Algorithm of the Cryptographic Parameters
(SHA-1, SHA-2, SHA-3 families), one-shot or streamed. No managed object is involved."""

from __future__ import annotations

from typing import Any

from ... import crypto
from ...crypto import DigestStream
from ...kmip import _schema_data as S
from ...kmip._registry_data import HashingAlgorithm, Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..keymaterial import to_cipher_params
from ._data import request_data
from ._streams import Session, continue_stream, continues, start_stream


def _algorithm(request: S.HashRequest) -> HashingAlgorithm:
    cp = request.cryptographic_parameters
    if cp is None or cp.hashing_algorithm is None:
        raise KmipError(ResultReason.INVALID_MESSAGE, "Hash needs Cryptographic Parameters with a Hashing Algorithm")
    # As the mapper read it: a value the registry does not define stays a number, which ``crypto.hash_for`` refuses
    # (Unsupported Cryptographic Parameters) as it refuses a defined algorithm it does not offer.
    return cp.hashing_algorithm


def handle(ctx: RequestContext, request: S.HashRequest) -> S.HashResponse:
    if continues(request):
        return _continue(ctx, request)
    algorithm = _algorithm(request)
    if ctx.engine.config.approved_only:
        crypto.require_approved(Operation.HASH, params=to_cipher_params(request.cryptographic_parameters))
    if request.init_indicator and not request.final_indicator:
        return S.HashResponse(
            correlation_value=start_stream(ctx, Operation.HASH, "", DigestStream(algorithm), request.data)
        )
    return S.HashResponse(data=crypto.digest(algorithm, request_data(request.data)))


def _continue(ctx: RequestContext, request: S.HashRequest) -> S.HashResponse:
    def final(session: Session, data: bytes) -> dict[str, Any]:
        return {"data": session.stream.finalize(data)}

    return continue_stream(ctx, request, Operation.HASH, S.HashResponse, final)


__all__ = ["handle"]
