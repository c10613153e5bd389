"""Key Format Type conversion and key wrapping for Get/Export (KMIP 2.1 §6.1.19, §2.1.5 Key Wrapping Data,
§7.18 Key Wrapping Specification) and unwrapping on Register/Import.

Wrapping: Wrapping Method Encrypt with the key named in Encryption Key Information (a Symmetric Key: AES key wrap
RFC 5649 by default, RFC 3394 or AES-GCM; a Public Key: RSA-OAEP, RSA-AES-KEY-WRAP, ECIES), Encoding Option No
Encoding (the key material bytes) or TTLV Encoding (the whole Key Value structure, binary TTLV). The wrapped
bytes become the Key Value (a Byte String) and Key Wrapping Data describes how to unwrap them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import crypto
from ..kmip import _schema_data as S
from ..kmip import binary_codec
from ..kmip._registry_data import (
    CryptographicUsageMask,
    EncodingOption,
    KeyFormatType,
    ObjectType,
    Operation,
    ResultReason,
    State,
    Tag,
    WrappingMethod,
)
from ..kmip.errors import KmipError
from ..kmip.mapper import from_tree, to_tree
from ..kmip.schema import Struct
from .context import NOT_FOUND
from .keymaterial import (
    block_material,
    key_of,
    private_key_der,
    public_key_der,
    stored_params,
    symmetric_key,
    to_cipher_params,
    with_material,
)
from .lifecycle import key_block, mask_allows

_SYMMETRIC = (S.SymmetricKey, S.SecretData, S.SplitKey)


def convert_key_format(obj: Struct, wanted: int) -> Struct:
    """``obj`` with its key block in Key Format Type ``wanted`` (Key Format Type Not Supported if impossible)."""
    block = key_block(obj)
    if block is None:
        raise KmipError(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, "this object has no key block to convert")
    if block.key_format_type == wanted:
        return obj
    if block.key_wrapping_data is not None:
        raise KmipError(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, "a wrapped key cannot change format")
    try:
        key_format = KeyFormatType(wanted)
    except ValueError:
        raise KmipError(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, f"unknown Key Format Type 0x{wanted:08X}") from None
    material: bytes | dict[str, Any]
    if isinstance(obj, _SYMMETRIC):
        material = crypto.export_symmetric_key(symmetric_key(obj), key_format)
    elif isinstance(obj, S.PrivateKey):
        material = crypto.export_private_key(private_key_der(obj), key_format)
    elif isinstance(obj, S.PublicKey):
        material = crypto.export_public_key(public_key_der(obj), key_format)
    else:
        raise KmipError(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, "this object's format cannot be converted")
    return with_material(obj, key_format, dict(material) if isinstance(material, dict) else material)


def wrap_for_export(ctx: Any, mo: Any, obj: Struct, spec: S.KeyWrappingSpecification) -> Struct:
    """``obj`` with its Key Value wrapped as ``spec`` asks (the wrapping key must be Active with Wrap Key usage)."""
    block = key_block(obj)
    if block is None:
        raise KmipError(ResultReason.ILLEGAL_OBJECT_TYPE, "only objects with a Key Block can be wrapped")
    if spec.wrapping_method != WrappingMethod.ENCRYPT:
        raise KmipError(ResultReason.KEY_WRAP_TYPE_NOT_SUPPORTED, "only the Encrypt wrapping method is supported")
    info = spec.encryption_key_information
    if info is None or spec.mac_signature_key_information is not None:
        raise KmipError(ResultReason.KEY_WRAP_TYPE_NOT_SUPPORTED, "wrapping needs Encryption Key Information only")
    wrapping = _wrapping_key(ctx, info.unique_identifier, mo.uid, CryptographicUsageMask.WRAP_KEY)
    encoding = spec.encoding_option or EncodingOption.NO_ENCODING
    assert isinstance(block.key_value, S.KeyValue)
    if encoding == EncodingOption.TTLV_ENCODING:
        plain = binary_codec.encode(to_tree(block.key_value))
    else:
        material = block_material(block)
        if not isinstance(material, bytes):
            raise KmipError(
                ResultReason.ENCODING_OPTION_ERROR, "a transparent key can only be wrapped with TTLV Encoding"
            )
        plain = material
    key, params = _key_and_params(wrapping, info.cryptographic_parameters)
    wrapped = crypto.wrap_key(key, params, plain, approved_only=ctx.engine.config.approved_only)
    wrapping_data = S.KeyWrappingData(
        wrapping_method=WrappingMethod.ENCRYPT,
        encryption_key_information=S.EncryptionKeyInformation(
            unique_identifier=wrapping.uid, cryptographic_parameters=info.cryptographic_parameters
        ),
        encoding_option=spec.encoding_option,
    )
    # An explicit No Encoding wraps only the Key Material, so the Key Value stays a structure whose Key Material
    # holds the wrapped bytes (KMIP 2.1 §2.1.5: "the wrapped un-encoded value of the Byte String Key Material
    # field"; PyKMIP parses it so). TTLV Encoding wraps the whole Key Value, which becomes a Byte String, and so
    # does a request without an Encoding Option (the OASIS AX-M-2 cases expect a Byte String there).
    explicit_none = spec.encoding_option == EncodingOption.NO_ENCODING
    key_value: Any = S.KeyValue(key_material=wrapped) if explicit_none else wrapped
    new_block = dataclasses.replace(block, key_value=key_value, key_wrapping_data=wrapping_data)
    return dataclasses.replace(obj, key_block=new_block)  # type: ignore[type-var]


def wrap_with_key(ctx: Any, uid: str, obj: Struct, wrapping_uid: str) -> Struct:
    """``obj`` (the new object ``uid``) wrapped with the key ``wrapping_uid`` as Encrypt with that key's default
    parameters, to be stored so: Cosmian KMS's ``wrapping_key_id`` vendor attribute on Create, and Re-key of a key
    stored wrapped. Get returns it wrapped (with its Key Wrapping Data); using it unwraps it for that use."""
    spec = S.KeyWrappingSpecification(
        wrapping_method=WrappingMethod.ENCRYPT,
        encryption_key_information=S.EncryptionKeyInformation(unique_identifier=wrapping_uid),
    )
    return wrap_for_export(ctx, _Named(uid), obj, spec)


@dataclasses.dataclass(frozen=True, slots=True)
class _Named:
    uid: str


def stored_wrapping_key(obj: Struct | None) -> str | None:
    """The Unique Identifier of the key ``obj`` is stored wrapped with, if it is stored wrapped by a KMS key."""
    block = key_block(obj) if obj is not None else None
    data = block.key_wrapping_data if block is not None else None
    info = data.encryption_key_information if data is not None else None
    return str(info.unique_identifier) if info is not None and info.unique_identifier is not None else None


def unwrap_object(ctx: Any, obj: Struct) -> Struct:
    """A Register/Import object whose Key Block is wrapped, unwrapped with the key it names (Unwrap Key usage)."""
    block = key_block(obj)
    if block is None or block.key_wrapping_data is None:
        return obj
    data = block.key_wrapping_data
    info = data.encryption_key_information
    if data.wrapping_method != WrappingMethod.ENCRYPT or info is None:
        raise KmipError(ResultReason.KEY_WRAP_TYPE_NOT_SUPPORTED, "only Encrypt-wrapped keys can be unwrapped")
    ttlv = (data.encoding_option or EncodingOption.NO_ENCODING) == EncodingOption.TTLV_ENCODING
    wrapped = block.key_value
    if not ttlv and isinstance(wrapped, S.KeyValue) and isinstance(wrapped.key_material, bytes):
        wrapped = wrapped.key_material  # No Encoding: only the Key Material was wrapped
    if not isinstance(wrapped, bytes):
        raise KmipError(
            ResultReason.INVALID_FIELD, "a wrapped Key Value must be a Byte String or hold wrapped Key Material"
        )
    unwrapping = _wrapping_key(ctx, info.unique_identifier, None, CryptographicUsageMask.UNWRAP_KEY, private=True)
    key, params = _key_and_params(unwrapping, info.cryptographic_parameters)
    plain = crypto.unwrap_key(key, params, wrapped, approved_only=ctx.engine.config.approved_only)
    if ttlv:
        try:
            key_value: Any = from_tree(binary_codec.decode(plain), S.KeyValue)
        except KmipError:
            raise KmipError(ResultReason.ENCODING_OPTION_ERROR, "the unwrapped data is not a TTLV Key Value") from None
    else:
        key_value = S.KeyValue(key_material=plain)
    new_block = dataclasses.replace(block, key_value=key_value, key_wrapping_data=None)
    return dataclasses.replace(obj, key_block=new_block)  # type: ignore[type-var]


def _wrapping_key(ctx: Any, uid: str, wrapped_uid: str | None, usage: int, *, private: bool = False) -> Any:
    try:
        wrapping = ctx.load(uid, Operation.ENCRYPT if not private else Operation.DECRYPT)
    except KmipError as exc:
        if exc.reason in NOT_FOUND:
            raise KmipError(ResultReason.WRAPPING_OBJECT_NOT_FOUND, f"wrapping key {uid} not found") from None
        raise
    if wrapping.uid == wrapped_uid:
        raise KmipError(ResultReason.INVALID_FIELD, "a key cannot wrap itself")
    if wrapping.state in (State.DESTROYED, State.DESTROYED_COMPROMISED):
        raise KmipError(ResultReason.WRAPPING_OBJECT_DESTROYED, f"wrapping key {uid} is destroyed")
    if wrapping.storage_status & 2:
        raise KmipError(ResultReason.WRAPPING_OBJECT_ARCHIVED, f"wrapping key {uid} is archived")
    if wrapping.state != State.ACTIVE:
        raise KmipError(ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"wrapping key {uid} is not Active")
    if not mask_allows(wrapping.attributes.get(Tag.CRYPTOGRAPHIC_USAGE_MASK, 0), usage):
        raise KmipError(
            ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK, f"key {uid} may not {'unwrap' if private else 'wrap'}"
        )
    return wrapping


def _key_and_params(wrapping: Any, parameters: S.CryptographicParameters | None) -> tuple[bytes, crypto.CipherParams]:
    if wrapping.object_type not in (ObjectType.SYMMETRIC_KEY, ObjectType.PUBLIC_KEY, ObjectType.PRIVATE_KEY):
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"a {wrapping.object_type.name} cannot wrap keys")
    key = key_of(wrapping)
    params = (to_cipher_params(parameters) or crypto.CipherParams()).merged(stored_params(wrapping))
    if params.cryptographic_algorithm is None and key.algorithm is not None:
        params = dataclasses.replace(params, cryptographic_algorithm=key.algorithm)
    return key.material, params


__all__ = ["convert_key_format", "stored_wrapping_key", "unwrap_object", "wrap_for_export", "wrap_with_key"]
