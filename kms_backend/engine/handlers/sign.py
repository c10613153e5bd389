"""Sign (KMIP 2.1 §6.1.55): sign Data (or Digested Data) with a managed private key, one-shot or streamed.

RSA-PSS (the RSA default), RSA PKCS#1 v1.5 with SHA-2/SHA-3, ECDSA on the NIST, brainpool and secp256k1 curves
(DER ``Ecdsa-Sig-Value``), Ed25519, Ed448 and ML-DSA-44/65/87 (when the installed `cryptography` has them), chosen
by the key and the Cryptographic Parameters (Digital Signature Algorithm, or Padding Method and Hashing Algorithm).
Streaming (Init/Final Indicator, Correlation Value) hashes as it goes; EdDSA and ML-DSA streams buffer.
"""

from __future__ import annotations

from typing import Any

from ... import crypto
from ...crypto import CipherParams, SignStream
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import BatchState, RequestContext
from ..keymaterial import Key
from ..objects import ManagedObject
from ..plans import Plan, decided
from . import _paths
from ._data import request_data
from ._params import approved_only, merged_params
from ._streams import Session, continue_stream, start_stream
from ._usage import U, consume_usage, load_key


def handle(ctx: RequestContext, request: S.SignRequest) -> S.SignResponse:
    response: S.SignResponse = _paths.take(ctx, request, PATHS)
    return response


def decide(ctx: RequestContext, request: S.SignRequest) -> Plan:
    """Access, state, usage (Usage Limits charged) and the resolved signature scheme of a one-shot Sign."""
    _check_data_fields(request)
    mo, key, params = _load(ctx, request)
    message, _ = _message(request)
    consume_usage(ctx, mo, len(message))
    run = crypto.prepare_sign(key.material, params, approved_only=approved_only(ctx))
    return decided(ctx, Operation.SIGN, request, mo, run)


def execute(plan: Plan, request: S.SignRequest, batch: BatchState) -> S.SignResponse:
    """Sign the request's Data or Digested Data as ``plan`` decided; the one place a one-shot Sign response is
    built."""
    _check_data_fields(request)
    message, digested = _message(request)
    return S.SignResponse(unique_identifier=batch.returned(plan.uid), signature_data=plan.run(message, digested))


def _check_data_fields(request: S.SignRequest) -> None:
    if request.digested_data is not None and request.data is not None:
        raise KmipError(ResultReason.INVALID_MESSAGE, "give Data or Digested Data, not both")


def _message(request: S.SignRequest) -> tuple[bytes, bool]:
    """What a one-shot Sign signs, and whether it is already a digest."""
    digested = request.digested_data
    if digested is not None:
        return (digested if type(digested) is bytes else bytes(digested)), True
    return request_data(request.data), False


def _load(ctx: RequestContext, request: S.SignRequest) -> tuple[ManagedObject, Key, CipherParams]:
    mo, key = load_key(ctx, request.unique_identifier, Operation.SIGN, U.SIGN, kinds=("private",))
    return mo, key, merged_params(ctx, mo, key, request.cryptographic_parameters, cipher=False)


def _open_stream(ctx: RequestContext, request: S.SignRequest) -> S.SignResponse:
    _check_data_fields(request)
    mo, key, params = _load(ctx, request)
    uid = ctx.returned(mo.uid)
    if request.digested_data is not None:
        raise KmipError(ResultReason.INVALID_MESSAGE, "a streamed Sign takes Data, not Digested Data")
    stream = SignStream(key.material, params, approved_only=approved_only(ctx))
    correlation = start_stream(ctx, Operation.SIGN, mo.uid, stream, request.data)
    return S.SignResponse(unique_identifier=uid, correlation_value=correlation)


def _continue(ctx: RequestContext, request: S.SignRequest) -> S.SignResponse:
    def final(session: Session, data: bytes) -> dict[str, Any]:
        return {"signature_data": session.stream.finalize(data)}

    return continue_stream(ctx, request, Operation.SIGN, S.SignResponse, final)


PATHS = _paths.Paths(Operation.SIGN, decide, execute, _open_stream, _continue)


__all__ = ["PATHS", "decide", "execute", "handle"]
