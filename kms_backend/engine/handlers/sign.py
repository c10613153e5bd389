"""Sign (KMIP 2.1 §6.1.55): sign Data (or Digested Data) with a managed private key, one-shot or streamed.

RSA-PSS (the RSA default), RSA PKCS#1 v1.5 with SHA-2/SHA-3, ECDSA on the NIST, brainpool and secp256k1 curves
(DER ``Ecdsa-Sig-Value``), Ed25519, Ed448 and ML-DSA-44/65/87 (when the installed `cryptography` has them), chosen
by the key and the Cryptographic Parameters (Digital Signature Algorithm, or Padding Method and Hashing Algorithm).
Streaming (Init/Final Indicator, Correlation Value) hashes as it goes; EdDSA and ML-DSA streams buffer.
"""

from __future__ import annotations

from ... import crypto
from ...crypto import SignStream
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext
from . import _crypto as C


def handle(ctx: RequestContext, request: S.SignRequest) -> S.SignResponse:
    correlation = request.correlation_value
    if correlation is not None and not request.init_indicator:
        return _continue(ctx, request, correlation)
    digested = request.digested_data
    if digested is not None and request.data is not None:
        raise KmipError(ResultReason.INVALID_MESSAGE, "give Data or Digested Data, not both")
    mo, key = C.load_key(ctx, request.unique_identifier, Operation.SIGN, C.U.SIGN, kinds=("private",))
    params = C.merged_params(ctx, mo, key, request.cryptographic_parameters, cipher=False)
    uid = ctx.returned(mo.uid)
    approved = C.approved_only(ctx)
    if request.init_indicator and not request.final_indicator:
        if digested is not None:
            raise KmipError(ResultReason.INVALID_MESSAGE, "a streamed Sign takes Data, not Digested Data")
        stream = SignStream(key.material, params, approved_only=approved)
        stream.update(C.request_data(request.data, required=False))
        correlation = C.open_session(ctx, Operation.SIGN, mo.uid, stream)
        return S.SignResponse(unique_identifier=uid, correlation_value=correlation)
    message = bytes(digested) if digested is not None else C.request_data(request.data)
    C.consume_usage(ctx, mo, len(message))
    signature = crypto.sign(key.material, params, message, digested=digested is not None, approved_only=approved)
    C.offer_lane(ctx, Operation.SIGN, request=request, mo=mo, key=key, params=params)
    return S.SignResponse(unique_identifier=uid, signature_data=signature)


def _continue(ctx: RequestContext, request: S.SignRequest, correlation: bytes) -> S.SignResponse:
    final = bool(request.final_indicator)
    session = C.take_session(ctx, correlation, Operation.SIGN, final=final)
    stream: SignStream = session.stream
    data = C.request_data(request.data, required=False)
    if not final:
        C.run_streamed(ctx, correlation, lambda: stream.update(data))
        return S.SignResponse(unique_identifier=session.uid, correlation_value=correlation)
    return S.SignResponse(unique_identifier=session.uid, signature_data=stream.finalize(data))


__all__ = ["handle"]
