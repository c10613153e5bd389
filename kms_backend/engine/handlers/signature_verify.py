"""Signature Verify (KMIP 2.1 §6.1.56): check Signature Data over Data (or Digested Data) with a managed public
key (a private key verifies with its public half), one-shot or streamed; the answer is the Validity Indicator.

Verification processes protected data: Deactivated and Compromised keys may verify (``_usage`` module doc). A
malformed signature is Invalid, never an error, so the answer says nothing beyond valid/invalid.
"""

from __future__ import annotations

from typing import Any

from ... import crypto
from ...crypto import VerifyStream
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext
from ._data import request_data, required_bytes
from ._params import approved_only, merged_params
from ._streams import Session, continue_stream, continues, start_stream
from ._usage import U, load_key, validity


def handle(ctx: RequestContext, request: S.SignatureVerifyRequest) -> S.SignatureVerifyResponse:
    if continues(request):
        return _continue(ctx, request)
    digested = request.digested_data
    if digested is not None and request.data is not None:
        raise KmipError(ResultReason.INVALID_MESSAGE, "give Data or Digested Data, not both")
    mo, key = load_key(
        ctx,
        request.unique_identifier,
        Operation.SIGNATURE_VERIFY,
        U.VERIFY,
        kinds=("public", "private"),
        process=True,
    )
    params = merged_params(ctx, mo, key, request.cryptographic_parameters, cipher=False)
    uid = ctx.returned(mo.uid)
    approved = approved_only(ctx)
    if request.init_indicator and not request.final_indicator:
        if digested is not None:
            raise KmipError(ResultReason.INVALID_MESSAGE, "a streamed Signature Verify takes Data, not Digested Data")
        stream = VerifyStream(key.material, params, approved_only=approved)
        correlation = start_stream(ctx, Operation.SIGNATURE_VERIFY, mo.uid, stream, request.data)
        return S.SignatureVerifyResponse(unique_identifier=uid, correlation_value=correlation)
    signature = required_bytes(request.signature_data, "Signature Data")
    if digested is not None:
        valid = crypto.verify(key.material, params, bytes(digested), signature, digested=True, approved_only=approved)
    else:
        valid = crypto.verify(key.material, params, request_data(request.data), signature, approved_only=approved)
    return S.SignatureVerifyResponse(unique_identifier=uid, validity_indicator=validity(valid))


def _continue(ctx: RequestContext, request: S.SignatureVerifyRequest) -> S.SignatureVerifyResponse:
    def final(session: Session, data: bytes) -> dict[str, Any]:
        return {
            "validity_indicator": validity(
                session.stream.finalize(required_bytes(request.signature_data, "Signature Data"), data)
            )
        }

    return continue_stream(ctx, request, Operation.SIGNATURE_VERIFY, S.SignatureVerifyResponse, final)


__all__ = ["handle"]
