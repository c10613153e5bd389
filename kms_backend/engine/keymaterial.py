"""Key material of stored objects, between KMIP Key Blocks and the crypto layer's forms (KMIP 2.1 §3, §11.26).

The crypto layer works on raw bytes (symmetric keys), PKCS#8 DER (private keys) and SubjectPublicKeyInfo DER
(public keys); Key Blocks may hold Raw, Opaque, PKCS#1, PKCS#8, X.509, ECPrivateKey or transparent structures.
Everything that converts between the two lives here, for Get/Export, Register/Import and the crypto operations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import crypto
from ..kmip import _schema_data as S
from ..kmip._registry_data import KeyFormatType, ResultReason
from ..kmip.errors import KmipError
from ..kmip.schema import Struct
from .lifecycle import key_block

K = KeyFormatType

#: Key Format Type -> the transparent structure its Key Material holds (1.x EC forms share the 2.x layout).
TRANSPARENT: dict[int, type[Struct]] = {
    K.TRANSPARENT_SYMMETRIC_KEY: S.TransparentSymmetricKey,
    K.TRANSPARENT_RSA_PRIVATE_KEY: S.TransparentRSAPrivateKey,
    K.TRANSPARENT_RSA_PUBLIC_KEY: S.TransparentRSAPublicKey,
    K.TRANSPARENT_DSA_PRIVATE_KEY: S.TransparentDSAPrivateKey,
    K.TRANSPARENT_DSA_PUBLIC_KEY: S.TransparentDSAPublicKey,
    K.TRANSPARENT_DH_PRIVATE_KEY: S.TransparentDHPrivateKey,
    K.TRANSPARENT_DH_PUBLIC_KEY: S.TransparentDHPublicKey,
    K.TRANSPARENT_EC_PRIVATE_KEY: S.TransparentECPrivateKey,
    K.TRANSPARENT_EC_PUBLIC_KEY: S.TransparentECPublicKey,
    K.TRANSPARENT_ECDSA_PRIVATE_KEY: S.TransparentECPrivateKey,
    K.TRANSPARENT_ECDSA_PUBLIC_KEY: S.TransparentECPublicKey,
    K.TRANSPARENT_ECDH_PRIVATE_KEY: S.TransparentECPrivateKey,
    K.TRANSPARENT_ECDH_PUBLIC_KEY: S.TransparentECPublicKey,
    K.TRANSPARENT_ECMQV_PRIVATE_KEY: S.TransparentECPrivateKey,
    K.TRANSPARENT_ECMQV_PUBLIC_KEY: S.TransparentECPublicKey,
}


def block_material(block: S.KeyBlock) -> bytes | dict[str, Any]:
    """The Key Material of an unwrapped Key Block: bytes, or a transparent structure as a dict of its fields."""
    if block.key_wrapping_data is not None or not isinstance(block.key_value, S.KeyValue):
        raise KmipError(ResultReason.KEY_VALUE_NOT_PRESENT, "the key is wrapped; unwrap it first")
    material = block.key_value.key_material
    if isinstance(material, bytes):
        return material
    if isinstance(material, Struct):
        return {
            f.name: getattr(material, f.name) for f in material.__kmip__.fields if getattr(material, f.name) is not None
        }
    raise KmipError(ResultReason.KEY_VALUE_NOT_PRESENT, "the key block carries no usable key material")


def material_struct(material: bytes | dict[str, Any], key_format: int) -> Any:
    """Key Material for a Key Block in ``key_format``: bytes as they are, a dict as its transparent structure."""
    if isinstance(material, bytes):
        return material
    cls = TRANSPARENT.get(key_format)
    if cls is None:
        raise KmipError(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, f"no transparent form for {_name(key_format)}")
    names = {f.name for f in cls.__kmip__.fields}
    return cls(**{k: v for k, v in material.items() if k in names})


def symmetric_key(obj: Struct | None) -> bytes:
    """Raw bytes of a symmetric key (or Secret Data) whatever its stored format."""
    block = _block(obj)
    return crypto.import_symmetric_key(block_material(block), _symmetric_format(block.key_format_type))


def private_key_der(obj: Struct | None) -> bytes:
    """PKCS#8 DER of a Private Key whatever its stored format."""
    block = _block(obj)
    return crypto.import_private_key(
        block_material(block),
        KeyFormatType(block.key_format_type),
        algorithm=block.cryptographic_algorithm,
    )


def public_key_der(obj: Struct | None) -> bytes:
    """SubjectPublicKeyInfo DER of a Public Key whatever its stored format."""
    block = _block(obj)
    return crypto.import_public_key(
        block_material(block),
        KeyFormatType(block.key_format_type),
        algorithm=block.cryptographic_algorithm,
    )


def with_material(obj: Struct, key_format: int, material: bytes | dict[str, Any]) -> Struct:
    """A copy of ``obj`` whose Key Block holds ``material`` in ``key_format``."""
    block = _block(obj)
    value = block.key_value if isinstance(block.key_value, S.KeyValue) else S.KeyValue(key_material=b"")
    new_value = dataclasses.replace(value, key_material=material_struct(material, key_format))
    new_block = dataclasses.replace(
        block,
        key_format_type=key_format,  # type: ignore[arg-type]
        key_value=new_value,
        key_wrapping_data=None,
    )
    return dataclasses.replace(obj, key_block=new_block)  # type: ignore[type-var]


def cipher_params(parameters: S.CryptographicParameters | None, algorithm: int | None = None) -> crypto.CipherParams:
    """KMIP Cryptographic Parameters (§4.16) as the crypto layer's CipherParams, algorithm filled from the key."""
    values: dict[str, Any] = {}
    if parameters is not None:
        names = {f.name for f in dataclasses.fields(crypto.CipherParams)}
        values = {
            f.name: getattr(parameters, f.name)
            for f in parameters.__kmip__.fields
            if f.name in names and getattr(parameters, f.name) is not None
        }
    if values.get("cryptographic_algorithm") is None and algorithm is not None:
        values["cryptographic_algorithm"] = algorithm
    return crypto.CipherParams(**values)


def _block(obj: Struct | None) -> S.KeyBlock:
    block = key_block(obj)
    if block is None:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, "the object has no key block")
    return block


def _symmetric_format(key_format: int) -> KeyFormatType:
    # Secret Data and split keys keep Opaque material: the bytes themselves.
    return K.RAW if key_format == K.OPAQUE else KeyFormatType(key_format)


def _name(key_format: int) -> str:
    try:
        return KeyFormatType(key_format).name
    except ValueError:
        return f"0x{key_format:08X}"


__all__ = [
    "TRANSPARENT",
    "block_material",
    "cipher_params",
    "material_struct",
    "private_key_der",
    "public_key_der",
    "symmetric_key",
    "with_material",
]
