"""Create (KMIP 2.1 §6.1.8): generate a Symmetric Key (or Secret Data) from the request's attributes."""

from __future__ import annotations

import secrets

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import CryptographicAlgorithm, KeyFormatType, ObjectType, ResultReason, SecretDataType, Tag
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ..context import RequestContext
from ..keyformats import wrap_with_key
from ..objects import COSMIAN_VENDOR
from . import _hsm_keys
from ._common import (
    client_attributes,
    known_object_type,
    new_object,
    server_generated,
    symmetric_key_object,
    symmetric_parameters,
)


def handle(ctx: RequestContext, request: S.CreateRequest) -> S.CreateResponse:
    hsm = _hsm_keys.created(ctx, request.attributes)
    if hsm is not None:  # a key made in the HSM
        return _hsm_keys.create(ctx, *hsm, request)
    ctx.check_create()
    attrs = client_attributes(request.attributes)
    object_type = known_object_type(request.object_type)
    declared = attrs.get(Tag.OBJECT_TYPE)
    if declared is not None and declared != object_type:
        raise KmipError(ResultReason.INVALID_FIELD, "Object Type attribute contradicts the request's Object Type")
    attrs.remove(Tag.OBJECT_TYPE)
    obj: S.SymmetricKey | S.SecretData
    if object_type == ObjectType.SYMMETRIC_KEY:
        algorithm, length = symmetric_parameters(attrs)
        # The crypto layer knows each algorithm's key layout (Triple-DES keys carry parity bits: 168 bits -> 24 bytes).
        material = crypto.generate_symmetric_key(
            CryptographicAlgorithm(algorithm), length, approved_only=ctx.engine.config.approved_only
        )
        attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, length)
        obj = symmetric_key_object(algorithm, length, material)
    elif object_type == ObjectType.SECRET_DATA:
        length = attrs.get(Tag.CRYPTOGRAPHIC_LENGTH, 256)
        if not isinstance(length, int) or length <= 0 or length % 8 or length > 8192:
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, f"invalid Cryptographic Length {length!r}")
        material = secrets.token_bytes(length // 8)
        obj = S.SecretData(
            secret_data_type=SecretDataType.SEED,
            key_block=S.KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=S.KeyValue(key_material=material)),
        )
    else:
        raise KmipError(
            ResultReason.INVALID_OBJECT_TYPE,
            f"Create makes Symmetric Keys and Secret Data; use Create Key Pair or Register for {object_type.name}",
        )
    key_format = KeyFormatType.RAW if object_type == ObjectType.SYMMETRIC_KEY else KeyFormatType.OPAQUE
    server_generated(attrs)
    uid = ctx.new_uid()
    wrapping_uid = _wrapping_key_id(attrs)
    if wrapping_uid is not None:
        obj = wrap_with_key(ctx, uid, obj, wrapping_uid)  # type: ignore[assignment]
    mo = new_object(ctx, object_type, obj, attrs, uid=uid, key_material=material, key_format_type=key_format)
    return S.CreateResponse(object_type=object_type, unique_identifier=ctx.returned(mo.uid))


def _wrapping_key_id(attrs: Attributes) -> str | None:
    """Cosmian KMS's ``wrapping_key_id`` vendor attribute (removed from ``attrs``): the key to store the new key
    wrapped with."""
    for index, (tag, value) in enumerate(attrs.entries):
        if (
            tag == Tag.ATTRIBUTE
            and isinstance(value, S.VendorAttribute)
            and value.vendor_identification.lower() == COSMIAN_VENDOR
            and value.attribute_name == "wrapping_key_id"
        ):
            del attrs.entries[index]
            raw = value.attribute_value.value if value.attribute_value is not None else None
            if not isinstance(raw, str | bytes) or not raw:
                raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, "wrapping_key_id must name a key")
            return raw.decode() if isinstance(raw, bytes) else raw
    return None


__all__ = ["handle"]
