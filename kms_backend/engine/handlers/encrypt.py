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

from ... import crypto
from ...crypto import CipherParams, CipherStream
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext
from . import _crypto as C


def handle(ctx: RequestContext, request: S.EncryptRequest) -> S.EncryptResponse:
    correlation = request.correlation_value
    if correlation is not None and not request.init_indicator:
        return _continue(ctx, request, correlation)
    data = C.request_data(request.data, required=not request.init_indicator)
    mo, key = C.load_key(
        ctx, request.unique_identifier, Operation.ENCRYPT, C.U.ENCRYPT, kinds=("symmetric", "public", "private")
    )
    params = C.merged_params(ctx, mo, key, request.cryptographic_parameters, cipher=True)
    C.consume_usage(ctx, mo, len(data))
    uid = ctx.returned(mo.uid)
    iv, aad = request.iv_counter_nonce, request.authenticated_encryption_additional_data
    approved = C.approved_only(ctx)
    if request.init_indicator and not request.final_indicator:
        stream = crypto.encrypt_stream(key.material, params, iv=iv, aad=aad, approved_only=approved)
        out = stream.update(data)
        correlation = C.open_session(ctx, Operation.ENCRYPT, mo.uid, stream)
        return S.EncryptResponse(
            unique_identifier=uid, data=out, iv_counter_nonce=stream.iv_counter_nonce, correlation_value=correlation
        )
    bulk = C.parse_bulk(data)
    if bulk is not None:
        sealed = _encrypt_bulk(key, params, bulk, iv, aad, approved=approved)
        return S.EncryptResponse(unique_identifier=uid, data=sealed)
    result = crypto.encrypt(key.material, params, data, iv=iv, aad=aad, approved_only=approved)
    C.offer_lane(ctx, Operation.ENCRYPT, request=request, mo=mo, key=key, params=params)
    return S.EncryptResponse(
        unique_identifier=uid,
        data=result.data,
        iv_counter_nonce=result.iv_counter_nonce,
        authenticated_encryption_tag=result.tag,
    )


def _continue(ctx: RequestContext, request: S.EncryptRequest, correlation: bytes) -> S.EncryptResponse:
    final = bool(request.final_indicator)
    session = C.take_session(ctx, correlation, Operation.ENCRYPT, final=final)
    stream: CipherStream = session.stream
    data = C.request_data(request.data, required=False)
    if not final:
        out = C.run_streamed(ctx, correlation, lambda: stream.update(data))
        return S.EncryptResponse(unique_identifier=session.uid, data=out, correlation_value=correlation)
    result = stream.finalize(data)
    return S.EncryptResponse(
        unique_identifier=session.uid,
        data=result.data,
        authenticated_encryption_tag=result.tag,
    )


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
    return C.encode_bulk(out)


__all__ = ["handle"]
