"""Encrypt (KMIP 2.1 §6.1.17): encrypt Data with a managed key, one-shot, streamed or as Cosmian bulk data.

Keys: Symmetric Keys (AES modes, ChaCha20(-Poly1305), Triple-DES) and public keys (RSA-OAEP, RSA PKCS#1 v1.5,
RSA-AES-KEY-WRAP, ECIES for EC/X25519/X448/ML-KEM keys); a private key encrypts with its public half. Parameters:
the request's Cryptographic Parameters over the object's attribute; defaults in ``_params.merged_params``. The
response returns the IV/Counter/Nonce the server chose (Random IV) and the Authenticated Encryption Tag of AEAD
modes. Streaming: Init Indicator opens a stream and returns a Correlation Value; later requests carry it; Final
Indicator closes it and returns the tag.

Bulk data (Cosmian KMS extension): Data that parses exactly as ``0x87 0x87 ‖ LEB128 count ‖ (LEB128 length ‖
item)*`` is a list of plaintexts; each is encrypted on its own with a fresh IV and answered in the same framing,
symmetric items as ``nonce ‖ ciphertext ‖ tag``.
"""

from __future__ import annotations

from typing import Any

from ... import crypto
from ...crypto import CipherParams
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation
from ..context import BatchState, RequestContext
from ..keymaterial import Key
from ..objects import ManagedObject
from ..plans import Plan, decided
from . import _bulk as _bulk_items
from . import _paths
from ._data import request_data
from ._params import approved_only, merged_params
from ._streams import Session, cipher_stream, continue_stream, open_session
from ._usage import U, consume_usage, load_key


def handle(ctx: RequestContext, request: S.EncryptRequest) -> S.EncryptResponse:
    response: S.EncryptResponse = _paths.take(ctx, request, PATHS)
    return response


def decide(ctx: RequestContext, request: S.EncryptRequest) -> Plan:
    """Access, state, usage (Usage Limits charged) and the resolved cipher of a one-shot Encrypt."""
    data = request_data(request.data)
    mo, key, params = _load(ctx, request, len(data))
    run = crypto.prepare_encrypt(key.material, params, approved_only=approved_only(ctx))
    return decided(ctx, Operation.ENCRYPT, request, mo, run)


def execute(plan: Plan, request: S.EncryptRequest, batch: BatchState) -> S.EncryptResponse:
    """Encrypt the request's Data as ``plan`` decided; the one place an Encrypt response is built."""
    data = request_data(request.data)
    result = plan.run(data, request.iv_counter_nonce, request.authenticated_encryption_additional_data)
    return S.EncryptResponse(
        unique_identifier=batch.returned(plan.uid),
        data=result.data,
        iv_counter_nonce=result.iv_counter_nonce,
        authenticated_encryption_tag=result.tag,
    )


def _load(ctx: RequestContext, request: S.EncryptRequest, length: int) -> tuple[ManagedObject, Key, CipherParams]:
    mo, key = load_key(
        ctx, request.unique_identifier, Operation.ENCRYPT, U.ENCRYPT, kinds=("symmetric", "public", "private")
    )
    params = merged_params(ctx, mo, key, request.cryptographic_parameters, cipher=True)
    consume_usage(ctx, mo, length)
    return mo, key, params


def _open_stream(ctx: RequestContext, request: S.EncryptRequest) -> S.EncryptResponse:
    data = request_data(request.data, required=False)
    mo, key, params = _load(ctx, request, len(data))
    uid = ctx.returned(mo.uid)
    stream = cipher_stream(ctx, crypto.encrypt_stream, key, params, request)
    out = stream.update(data)
    correlation = open_session(ctx, Operation.ENCRYPT, mo.uid, stream)
    return S.EncryptResponse(
        unique_identifier=uid, data=out, iv_counter_nonce=stream.iv_counter_nonce, correlation_value=correlation
    )


def _bulk(ctx: RequestContext, request: S.EncryptRequest) -> S.EncryptResponse:
    data = request_data(request.data)
    mo, key, params = _load(ctx, request, len(data))
    aad = request.authenticated_encryption_additional_data
    sealed = _bulk_items.encrypt(key, params, data, request.iv_counter_nonce, aad, approved=approved_only(ctx))
    return S.EncryptResponse(unique_identifier=ctx.returned(mo.uid), data=sealed)


def _continue(ctx: RequestContext, request: S.EncryptRequest) -> S.EncryptResponse:
    def final(session: Session, data: bytes) -> dict[str, Any]:
        result = session.stream.finalize(data)
        return {"data": result.data, "authenticated_encryption_tag": result.tag}

    return continue_stream(ctx, request, Operation.ENCRYPT, S.EncryptResponse, final, output=lambda _, out: out)


PATHS = _paths.Paths(Operation.ENCRYPT, decide, execute, _open_stream, _continue, bulk=_bulk)


__all__ = ["PATHS", "decide", "execute", "handle"]
