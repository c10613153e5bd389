"""Join Split Key (KMIP 2.1 §6.1.27): rebuild a Symmetric Key or Secret Data from Split Key objects.

The parts must come from one split (same method, parts count, threshold, Prime Field Size and length) and be at
least the Split Key Threshold in number (Invalid Field otherwise). Everything the join needs is on the parts: the
Split Key Method, the Prime Field Size (prime, or GF(2^16) reduction polynomial) and the secret's length (the key
block's Cryptographic Length, which prime-field and odd-length GF(2^16) shares do not show). The new object takes
the parts' Cryptographic Algorithm and Length and is at least as protected (Sensitive, not Extractable) as they are.
"""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    KeyFormatType,
    ObjectType,
    Operation,
    ResultReason,
    SecretDataType,
    SplitKeyMethod,
    Tag,
)
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..lifecycle import require_material
from ..objects import ManagedObject
from ._common import client_attributes, new_object, symmetric_key_object
from ._usage import inherit_protection, key_of


def _part(ctx: RequestContext, uid: object) -> tuple[ManagedObject, S.SplitKey, bytes]:
    mo = ctx.load(uid, Operation.JOIN_SPLIT_KEY)
    require_material(mo)
    if not isinstance(mo.object, S.SplitKey):
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"object {mo.uid} is not a Split Key")
    return mo, mo.object, key_of(mo).material


def handle(ctx: RequestContext, request: S.JoinSplitKeyRequest) -> S.JoinSplitKeyResponse:
    ctx.check_create()
    object_type = ObjectType(request.object_type)
    if object_type not in (ObjectType.SYMMETRIC_KEY, ObjectType.SECRET_DATA):
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, "Join Split Key makes Symmetric Keys or Secret Data")
    parts = [_part(ctx, uid) for uid in request.unique_identifier]
    if not parts:
        raise KmipError(ResultReason.INVALID_MESSAGE, "no Split Key objects to join")
    first = parts[0][1]
    for _mo, split, share in parts:
        same = (
            split.split_key_method,
            split.split_key_parts,
            split.split_key_threshold,
            split.prime_field_size,
            split.key_block.cryptographic_length,
        ) == (
            first.split_key_method,
            first.split_key_parts,
            first.split_key_threshold,
            first.prime_field_size,
            first.key_block.cryptographic_length,
        )
        if not same or len(share) != len(parts[0][2]):
            raise KmipError(ResultReason.INVALID_FIELD, "the Split Keys do not come from one split")
    if len(parts) < first.split_key_threshold:
        raise KmipError(
            ResultReason.INVALID_FIELD,
            f"{len(parts)} parts given; the Split Key Threshold is {first.split_key_threshold}",
        )
    method = SplitKeyMethod(first.split_key_method)
    bits = first.key_block.cryptographic_length
    secret = crypto.join_secret(
        [(split.key_part_identifier, share) for _mo, split, share in parts],
        method,
        prime_field_size=first.prime_field_size,
        length=bits // 8 if isinstance(bits, int) and bits > 0 and bits % 8 == 0 else None,
    )
    attrs = client_attributes(request.attributes)
    attrs.remove(Tag.OBJECT_TYPE)
    inherit_protection(attrs, *(mo for mo, _split, _share in parts))
    length = len(secret) * 8
    obj: S.SymmetricKey | S.SecretData
    if object_type == ObjectType.SYMMETRIC_KEY:
        algorithm = attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM) or first.key_block.cryptographic_algorithm
        if algorithm is None:
            raise KmipError(ResultReason.INVALID_FIELD, "Cryptographic Algorithm is needed for the joined key")
        attrs.set(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm)
        attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, length)
        obj = symmetric_key_object(int(algorithm), length, secret)
        key_format = KeyFormatType.RAW
    else:
        obj = S.SecretData(
            secret_data_type=request.secret_data_type or SecretDataType.SEED,
            key_block=S.KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=S.KeyValue(key_material=secret)),
        )
        key_format = KeyFormatType.OPAQUE
    mo = new_object(ctx, object_type, obj, attrs, key_material=secret, key_format_type=key_format)
    return S.JoinSplitKeyResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
