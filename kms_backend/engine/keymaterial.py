"""Key material of stored objects, between KMIP Key Blocks and the crypto layer's forms (KMIP 2.1 §3, §11.26).

The crypto layer works on raw bytes (symmetric keys), PKCS#8 DER (private keys) and SubjectPublicKeyInfo DER
(public keys); Key Blocks may hold Raw, Opaque, PKCS#1, PKCS#8, X.509, ECPrivateKey or transparent structures.
Everything that converts between the two lives here, for Get/Export, Register/Import, key wrapping and the
cryptographic operations.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Literal

from .. import crypto
from ..crypto import CipherParams
from ..kmip import _schema_data as S
from ..kmip._registry_data import CryptographicAlgorithm, KeyFormatType, ObjectType, RecommendedCurve, ResultReason, Tag
from ..kmip.errors import KmipError
from ..kmip.schema import Struct
from .lifecycle import key_block
from .objects import ManagedObject

K = KeyFormatType
KeyKind = Literal["symmetric", "private", "public"]

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
SYMMETRIC_OBJECTS = frozenset({ObjectType.SYMMETRIC_KEY, ObjectType.SECRET_DATA, ObjectType.SPLIT_KEY})
_SYMMETRIC_CLASSES = (S.SymmetricKey, S.SecretData, S.SplitKey)


@dataclass(frozen=True, slots=True)
class Key:
    """A managed object's key as the crypto layer takes it: raw symmetric bytes, PKCS#8 or SPKI DER."""

    kind: KeyKind
    material: bytes
    #: The object's Cryptographic Algorithm attribute (or the Key Block's), if any.
    algorithm: CryptographicAlgorithm | None


def key_of(mo: ManagedObject, obj: Struct | None = None) -> Key:
    """The key material of ``mo`` (or of ``obj``, an unwrapped copy of its object) whatever its stored Key Format
    Type (KMIP 2.1 §3.1, §11.26); algorithm and curve come from the object's attributes when the block lacks them."""
    obj = obj if obj is not None else mo.object
    if mo.object_type in SYMMETRIC_OBJECTS:
        kind: KeyKind = "symmetric"
    elif mo.object_type == ObjectType.PRIVATE_KEY:
        kind = "private"
    elif mo.object_type == ObjectType.PUBLIC_KEY:
        kind = "public"
    else:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"{mo.object_type.name} objects hold no usable key")
    block = key_block(obj)
    if block is None:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"object {mo.uid} ({mo.object_type.name}) holds no key")
    algorithm = _algorithm(mo.attributes.get(Tag.CRYPTOGRAPHIC_ALGORITHM, block.cryptographic_algorithm))
    return Key(kind, _material(block, kind, algorithm, _curve_of(mo)), algorithm)


def symmetric_key(obj: Struct | None) -> bytes:
    """Raw bytes of a symmetric key (or Secret Data, Split Key) whatever its stored format."""
    return _material(_block(obj), "symmetric", None, None)


def private_key_der(obj: Struct | None) -> bytes:
    """PKCS#8 DER of a Private Key whatever its stored format."""
    block = _block(obj)
    return _material(block, "private", _algorithm(block.cryptographic_algorithm), None)


def public_key_der(obj: Struct | None) -> bytes:
    """SubjectPublicKeyInfo DER of a Public Key whatever its stored format."""
    block = _block(obj)
    return _material(block, "public", _algorithm(block.cryptographic_algorithm), None)


def _material(
    block: S.KeyBlock, kind: KeyKind, algorithm: CryptographicAlgorithm | None, curve: RecommendedCurve | None
) -> bytes:
    material = block_material(block)
    try:
        key_format = KeyFormatType(block.key_format_type)
    except ValueError:  # a value outside the registry (the codec keeps unknown enumeration values as integers)
        raise KmipError(
            ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, f"Key Format Type {block.key_format_type}"
        ) from None
    if kind == "symmetric":
        if isinstance(material, dict):
            return crypto.import_symmetric_key(material, key_format)
        return material  # Raw, Opaque (Secret Data) and other byte forms are the key itself
    if isinstance(material, dict):
        importer = crypto.import_private_key if kind == "private" else crypto.import_public_key
        return importer(material, key_format, algorithm=algorithm, curve=curve)
    if kind == "private":
        if key_format == K.PKCS_8:
            return material  # the crypto layer parses (and caches) PKCS#8 itself
        return _private_der(material, key_format, algorithm, curve)
    if key_format == K.X_509:
        return material
    return _public_der(material, key_format, algorithm, curve)


@functools.lru_cache(maxsize=256)
def _private_der(
    material: bytes, key_format: KeyFormatType, algorithm: CryptographicAlgorithm | None, curve: RecommendedCurve | None
) -> bytes:
    return crypto.import_private_key(material, key_format, algorithm=algorithm, curve=curve)


@functools.lru_cache(maxsize=256)
def _public_der(
    material: bytes, key_format: KeyFormatType, algorithm: CryptographicAlgorithm | None, curve: RecommendedCurve | None
) -> bytes:
    return crypto.import_public_key(material, key_format, algorithm=algorithm, curve=curve)


def clear_caches() -> None:
    """Forget converted key material (the crypto layer's caches too); for Destroy and tests."""
    _private_der.cache_clear()
    _public_der.cache_clear()
    crypto.clear_key_caches()


def _algorithm(value: Any) -> CryptographicAlgorithm | None:
    try:
        return CryptographicAlgorithm(value) if value is not None else None
    except ValueError:
        return None


def _curve_of(mo: ManagedObject) -> RecommendedCurve | None:
    domain = mo.attributes.get(Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS)
    curve = getattr(domain, "recommended_curve", None)
    if curve is None:
        curve = mo.attributes.get(Tag.RECOMMENDED_CURVE)
    try:
        return RecommendedCurve(curve) if curve is not None else None
    except ValueError:
        return None


def block_material(block: S.KeyBlock) -> bytes | dict[str, Any]:
    """The Key Material of an unwrapped Key Block: bytes, or a transparent structure as a dict of its fields."""
    if block.key_wrapping_data is not None or not isinstance(block.key_value, S.KeyValue):
        raise KmipError(ResultReason.KEY_WRAP_TYPE_NOT_SUPPORTED, "the key is stored wrapped; unwrap it before use")
    material = block.key_value.key_material
    if isinstance(material, bytes):
        return material
    if isinstance(material, Struct):
        return {
            f.name: getattr(material, f.name) for f in material.__kmip__.fields if getattr(material, f.name) is not None
        }
    raise KmipError(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, "the key block carries no usable key material")


def material_struct(material: bytes | dict[str, Any], key_format: int) -> Any:
    """Key Material for a Key Block in ``key_format``: bytes as they are, a dict as its transparent structure."""
    if isinstance(material, bytes):
        return material
    cls = TRANSPARENT.get(key_format)
    if cls is None:
        raise KmipError(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, f"no transparent form for {_name(key_format)}")
    names = {f.name for f in cls.__kmip__.fields}
    return cls(**{k: v for k, v in material.items() if k in names})


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


_PARAM_FIELDS = tuple(f.name for f in dataclasses.fields(CipherParams))


def to_cipher_params(cp: S.CryptographicParameters | None) -> CipherParams | None:
    """KMIP Cryptographic Parameters (§4.16) as the crypto layer's value type (Key Role Type is not used)."""
    if cp is None:
        return None
    return CipherParams(**{name: getattr(cp, name) for name in _PARAM_FIELDS})


def legacy_defaults(version: tuple[int, int]) -> bool:
    """Whether a request of protocol ``version`` that names no Cryptographic Parameters, on a key with none stored,
    gets the KMIP 1.x default (AES-CBC with PKCS#5 padding and a random IV, what MongoDB's audit-log encryption
    expects) rather than the crypto layer's (AES-GCM). ``merged_params`` applies it; ``plans.decision_key``
    keeps decisions apart by it."""
    return version[0] < 2


def stored_params(mo: ManagedObject) -> CipherParams | None:
    """The object's first Cryptographic Parameters attribute."""
    value = mo.attributes.get(Tag.CRYPTOGRAPHIC_PARAMETERS)
    return to_cipher_params(value) if isinstance(value, S.CryptographicParameters) else None


def _block(obj: Struct | None) -> S.KeyBlock:
    block = key_block(obj)
    if block is None:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, "the object has no key block")
    return block


def _name(key_format: int) -> str:
    try:
        return KeyFormatType(key_format).name
    except ValueError:
        return f"0x{key_format:08X}"


__all__ = [
    "SYMMETRIC_OBJECTS",
    "TRANSPARENT",
    "Key",
    "KeyKind",
    "block_material",
    "clear_caches",
    "key_of",
    "legacy_defaults",
    "material_struct",
    "private_key_der",
    "public_key_der",
    "stored_params",
    "symmetric_key",
    "to_cipher_params",
    "with_material",
]
