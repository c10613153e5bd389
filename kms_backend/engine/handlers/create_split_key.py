"""Create Split Key (KMIP 2.1 §6.1.10): split a key into Split Key objects, any Split Key Threshold of which
rebuild it (Join Split Key).

With a Unique Identifier the existing Symmetric Key or Secret Data is split (it needs no particular state: the
parts are no use until joined); without one a fresh key is generated from the Attributes (Cryptographic Algorithm
and Length, AES-256 by default) and exists only as its parts. Methods (KMIP 2.1 §11.54): XOR (every part needed),
Polynomial Sharing GF(2^8), GF(2^16) and Prime Field (Shamir; the fields, the Prime Field Size rules and the share
encodings are in ``crypto._split``). Each part is a Split Key with a Raw key block holding its share, whose Split
Key Method, Parts, Threshold and Prime Field Size (the prime, or a GF(2^16) reduction polynomial, exactly as the
request gave it) are those of the split, and whose Cryptographic Length is the split key's — so Join Split Key
needs nothing but the parts. Parts carry a Parent Link to the base object when there is one and are at least as
protected (Sensitive, not Extractable) as it.
"""

from __future__ import annotations

import secrets

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    CryptographicAlgorithm,
    KeyFormatType,
    LinkType,
    ObjectType,
    Operation,
    ResultReason,
    SplitKeyMethod,
    Tag,
)
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..lifecycle import require_material
from ..objects import ManagedObject
from ._common import client_attributes, new_object, symmetric_parameters
from ._usage import inherit_protection, key_of


def handle(ctx: RequestContext, request: S.CreateSplitKeyRequest) -> S.CreateSplitKeyResponse:
    ctx.check_create()
    object_type = ObjectType(request.object_type)
    if object_type not in (ObjectType.SYMMETRIC_KEY, ObjectType.SECRET_DATA):
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"cannot split a {object_type.name}")
    try:
        method = SplitKeyMethod(request.split_key_method)
    except ValueError:
        raise KmipError(
            ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"Split Key Method {request.split_key_method!r}"
        ) from None
    attrs = client_attributes(request.attributes)
    attrs.remove(Tag.OBJECT_TYPE)
    base: ManagedObject | None = None
    if request.unique_identifier is not None:
        base = ctx.load(request.unique_identifier, Operation.CREATE_SPLIT_KEY)
        require_material(base)
        if base.object_type != object_type:
            raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"object {base.uid} is not a {object_type.name}")
        key = key_of(base)
        secret, algorithm = key.material, key.algorithm
        inherit_protection(attrs, base)
    elif object_type == ObjectType.SYMMETRIC_KEY:
        if Tag.CRYPTOGRAPHIC_ALGORITHM not in attrs:
            attrs.set(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES)
        algorithm_value, length = symmetric_parameters(attrs)
        algorithm = CryptographicAlgorithm(algorithm_value)
        secret = secrets.token_bytes(length // 8)
    else:
        secret, algorithm = secrets.token_bytes(32), None
    shares = crypto.split_secret(
        secret,
        request.split_key_parts,
        request.split_key_threshold,
        method,
        prime_field_size=request.prime_field_size,
    )
    attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, len(secret) * 8)
    if algorithm is not None:
        attrs.set(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm)
    if base is not None:
        attrs.add(Tag.LINK, S.Link(link_type=LinkType.PARENT_LINK, linked_object_identifier=base.uid))
    uids: list[str | int | object] = []
    for identifier, share in shares:
        part = S.SplitKey(
            split_key_parts=request.split_key_parts,
            key_part_identifier=identifier,
            split_key_threshold=request.split_key_threshold,
            split_key_method=method,
            prime_field_size=request.prime_field_size,
            key_block=S.KeyBlock(
                key_format_type=KeyFormatType.RAW,
                key_value=S.KeyValue(key_material=share),
                cryptographic_algorithm=algorithm,
                cryptographic_length=len(secret) * 8,
            ),
        )
        part_attrs = client_attributes(attrs)
        mo = new_object(
            ctx, ObjectType.SPLIT_KEY, part, part_attrs, key_material=share, key_format_type=KeyFormatType.RAW
        )
        uids.append(ctx.returned(mo.uid))
    return S.CreateSplitKeyResponse(unique_identifier=uids)  # type: ignore[arg-type]


__all__ = ["handle"]
