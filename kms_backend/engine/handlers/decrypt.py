"""Decrypt (KMIP 2.1 §6.1.11): decrypt Data with a managed symmetric or private key, one-shot, streamed or as
Cosmian bulk data (see ``encrypt``).

Decrypt processes protected data, so Deactivated and Compromised keys may do it (``_usage`` module doc). Every
integrity failure — bad tag, bad padding, RSA padding, unwrap check — is Cryptographic Failure "decryption failed",
one text for all, and nothing of the plaintext leaves the server: streamed AEAD decryption holds its output back
until the Final Indicator's tag has been checked.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ... import crypto
from ...crypto import CipherParams
from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason
from ...kmip.errors import KmipError
from .. import keysets
from ..context import BatchState, RequestContext
from ..keymaterial import Key
from ..objects import ManagedObject
from ..plans import Plan, decided
from . import _bulk as _bulk_items
from . import _paths
from ._data import request_data
from ._params import approved_only, is_aead, merged_params
from ._streams import Session, cipher_stream, continue_stream, open_session, take_session
from ._usage import U, load_key


def handle(ctx: RequestContext, request: S.DecryptRequest) -> S.DecryptResponse:
    try:
        response: S.DecryptResponse = _paths.take(ctx, request, PATHS)
    except KmipError as exc:
        # A bare key set name designates the newest key; data an older key of the set encrypted is tried with each
        # key in turn, newest first (engine/keysets.py), as Cosmian KMS does.
        others = _other_key_set_members(ctx, request) if exc.reason == ResultReason.CRYPTOGRAPHIC_FAILURE else []
        for uid in others:
            try:
                return _paths.take(ctx, dataclasses.replace(request, unique_identifier=uid), PATHS)  # type: ignore[no-any-return]
            except KmipError as again:
                if again.reason != ResultReason.CRYPTOGRAPHIC_FAILURE:
                    raise
        raise
    return response


def _other_key_set_members(ctx: RequestContext, request: S.DecryptRequest) -> list[str]:
    value = request.unique_identifier
    if not isinstance(value, str) or value.startswith("[") or request.correlation_value is not None:
        return []
    name, selector = keysets.parse(value)
    if selector is not None or ctx.tx.get(value) is not None:
        return []
    return [mo.uid for mo in keysets.members(ctx, name, Operation.DECRYPT)][1:]


def decide(ctx: RequestContext, request: S.DecryptRequest) -> Plan:
    """Access, state, usage and the resolved cipher of a one-shot Decrypt."""
    request_data(request.data)
    mo, key, params = _load(ctx, request)
    run = crypto.prepare_decrypt(key.material, params, approved_only=approved_only(ctx))
    return decided(ctx, Operation.DECRYPT, request, mo, run)


def execute(plan: Plan, request: S.DecryptRequest, batch: BatchState) -> S.DecryptResponse:
    """Decrypt the request's Data as ``plan`` decided; the one place a one-shot Decrypt response is built."""
    plaintext = plan.run(
        request_data(request.data),
        request.iv_counter_nonce,
        request.authenticated_encryption_additional_data,
        request.authenticated_encryption_tag,
    )
    return S.DecryptResponse(unique_identifier=batch.returned(plan.uid), data=plaintext)


def _load(ctx: RequestContext, request: S.DecryptRequest) -> tuple[ManagedObject, Key, CipherParams]:
    mo, key = load_key(
        ctx, request.unique_identifier, Operation.DECRYPT, U.DECRYPT, kinds=("symmetric", "private"), process=True
    )
    return mo, key, merged_params(ctx, mo, key, request.cryptographic_parameters, cipher=True)


def _open_stream(ctx: RequestContext, request: S.DecryptRequest) -> S.DecryptResponse:
    data = request_data(request.data, required=False)
    mo, key, params = _load(ctx, request)
    uid = ctx.returned(mo.uid)
    stream = cipher_stream(ctx, crypto.decrypt_stream, key, params, request)
    out = stream.update(data)
    correlation = open_session(ctx, Operation.DECRYPT, mo.uid, stream, held=is_aead(params))
    session = take_session(ctx, correlation, Operation.DECRYPT, final=False)
    return S.DecryptResponse(unique_identifier=uid, data=_release(session, out), correlation_value=correlation)


def _bulk(ctx: RequestContext, request: S.DecryptRequest) -> S.DecryptResponse:
    data = request_data(request.data)
    mo, key, params = _load(ctx, request)
    aad = request.authenticated_encryption_additional_data
    opened = _bulk_items.decrypt(key, params, data, aad, approved=approved_only(ctx))
    return S.DecryptResponse(unique_identifier=ctx.returned(mo.uid), data=opened)


def _release(session: Session, out: bytes) -> bytes:
    if session.held is None:
        return out
    session.held += out
    return b""


def _continue(ctx: RequestContext, request: S.DecryptRequest) -> S.DecryptResponse:
    def final(session: Session, data: bytes) -> dict[str, Any]:
        tail = session.stream.finalize(data, tag=request.authenticated_encryption_tag).data
        return {"data": bytes(session.held) + tail if session.held is not None else tail}

    return continue_stream(ctx, request, Operation.DECRYPT, S.DecryptResponse, final, output=_release)


PATHS = _paths.Paths(Operation.DECRYPT, decide, execute, _open_stream, _continue, bulk=_bulk)


__all__ = ["PATHS", "decide", "execute", "handle"]
