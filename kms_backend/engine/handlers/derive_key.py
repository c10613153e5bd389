"""Derive Key (KMIP 2.1 §6.1.14): a new Symmetric Key or Secret Data derived from a managed object.

Methods (``crypto._kdf``): PBKDF2 (the base object is the password: Secret Data or a key), HKDF, NIST SP 800-108
counter mode, HMAC, HASH, ENCRYPT (Derivation Data encrypted under the base key), and ASYMMETRIC_KEY: ECDH / X25519
/ X448 / finite-field Diffie-Hellman between the base private key and a peer public key given as Derivation Data or as
a second Unique Identifier. The new object's Cryptographic Algorithm and Length come from the request's Attributes.
Links: Derivation Base Object on the new object, Derived Key on the base object (§4.31).
"""

from __future__ import annotations

from ... import crypto
from ...crypto import DerivationParams
from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    DerivationMethod,
    KeyFormatType,
    LinkType,
    ObjectType,
    Operation,
    ResultReason,
    SecretDataType,
    Tag,
)
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..keymaterial import KeyKind, to_cipher_params
from ._common import client_attributes, new_object, symmetric_key_object, symmetric_parameters
from ._params import approved_only
from ._usage import U, check_usable, inherit_protection, key_of, load_key, require_kind

MAX_SECRET_BITS = 8192


def handle(ctx: RequestContext, request: S.DeriveKeyRequest) -> S.DeriveKeyResponse:
    ctx.check_create()
    object_type = ObjectType(request.object_type)
    if object_type not in (ObjectType.SYMMETRIC_KEY, ObjectType.SECRET_DATA):
        raise KmipError(
            ResultReason.INVALID_OBJECT_TYPE, f"Derive Key makes Symmetric Keys or Secret Data, not {object_type.name}"
        )
    uids: list[object] = list(request.unique_identifier) or [None]
    method = DerivationMethod(request.derivation_method)
    agreement = method == DerivationMethod.ASYMMETRIC_KEY
    usage = (U.DERIVE_KEY, U.KEY_AGREEMENT) if agreement else (U.DERIVE_KEY,)
    kinds: tuple[KeyKind, ...] = ("private",) if agreement else ("symmetric",)
    base, key = load_key(ctx, uids[0], Operation.DERIVE_KEY, *usage, kinds=kinds, update=True)
    dp = request.derivation_parameters
    data = b"".join(dp.derivation_data)
    if agreement and len(uids) > 1:
        if data:
            raise KmipError(ResultReason.INVALID_MESSAGE, "give the peer public key as Derivation Data or as an object")
        peer = ctx.load(uids[1], Operation.DERIVE_KEY)
        check_usable(peer, ctx.now, process=True)
        peer_key = key_of(peer)
        require_kind(peer_key, peer, "public", "private", what="the peer of a key agreement")
        data = crypto.public_key_from_private(peer_key.material) if peer_key.kind == "private" else peer_key.material
    params = DerivationParams(
        cryptographic_parameters=to_cipher_params(dp.cryptographic_parameters),
        initialization_vector=dp.initialization_vector,
        derivation_data=data or None,
        salt=dp.salt,
        iteration_count=dp.iteration_count,
    )
    attrs = client_attributes(request.attributes)
    attrs.remove(Tag.OBJECT_TYPE)
    obj: S.SymmetricKey | S.SecretData
    if object_type == ObjectType.SYMMETRIC_KEY:
        algorithm, length = symmetric_parameters(attrs)
        attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, length)
        material = crypto.derive_key(method, key.material, params, length, approved_only=approved_only(ctx))
        obj = symmetric_key_object(algorithm, length, material)
        key_format = KeyFormatType.RAW
    else:
        length = attrs.get(Tag.CRYPTOGRAPHIC_LENGTH, 256)
        if not isinstance(length, int) or not 0 < length <= MAX_SECRET_BITS or length % 8:
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, f"invalid Cryptographic Length {length!r}")
        material = crypto.derive_key(method, key.material, params, length, approved_only=approved_only(ctx))
        obj = S.SecretData(
            secret_data_type=SecretDataType.SEED,
            key_block=S.KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=S.KeyValue(key_material=material)),
        )
        key_format = KeyFormatType.OPAQUE
    inherit_protection(attrs, base)
    attrs.add(Tag.LINK, S.Link(link_type=LinkType.DERIVATION_BASE_OBJECT_LINK, linked_object_identifier=base.uid))
    mo = new_object(ctx, object_type, obj, attrs, key_material=material, key_format_type=key_format)
    base.attributes.add(Tag.LINK, S.Link(link_type=LinkType.DERIVED_KEY_LINK, linked_object_identifier=mo.uid))
    ctx.save(base)
    return S.DeriveKeyResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
