"""Decrypt (KMIP 2.1 §6.1.11): decrypt Data with a managed symmetric or private key, one-shot, streamed or as
Cosmian bulk data (see ``encrypt``).

Decrypt processes protected data, so Deactivated and Compromised keys may do it (``_crypto`` module doc). Every
integrity failure — bad tag, bad padding, RSA padding, unwrap check — is Cryptographic Failure "decryption failed",
one text for all, and nothing of the plaintext leaves the server: streamed AEAD decryption holds its output back
until the Final Indicator's tag has been checked.
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


def handle(ctx: RequestContext, request: S.DecryptRequest) -> S.DecryptResponse:
    hsm = _hsm_keys.source(ctx, request.unique_identifier)
    if hsm is not None:  # a key that lives in the HSM
        return _hsm_keys.decrypt(ctx, hsm, request)
    if C.continues(request):
        return _continue(ctx, request)
    if request.init_indicator and not request.final_indicator:
        return _open_stream(ctx, request)
    if bulk_data.parse(request.data) is not None:
        return _bulk(ctx, request)
    response: S.DecryptResponse = answer(ctx, request, decide, execute)
    return response


def decide(ctx: RequestContext, request: S.DecryptRequest) -> Plan:
    """Access, state, usage and the resolved cipher of a one-shot Decrypt."""
    C.request_data(request.data)
    mo, key, params = _load(ctx, request)
    run = crypto.prepare_decrypt(key.material, params, approved_only=C.approved_only(ctx))
    return decided(ctx, Operation.DECRYPT, request, mo, run)


def execute(plan: Plan, request: S.DecryptRequest, batch: BatchState) -> S.DecryptResponse:
    """Decrypt the request's Data as ``plan`` decided; the one place a one-shot Decrypt response is built."""
    plaintext = plan.run(
        C.request_data(request.data),
        request.iv_counter_nonce,
        request.authenticated_encryption_additional_data,
        request.authenticated_encryption_tag,
    )
    return S.DecryptResponse(unique_identifier=batch.returned(plan.uid), data=plaintext)


def _load(ctx: RequestContext, request: S.DecryptRequest) -> tuple[ManagedObject, C.Key, CipherParams]:
    mo, key = C.load_key(
        ctx, request.unique_identifier, Operation.DECRYPT, C.U.DECRYPT, kinds=("symmetric", "private"), process=True
    )
    return mo, key, C.merged_params(ctx, mo, key, request.cryptographic_parameters, cipher=True)


def _open_stream(ctx: RequestContext, request: S.DecryptRequest) -> S.DecryptResponse:
    data = C.request_data(request.data, required=False)
    mo, key, params = _load(ctx, request)
    uid = ctx.returned(mo.uid)
    stream = crypto.decrypt_stream(
        key.material,
        params,
        iv=request.iv_counter_nonce,
        aad=request.authenticated_encryption_additional_data,
        approved_only=C.approved_only(ctx),
    )
    out = stream.update(data)
    correlation = C.open_session(ctx, Operation.DECRYPT, mo.uid, stream, held=C.is_aead(params))
    session = C.take_session(ctx, correlation, Operation.DECRYPT, final=False)
    return S.DecryptResponse(unique_identifier=uid, data=_release(session, out), correlation_value=correlation)


def _bulk(ctx: RequestContext, request: S.DecryptRequest) -> S.DecryptResponse:
    data = C.request_data(request.data)
    mo, key, params = _load(ctx, request)
    uid = ctx.returned(mo.uid)
    items = bulk_data.parse(data) or []
    aad = request.authenticated_encryption_additional_data
    return S.DecryptResponse(unique_identifier=uid, data=_decrypt_bulk(key, params, items, aad, C.approved_only(ctx)))


def _release(session: C.Session, out: bytes) -> bytes:
    if session.held is None:
        return out
    session.held += out
    return b""


def _continue(ctx: RequestContext, request: S.DecryptRequest) -> S.DecryptResponse:
    def final(session: C.Session, data: bytes) -> dict[str, Any]:
        tail = session.stream.finalize(data, tag=request.authenticated_encryption_tag).data
        return {"data": bytes(session.held) + tail if session.held is not None else tail}

    return C.continue_stream(ctx, request, Operation.DECRYPT, S.DecryptResponse, final, output=_release)


def _decrypt_bulk(key: C.Key, params: CipherParams, items: list[bytes], aad: bytes | None, approved: bool) -> bytes:
    out: list[bytes] = []
    nonce_length, tag_length = C.bulk_item_layout(params) if key.kind == "symmetric" else (0, 0)
    for item in items:
        if key.kind != "symmetric":
            out.append(crypto.decrypt(key.material, params, item, aad=aad, approved_only=approved))
            continue
        if len(item) < nonce_length + tag_length:
            raise KmipError(ResultReason.CRYPTOGRAPHIC_FAILURE, "decryption failed")
        nonce = item[:nonce_length] or None
        body = item[nonce_length : len(item) - tag_length]
        tag = item[len(item) - tag_length :] if tag_length else None
        out.append(crypto.decrypt(key.material, params, body, iv=nonce, aad=aad, tag=tag, approved_only=approved))
    return bulk_data.encode(out)


__all__ = ["decide", "execute", "handle"]
