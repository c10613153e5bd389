"""Encrypt (KMIP 2.1 §6.1.17): encrypt Data with a managed key, one-shot, streamed or as Cosmian bulk data.

Keys: Symmetric Keys (AES modes, ChaCha20(-Poly1305), Triple-DES) and public keys (RSA-OAEP, RSA PKCS#1 v1.5,
RSA-AES-KEY-WRAP, ECIES for EC/X25519/X448/ML-KEM keys); a private key encrypts with its public half. Parameters:
the request's Cryptographic Parameters over the object's attribute; defaults in ``_crypto.merged_params``. The
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
from ...kmip import bulk_data
from ...kmip._registry_data import Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import BatchState, RequestContext
from ..objects import ManagedObject
from ..plans import Plan, answer, decided
from . import _crypto as C
from . import _hsm_keys


def handle(ctx: RequestContext, request: S.EncryptRequest) -> S.EncryptResponse:
    hsm = _hsm_keys.source(ctx, request.unique_identifier)
    if hsm is not None:  # a key that lives in the HSM
        return _hsm_keys.encrypt(ctx, hsm, request)
    if C.continues(request):
        return _continue(ctx, request)
    if request.init_indicator and not request.final_indicator:
        return _open_stream(ctx, request)
    if bulk_data.parse(request.data) is not None:
        return _bulk(ctx, request)
    response: S.EncryptResponse = answer(ctx, request, decide, execute)
    return response


def decide(ctx: RequestContext, request: S.EncryptRequest) -> Plan:
    """Access, state, usage (Usage Limits charged) and the resolved cipher of a one-shot Encrypt."""
    data = C.request_data(request.data)
    mo, key, params = _load(ctx, request, len(data))
    run = crypto.prepare_encrypt(key.material, params, approved_only=C.approved_only(ctx))
    return decided(ctx, Operation.ENCRYPT, request, mo, run)


def execute(plan: Plan, request: S.EncryptRequest, batch: BatchState) -> S.EncryptResponse:
    """Encrypt the request's Data as ``plan`` decided; the one place an Encrypt response is built."""
    data = C.request_data(request.data)
    result = plan.run(data, request.iv_counter_nonce, request.authenticated_encryption_additional_data)
    return S.EncryptResponse(
        unique_identifier=batch.returned(plan.uid),
        data=result.data,
        iv_counter_nonce=result.iv_counter_nonce,
        authenticated_encryption_tag=result.tag,
    )


def _load(ctx: RequestContext, request: S.EncryptRequest, length: int) -> tuple[ManagedObject, C.Key, CipherParams]:
    mo, key = C.load_key(
        ctx, request.unique_identifier, Operation.ENCRYPT, C.U.ENCRYPT, kinds=("symmetric", "public", "private")
    )
    params = C.merged_params(ctx, mo, key, request.cryptographic_parameters, cipher=True)
    C.consume_usage(ctx, mo, length)
    return mo, key, params


def _open_stream(ctx: RequestContext, request: S.EncryptRequest) -> S.EncryptResponse:
    data = C.request_data(request.data, required=False)
    mo, key, params = _load(ctx, request, len(data))
    uid = ctx.returned(mo.uid)
    stream = crypto.encrypt_stream(
        key.material,
        params,
        iv=request.iv_counter_nonce,
        aad=request.authenticated_encryption_additional_data,
        approved_only=C.approved_only(ctx),
    )
    out = stream.update(data)
    correlation = C.open_session(ctx, Operation.ENCRYPT, mo.uid, stream)
    return S.EncryptResponse(
        unique_identifier=uid, data=out, iv_counter_nonce=stream.iv_counter_nonce, correlation_value=correlation
    )


def _bulk(ctx: RequestContext, request: S.EncryptRequest) -> S.EncryptResponse:
    data = C.request_data(request.data)
    mo, key, params = _load(ctx, request, len(data))
    uid = ctx.returned(mo.uid)
    items = bulk_data.parse(data) or []
    aad = request.authenticated_encryption_additional_data
    sealed = _encrypt_bulk(key, params, items, request.iv_counter_nonce, aad, approved=C.approved_only(ctx))
    return S.EncryptResponse(unique_identifier=uid, data=sealed)


def _continue(ctx: RequestContext, request: S.EncryptRequest) -> S.EncryptResponse:
    def final(session: C.Session, data: bytes) -> dict[str, Any]:
        result = session.stream.finalize(data)
        return {"data": result.data, "authenticated_encryption_tag": result.tag}

    return C.continue_stream(ctx, request, Operation.ENCRYPT, S.EncryptResponse, final, output=lambda _, out: out)


def _encrypt_bulk(
    key: C.Key, params: CipherParams, items: list[bytes], iv: bytes | None, aad: bytes | None, *, approved: bool
) -> bytes:
    if iv is not None:
        # One IV for every item would reuse a nonce under one key; each item gets its own.
        raise KmipError(ResultReason.INVALID_MESSAGE, "bulk data takes no IV/Counter/Nonce: each item gets its own")
    out: list[bytes] = []
    for item in items:
        result = crypto.encrypt(key.material, params, item, aad=aad, approved_only=approved)
        out.append((result.iv_counter_nonce or b"") + result.data + (result.tag or b""))
    return bulk_data.encode(out)


__all__ = ["decide", "execute", "handle"]
