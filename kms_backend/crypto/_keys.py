"""Key generation, parsing and Key Format Type conversion (KMIP 2.1 §2.1.7 Key Value, §11.25 Key Format Type).

Asymmetric keys travel through the API as DER: private keys as PKCS#8 PrivateKeyInfo (RFC 5208), public keys as
X.509 SubjectPublicKeyInfo (RFC 5280 §4.1.2.7). Transparent structures (KMIP 2.1 §2.1.7.x) are plain dicts keyed
by the KMIP field names in snake_case, so the engine maps them to typed structures:

- Transparent Symmetric Key: ``{"key": bytes}``
- Transparent RSA Private Key: ``modulus, public_exponent, private_exponent, p, q, prime_exponent_p,
  prime_exponent_q, crt_coefficient`` (ints); Transparent RSA Public Key: ``modulus, public_exponent``
- Transparent EC Private Key: ``{"recommended_curve": RecommendedCurve, "d": int}``; Transparent EC Public Key:
  ``{"recommended_curve": RecommendedCurve, "q_string": bytes}`` (SEC 1 §2.3.3 uncompressed point).
  For X25519/X448/Ed25519/Ed448 ``d`` is the raw private key (RFC 7748 / RFC 8032 encoding) read as a big-endian
  integer and ``q_string`` the raw public key, as Cosmian KMS does.

Parsed key objects are cached (bounded LRU keyed by the DER bytes): loading an RSA key validates it, which costs
milliseconds, far more than the operation. :func:`clear_key_caches` empties every cache (call it on Destroy).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, NoReturn

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    KeyFormatType,
    Operation,
    RecommendedCurve,
    ResultReason,
)

from . import _approved, _finite_field, _pqcrypto
from ._common import HMAC_HASHES, byte_length, curve_for, enum_name, fail, recommended_curve

TransparentKey = dict[str, Any]
"""A transparent key structure as a dict keyed by snake_case KMIP field names (see the module docstring)."""


class KeyDescription(NamedTuple):
    """What a key is, in KMIP terms: Cryptographic Algorithm, Cryptographic Length and Recommended Curve."""

    algorithm: CryptographicAlgorithm
    length_bits: int
    curve: RecommendedCurve | None


# ---------------------------------------------------------------------------------------------------------------
# Post-quantum keys: present from cryptography 47 (ML-KEM-768/1024, ML-DSA-44/65/87); detected, never assumed.
# ML-KEM-512 and SLH-DSA, which cryptography lacks, come from pqcrypto (_pqcrypto) when it is installed.
# ---------------------------------------------------------------------------------------------------------------

#: Cryptographic Length reported for PQC keys: the NIST security category's classical strength (FIPS 203/204).
_PQC_STRENGTH: dict[CryptographicAlgorithm, int] = {
    CryptographicAlgorithm.ML_KEM_512: 128,
    CryptographicAlgorithm.ML_KEM_768: 192,
    CryptographicAlgorithm.ML_KEM_1024: 256,
    CryptographicAlgorithm.ML_DSA_44: 128,
    CryptographicAlgorithm.ML_DSA_65: 192,
    CryptographicAlgorithm.ML_DSA_87: 256,
    # SLH-DSA: the number in the parameter set's name (FIPS 205 Table 2, security categories 1, 3 and 5).
    **{algorithm: int(algorithm.name.rsplit("_", 1)[1][:-1]) for algorithm in _pqcrypto.SLH_DSA},
}
ML_KEM = frozenset(
    {CryptographicAlgorithm.ML_KEM_512, CryptographicAlgorithm.ML_KEM_768, CryptographicAlgorithm.ML_KEM_1024}
)
ML_DSA = frozenset(
    {CryptographicAlgorithm.ML_DSA_44, CryptographicAlgorithm.ML_DSA_65, CryptographicAlgorithm.ML_DSA_87}
)
SLH_DSA = _pqcrypto.SLH_DSA
_PQC_PRIVATE: dict[CryptographicAlgorithm, Any] = {}
_PQC_PUBLIC: dict[CryptographicAlgorithm, Any] = {}


def _detect_pqc() -> None:
    try:
        from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem
    except ImportError:  # cryptography < 47
        return
    for module, prefix, algorithms in (
        (mlkem, "MLKEM", ML_KEM),
        (mldsa, "MLDSA", ML_DSA),
    ):
        for algorithm in algorithms:
            number = algorithm.name.rsplit("_", 1)[1]
            private = getattr(module, f"{prefix}{number}PrivateKey", None)
            public = getattr(module, f"{prefix}{number}PublicKey", None)
            if private is not None and public is not None:
                _PQC_PRIVATE[algorithm] = private
                _PQC_PUBLIC[algorithm] = public
    for algorithm, private in _pqcrypto.PRIVATE.items():
        if algorithm not in _PQC_PRIVATE:
            _PQC_PRIVATE[algorithm] = private
            _PQC_PUBLIC[algorithm] = _pqcrypto.PUBLIC[algorithm]


_detect_pqc()


def pqc_algorithm(key: object) -> CryptographicAlgorithm | None:
    """The ML-KEM/ML-DSA/SLH-DSA algorithm of a key object, or None."""
    for table in (_PQC_PRIVATE, _PQC_PUBLIC):
        for algorithm, cls in table.items():
            if isinstance(key, cls):
                return algorithm
    return None


def supported_pqc_algorithms() -> frozenset[CryptographicAlgorithm]:
    """The ML-KEM/ML-DSA/SLH-DSA parameter sets the installed `cryptography` and `pqcrypto` provide."""
    return frozenset(_PQC_PRIVATE)


def _require_pqc(algorithm: CryptographicAlgorithm) -> Any:
    cls = _PQC_PRIVATE.get(algorithm)
    if cls is None:
        fail(
            ResultReason.FEATURE_NOT_SUPPORTED,
            f"{algorithm.name} is not available: neither the installed cryptography nor pqcrypto provides it",
        )
    return cls


# ---------------------------------------------------------------------------------------------------------------
# Parsing (cached)
# ---------------------------------------------------------------------------------------------------------------


def as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """``data`` as immutable bytes (cache keys must be hashable)."""
    return data if type(data) is bytes else bytes(data)


@functools.lru_cache(maxsize=128)
def _parse_private(der: bytes) -> PrivateKeyTypes:
    # ML-KEM-512 and SLH-DSA (not in cryptography) are recognised by their algorithm identifiers first.
    pq = _pqcrypto.load_private(der)
    if pq is not None:
        return pq  # type: ignore[return-value]
    if _finite_field.involves(der):
        return _finite_field.load(lambda d: serialization.load_der_private_key(d, password=None), der)  # type: ignore[no-any-return]
    return serialization.load_der_private_key(der, password=None)


@functools.lru_cache(maxsize=128)
def _parse_public(der: bytes) -> PublicKeyTypes:
    pq = _pqcrypto.load_public(der)
    if pq is not None:
        return pq  # type: ignore[return-value]
    if _finite_field.involves(der):
        return _finite_field.load(serialization.load_der_public_key, der)  # type: ignore[no-any-return]
    return serialization.load_der_public_key(der)


def load_private(der: bytes | bytearray | memoryview) -> PrivateKeyTypes:
    """Parse a private key (PKCS#8, or the PKCS#1 / SEC 1 forms OpenSSL also reads). INVALID_FIELD if not one."""
    try:
        return _parse_private(as_bytes(der))
    except _pqcrypto.PQKeyError as exc:
        fail(ResultReason.INVALID_FIELD, str(exc))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        fail(ResultReason.INVALID_FIELD, "key material is not a valid DER private key")


def load_public(der: bytes | bytearray | memoryview) -> PublicKeyTypes:
    """Parse a SubjectPublicKeyInfo (or PKCS#1 RSAPublicKey); a private key DER gives its public half."""
    data = as_bytes(der)
    try:
        return _parse_public(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass
    try:
        return _parse_private(data).public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        fail(ResultReason.INVALID_FIELD, "key material is not a valid DER public key")


def clear_key_caches() -> None:
    """Forget every parsed key and cipher object held by the crypto layer's caches (call after Destroy)."""
    _parse_private.cache_clear()
    _parse_public.cache_clear()
    for clear in _CACHE_CLEARERS:
        clear()


#: Other modules register their caches here so that one call clears them all.
_CACHE_CLEARERS: list[Callable[[], None]] = []


def register_cache(clear: Callable[[], None]) -> None:
    """Have :func:`clear_key_caches` call ``clear``."""
    _CACHE_CLEARERS.append(clear)


def private_to_der(key: PrivateKeyTypes) -> bytes:
    """PKCS#8 DER of a key object."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_to_der(key: PublicKeyTypes) -> bytes:
    """SubjectPublicKeyInfo DER of a key object."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_from_private(private_der: bytes) -> bytes:
    """The SubjectPublicKeyInfo DER of a PKCS#8 private key (Register of a lone private key, PKCS#11 C_GetAttribute
    of CKA_PUBLIC_KEY_INFO)."""
    return public_to_der(load_private(private_der).public_key())


# ---------------------------------------------------------------------------------------------------------------
# Description
# ---------------------------------------------------------------------------------------------------------------

_MONTGOMERY_EDWARDS: tuple[tuple[tuple[type, ...], CryptographicAlgorithm, int, RecommendedCurve], ...] = (
    ((x25519.X25519PrivateKey, x25519.X25519PublicKey), CryptographicAlgorithm.EC, 256, RecommendedCurve.CURVE25519),
    ((x448.X448PrivateKey, x448.X448PublicKey), CryptographicAlgorithm.EC, 448, RecommendedCurve.CURVE448),
    (
        (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey),
        CryptographicAlgorithm.ED25519,
        256,
        RecommendedCurve.CURVEED25519,
    ),
    ((ed448.Ed448PrivateKey, ed448.Ed448PublicKey), CryptographicAlgorithm.ED448, 448, RecommendedCurve.CURVEED448),
)


def describe(key: PrivateKeyTypes | PublicKeyTypes) -> KeyDescription:
    """Algorithm, length and curve of a key object (see :func:`describe_key`)."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return KeyDescription(CryptographicAlgorithm.RSA, key.key_size, None)
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return KeyDescription(CryptographicAlgorithm.EC, key.curve.key_size, recommended_curve(key.curve))
    for classes, algorithm, length, curve in _MONTGOMERY_EDWARDS:
        if isinstance(key, classes):
            return KeyDescription(algorithm, length, curve)
    pqc = pqc_algorithm(key)
    if pqc is not None:
        return KeyDescription(pqc, _PQC_STRENGTH[pqc], None)
    finite_field = _finite_field.family(key)
    if finite_field is not None:
        return KeyDescription(finite_field, _finite_field.key_bits(key), None)
    fail(ResultReason.INVALID_OBJECT_TYPE, f"unsupported key type {type(key).__name__}")


def describe_key(der: bytes) -> KeyDescription:
    """Cryptographic Algorithm, Cryptographic Length (bits) and Recommended Curve of a DER key (KMIP 2.1 §4.7,
    §4.8, §4.14), private (PKCS#8) or public (SPKI).

    RSA: modulus bits. EC: the curve's field size. X25519/X448 are ``EC`` on CURVE25519/CURVE448; Ed25519/Ed448 are
    ``ED25519``/``ED448`` on CURVEED25519/CURVEED448. ML-KEM/ML-DSA: the security category's strength in bits
    (128/192/256), curve ``None``.
    """
    data = as_bytes(der)
    try:
        return describe(_parse_private(data))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return describe(load_public(data))


# ---------------------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------------------

_EC_ALGORITHMS = frozenset({CryptographicAlgorithm.EC, CryptographicAlgorithm.ECDSA, CryptographicAlgorithm.ECDH})
_AES_BITS = frozenset({128, 192, 256, 512})  # 512: an AES-256-XTS key pair (IEEE 1619); XTS only.
_DES3_BYTES = {112: 16, 128: 16, 168: 24, 192: 24}
RSA_MIN_BITS = 1024
RSA_MAX_BITS = 8192


def _odd_parity(key: bytes) -> bytes:
    # DES keys carry odd parity in each byte's low bit (FIPS 46-3 §3); libraries ignore it, PKCS#11 tokens check it.
    return bytes((b & 0xFE) | ((bin(b >> 1).count("1") + 1) & 1) for b in key)


#: 128-bit block ciphers whose keys are random bits of an allowed length (AES; Camellia RFC 3713; ARIA RFC 5794).
_BLOCK_CIPHERS_128 = frozenset(
    {CryptographicAlgorithm.AES, CryptographicAlgorithm.CAMELLIA, CryptographicAlgorithm.ARIA}
)


def generate_symmetric_key(
    algorithm: CryptographicAlgorithm, length_bits: int, *, approved_only: bool = False
) -> bytes:
    """Fresh key material for Create (KMIP 2.1 §6.1.8) from the OS CSPRNG.

    AES, Camellia, ARIA: 128, 192 or 256 bits (AES also 512, an AES-256-XTS key pair). ChaCha20 /
    ChaCha20-Poly1305: 256. Triple-DES: 112/128 (two
    keys) or 168/192 (three keys), parity set; refused in approved-only mode. HMAC: any multiple of 8 bits.
    """
    if approved_only:
        _approved.require_approved(Operation.CREATE, algorithm, length_bits=length_bits)
    if algorithm in _BLOCK_CIPHERS_128:
        if length_bits not in _AES_BITS:
            name = enum_name(algorithm)
            fail(ResultReason.INVALID_FIELD, f"{name} keys are 128, 192 or 256 bits, got {length_bits}")
        return os.urandom(length_bits // 8)
    if algorithm in (CryptographicAlgorithm.CHACHA20, CryptographicAlgorithm.CHACHA20POLY1305):
        if length_bits != 256:
            fail(ResultReason.INVALID_FIELD, f"ChaCha20 keys are 256 bits, got {length_bits}")
        return os.urandom(32)
    if algorithm == CryptographicAlgorithm.DES3:
        if length_bits not in _DES3_BYTES:
            fail(ResultReason.INVALID_FIELD, f"Triple-DES keys are 112, 128, 168 or 192 bits, got {length_bits}")
        return _odd_parity(os.urandom(_DES3_BYTES[length_bits]))
    if algorithm in HMAC_HASHES:
        return os.urandom(byte_length(length_bits, "HMAC key length"))
    fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"cannot generate {enum_name(algorithm)} keys")


def check_symmetric_key(algorithm: CryptographicAlgorithm | None, length_bits: int | None, key: bytes) -> None:
    """Refuse (Invalid Field) key material that cannot be a key of ``algorithm`` (a 17-byte "AES" key), or whose
    Cryptographic Length says otherwise, as Register receives it (KMIP 2.1 §6.1.43). Algorithms without a fixed
    key layout (HMAC, unknown ones) take any length."""
    size = len(key)
    name = enum_name(algorithm) if algorithm is not None else "symmetric"
    allowed: frozenset[int] | None = None
    if algorithm in _BLOCK_CIPHERS_128:
        allowed = frozenset({16, 24, 32, 64}) if algorithm == CryptographicAlgorithm.AES else frozenset({16, 24, 32})
    elif algorithm in (CryptographicAlgorithm.CHACHA20, CryptographicAlgorithm.CHACHA20POLY1305):
        allowed = frozenset({32})
    elif algorithm == CryptographicAlgorithm.DES3:
        allowed = frozenset({14, 16, 21, 24})  # two or three keys, with or without their parity bits
    if allowed is not None and size not in allowed:
        sizes = ", ".join(str(n) for n in sorted(allowed))
        fail(ResultReason.INVALID_FIELD, f"{name} keys are {sizes} bytes long, got {size}")
    if length_bits is None:
        return
    if algorithm == CryptographicAlgorithm.DES3:
        # 112 or 128 bits: two keys (14 bytes, or 16 with parity); 168 or 192: three keys (21 or 24 bytes).
        fits = (length_bits in (112, 128)) == (size in (14, 16)) and length_bits in _DES3_BYTES
    else:
        fits = length_bits == 8 * size
    if not fits:
        fail(ResultReason.INVALID_FIELD, f"Cryptographic Length {length_bits} does not fit a {size}-byte {name} key")


def _generate_private(
    algorithm: CryptographicAlgorithm,
    length: int | None,
    curve: RecommendedCurve | None,
    domain_parameters: bytes | None = None,
) -> PrivateKeyTypes:
    if algorithm == CryptographicAlgorithm.RSA:
        bits = 2048 if length is None else length
        if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS or bits % 8:
            fail(ResultReason.INVALID_FIELD, f"RSA keys are 1024 to 8192 bits (multiple of 8), got {bits}")
        # F4 only: the exponent every interoperable implementation expects (FIPS 186-5 §A.1.1 allows 2^16+1 up).
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if algorithm == CryptographicAlgorithm.ED25519 or (
        algorithm in _EC_ALGORITHMS and curve == RecommendedCurve.CURVEED25519
    ):
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == CryptographicAlgorithm.ED448 or (
        algorithm in _EC_ALGORITHMS and curve == RecommendedCurve.CURVEED448
    ):
        return ed448.Ed448PrivateKey.generate()
    if algorithm in _EC_ALGORITHMS:
        if curve == RecommendedCurve.CURVE25519:
            return x25519.X25519PrivateKey.generate()
        if curve == RecommendedCurve.CURVE448:
            return x448.X448PrivateKey.generate()
        return ec.generate_private_key(curve_for(RecommendedCurve.P_256 if curve is None else curve))
    if algorithm in _PQC_STRENGTH:
        try:
            key: PrivateKeyTypes = _require_pqc(algorithm).generate()
        except UnsupportedAlgorithm:
            fail(ResultReason.FEATURE_NOT_SUPPORTED, f"{algorithm.name} is not supported by the OpenSSL in use")
        return key
    if algorithm in (CryptographicAlgorithm.DSA, CryptographicAlgorithm.DH):
        return _finite_field.generate_private(algorithm, length, domain_parameters)  # type: ignore[no-any-return]
    fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"cannot generate {enum_name(algorithm)} key pairs")


def generate_key_pair(
    algorithm: CryptographicAlgorithm,
    *,
    length: int | None = None,
    curve: RecommendedCurve | None = None,
    domain_parameters: bytes | None = None,
    approved_only: bool = False,
) -> tuple[bytes, bytes]:
    """A fresh key pair for Create Key Pair (KMIP 2.1 §6.1.9): ``(PKCS#8 private DER, SPKI public DER)``.

    RSA: ``length`` bits (default 2048), e = 65537. EC/ECDSA/ECDH: ``curve`` (default P-256): P-224/256/384/521,
    secp256k1, brainpool r1 curves; CURVE25519/CURVE448 give X25519/X448, CURVEED25519/CURVEED448 give Ed25519/Ed448.
    ED25519, ED448. ML_KEM_768/1024 and ML_DSA_44/65/87 when the installed `cryptography` has them (FEATURE_NOT_
    SUPPORTED otherwise; ML-KEM-512 is absent from cryptography 48). DSA and DH: on ``domain_parameters`` (DER:
    ``Dss-Parms``, PKCS #3 ``DHParameter``), or on fresh ones with a prime of ``length`` bits.
    """
    if approved_only:
        bits = (2048 if length is None else length) if algorithm == CryptographicAlgorithm.RSA else None
        _approved.require_approved(Operation.CREATE_KEY_PAIR, algorithm, length_bits=bits, curve=curve)
    private = _generate_private(algorithm, length, curve, domain_parameters)
    return private_to_der(private), public_to_der(private.public_key())


def finite_field_numbers(der: bytes | bytearray | memoryview) -> dict[str, int]:
    """The integers of a DSA or Diffie-Hellman key (PKCS#8 or SubjectPublicKeyInfo DER): ``p``, ``g``, ``q`` when
    the parameters have one, ``y``, and ``x`` for a private key. INVALID_OBJECT_TYPE for any other key."""
    data = as_bytes(der)
    key: Any
    try:
        key = _parse_private(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = load_public(data)
    if _finite_field.family(key) is None:
        fail(ResultReason.INVALID_OBJECT_TYPE, "not a DSA or Diffie-Hellman key")
    return _finite_field.numbers(key)


def finite_field_key(
    algorithm: CryptographicAlgorithm, parameters: bytes, *, x: int | None = None, y: int | None = None
) -> bytes:
    """A DSA or Diffie-Hellman key from its domain parameters (DER) and value, as a client imports it: the PKCS#8 of
    the private value ``x``, else the SubjectPublicKeyInfo of the public value ``y``."""
    if x is not None:
        return private_to_der(_finite_field.private_key_from(algorithm, parameters, x))
    if y is None:
        fail(ResultReason.INVALID_FIELD, "a DSA or Diffie-Hellman key needs its value")
    return public_to_der(_finite_field.public_key_from(algorithm, parameters, y))


def encode_domain_parameters(algorithm: CryptographicAlgorithm, p: int, g: int, q: int | None = None) -> bytes:
    """DSA ``Dss-Parms`` (q required) or PKCS #3 ``DHParameter`` DER of the given integers."""
    return _finite_field.encode_parameters(algorithm, p, g, q)


def decode_domain_parameters(algorithm: CryptographicAlgorithm, der: bytes) -> tuple[int, int, int | None]:
    """(p, g, q) of DSA or Diffie-Hellman domain parameters DER (q None for Diffie-Hellman)."""
    return _finite_field.decode_parameters(algorithm, der)


def generate_domain_parameters(algorithm: CryptographicAlgorithm, bits: int) -> bytes:
    """Fresh DSA or Diffie-Hellman domain parameters with a ``bits``-bit prime, as DER (``Dss-Parms``, PKCS #3
    ``DHParameter``): PKCS#11 CKM_DSA_PARAMETER_GEN, CKM_DH_PKCS_PARAMETER_GEN."""
    return _finite_field.generate_parameters(algorithm, bits)


# ---------------------------------------------------------------------------------------------------------------
# Key Format Type conversion
# ---------------------------------------------------------------------------------------------------------------

_TRANSPARENT_EC_PRIVATE = frozenset(
    {
        KeyFormatType.TRANSPARENT_EC_PRIVATE_KEY,
        KeyFormatType.TRANSPARENT_ECDSA_PRIVATE_KEY,
        KeyFormatType.TRANSPARENT_ECDH_PRIVATE_KEY,
        KeyFormatType.TRANSPARENT_ECMQV_PRIVATE_KEY,
    }
)
_TRANSPARENT_EC_PUBLIC = frozenset(
    {
        KeyFormatType.TRANSPARENT_EC_PUBLIC_KEY,
        KeyFormatType.TRANSPARENT_ECDSA_PUBLIC_KEY,
        KeyFormatType.TRANSPARENT_ECDH_PUBLIC_KEY,
        KeyFormatType.TRANSPARENT_ECMQV_PUBLIC_KEY,
    }
)
_RAW_PRIVATE: dict[RecommendedCurve, Callable[[bytes], PrivateKeyTypes]] = {
    RecommendedCurve.CURVE25519: x25519.X25519PrivateKey.from_private_bytes,
    RecommendedCurve.CURVE448: x448.X448PrivateKey.from_private_bytes,
    RecommendedCurve.CURVEED25519: ed25519.Ed25519PrivateKey.from_private_bytes,
    RecommendedCurve.CURVEED448: ed448.Ed448PrivateKey.from_private_bytes,
}
_RAW_PUBLIC: dict[RecommendedCurve, Callable[[bytes], PublicKeyTypes]] = {
    RecommendedCurve.CURVE25519: x25519.X25519PublicKey.from_public_bytes,
    RecommendedCurve.CURVE448: x448.X448PublicKey.from_public_bytes,
    RecommendedCurve.CURVEED25519: ed25519.Ed25519PublicKey.from_public_bytes,
    RecommendedCurve.CURVEED448: ed448.Ed448PublicKey.from_public_bytes,
}
_RAW_SIZES: dict[RecommendedCurve, int] = {
    RecommendedCurve.CURVE25519: 32,
    RecommendedCurve.CURVE448: 56,
    RecommendedCurve.CURVEED25519: 32,
    RecommendedCurve.CURVEED448: 57,
}
_NOT_ENCRYPTED = serialization.NoEncryption()
_DER = serialization.Encoding.DER
_RAW = serialization.Encoding.Raw


def _format_not_supported(key_format: KeyFormatType, what: str) -> NoReturn:
    fail(
        ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED,
        f"Key Format Type {enum_name(key_format)} is not supported {what} (unsupported format)",
    )


def _uncompressed_point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _raw_curve(key: object) -> RecommendedCurve | None:
    for classes, _algorithm, _length, curve in _MONTGOMERY_EDWARDS:
        if isinstance(key, classes):
            return curve
    return None


def export_private_key(der_pkcs8: bytes, key_format: KeyFormatType) -> bytes | TransparentKey:
    """A PKCS#8 private key in the Key Format Type a Get asks for (KMIP 2.1 §6.1.27, §11.25).

    PKCS_8 (every key), PKCS_1 (RSA), ECPRIVATEKEY (SEC 1 §C.4, Weierstrass EC), TRANSPARENT_RSA_PRIVATE_KEY,
    TRANSPARENT_EC_PRIVATE_KEY and the 1.x ECDSA/ECDH/ECMQV forms (dict), RAW (EC: ``d`` as fixed-length big-endian
    bytes, PKCS#11 CKA_VALUE; X/Ed keys: RFC 7748/8032 bytes; ML-KEM/ML-DSA: the seed).
    """
    key = load_private(der_pkcs8)
    if key_format == KeyFormatType.PKCS_8:
        return private_to_der(key)
    if isinstance(key, rsa.RSAPrivateKey):
        if key_format == KeyFormatType.PKCS_1:
            return key.private_bytes(_DER, serialization.PrivateFormat.TraditionalOpenSSL, _NOT_ENCRYPTED)
        if key_format == KeyFormatType.TRANSPARENT_RSA_PRIVATE_KEY:
            numbers = key.private_numbers()
            return {
                "modulus": numbers.public_numbers.n,
                "public_exponent": numbers.public_numbers.e,
                "private_exponent": numbers.d,
                "p": numbers.p,
                "q": numbers.q,
                "prime_exponent_p": numbers.dmp1,
                "prime_exponent_q": numbers.dmq1,
                "crt_coefficient": numbers.iqmp,
            }
        _format_not_supported(key_format, "for RSA private keys")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key_format == KeyFormatType.ECPRIVATEKEY:
            return key.private_bytes(_DER, serialization.PrivateFormat.TraditionalOpenSSL, _NOT_ENCRYPTED)
        if key_format in _TRANSPARENT_EC_PRIVATE:
            return {"recommended_curve": recommended_curve(key.curve), "d": key.private_numbers().private_value}
        if key_format == KeyFormatType.RAW:
            return key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big")
        _format_not_supported(key_format, "for EC private keys")
    raw_curve = _raw_curve(key)
    if raw_curve is not None:
        raw = key.private_bytes(_RAW, serialization.PrivateFormat.Raw, _NOT_ENCRYPTED)
        if key_format == KeyFormatType.RAW:
            return raw
        if key_format in _TRANSPARENT_EC_PRIVATE:
            return {"recommended_curve": raw_curve, "d": int.from_bytes(raw, "big")}
        _format_not_supported(key_format, f"for {raw_curve.name} private keys")
    if pqc_algorithm(key) is not None and key_format == KeyFormatType.RAW:
        raw_bytes: bytes = key.private_bytes_raw()  # type: ignore[union-attr]
        return raw_bytes
    _format_not_supported(key_format, f"for {type(key).__name__}")


def export_public_key(der_spki: bytes, key_format: KeyFormatType) -> bytes | TransparentKey:
    """A SubjectPublicKeyInfo in the Key Format Type a Get asks for (KMIP 2.1 §6.1.27, §11.25).

    X_509 (SPKI, every key), PKCS_1 (RSAPublicKey), TRANSPARENT_RSA_PUBLIC_KEY, TRANSPARENT_EC_PUBLIC_KEY and the
    1.x ECDSA/ECDH/ECMQV forms (``q_string``), RAW (EC: uncompressed point, PKCS#11 CKA_EC_POINT content; X/Ed and
    ML keys: their raw encoding).
    """
    key = load_public(der_spki)
    if key_format == KeyFormatType.X_509:
        return public_to_der(key)
    if isinstance(key, rsa.RSAPublicKey):
        if key_format == KeyFormatType.PKCS_1:
            return key.public_bytes(_DER, serialization.PublicFormat.PKCS1)
        if key_format == KeyFormatType.TRANSPARENT_RSA_PUBLIC_KEY:
            numbers = key.public_numbers()
            return {"modulus": numbers.n, "public_exponent": numbers.e}
        _format_not_supported(key_format, "for RSA public keys")
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key_format in _TRANSPARENT_EC_PUBLIC:
            return {"recommended_curve": recommended_curve(key.curve), "q_string": _uncompressed_point(key)}
        if key_format == KeyFormatType.RAW:
            return _uncompressed_point(key)
        _format_not_supported(key_format, "for EC public keys")
    raw_curve = _raw_curve(key)
    if raw_curve is not None:
        raw = key.public_bytes(_RAW, serialization.PublicFormat.Raw)
        if key_format == KeyFormatType.RAW:
            return raw
        if key_format in _TRANSPARENT_EC_PUBLIC:
            return {"recommended_curve": raw_curve, "q_string": raw}
        _format_not_supported(key_format, f"for {raw_curve.name} public keys")
    if pqc_algorithm(key) is not None and key_format == KeyFormatType.RAW:
        raw_bytes: bytes = key.public_bytes_raw()  # type: ignore[union-attr]
        return raw_bytes
    _format_not_supported(key_format, f"for {type(key).__name__}")


def _field(material: Mapping[str, Any], name: str, kind: type) -> Any:
    value = material.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        fail(ResultReason.INVALID_FIELD, f"transparent key field {name!r} is missing or not {kind.__name__}")
    return value


def _rsa_private_from_fields(material: Mapping[str, Any]) -> rsa.RSAPrivateKey:
    n = _field(material, "modulus", int)
    e = _field(material, "public_exponent", int)
    d = _field(material, "private_exponent", int)
    p, q = material.get("p"), material.get("q")
    if not isinstance(p, int) or not isinstance(q, int):
        # KMIP makes every field but the modulus optional; with n, e, d the primes are recoverable (SP 800-56B §C.2).
        p, q = rsa.rsa_recover_prime_factors(n, e, d)
    dmp1 = material.get("prime_exponent_p") or rsa.rsa_crt_dmp1(d, p)
    dmq1 = material.get("prime_exponent_q") or rsa.rsa_crt_dmq1(d, q)
    iqmp = material.get("crt_coefficient") or rsa.rsa_crt_iqmp(p, q)
    numbers = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, rsa.RSAPublicNumbers(e, n))
    return numbers.private_key()


def _curve_from(material: Mapping[str, Any], curve: RecommendedCurve | None) -> RecommendedCurve:
    value = material.get("recommended_curve", curve)
    if value is None:
        fail(ResultReason.INVALID_FIELD, "transparent EC key without recommended_curve")
    return RecommendedCurve(value)


def _private_from_raw(raw: bytes, algorithm: CryptographicAlgorithm | None, curve: RecommendedCurve | None) -> Any:
    if algorithm == CryptographicAlgorithm.ED25519:
        curve = RecommendedCurve.CURVEED25519
    elif algorithm == CryptographicAlgorithm.ED448:
        curve = RecommendedCurve.CURVEED448
    elif algorithm in _PQC_STRENGTH:
        return _require_pqc(algorithm).from_seed_bytes(raw)
    if curve in _RAW_PRIVATE:
        return _RAW_PRIVATE[curve](raw)
    if curve is not None:
        return ec.derive_private_key(int.from_bytes(raw, "big"), curve_for(curve))
    fail(ResultReason.INVALID_FIELD, "a Raw private key needs its algorithm or curve")


def import_private_key(
    material: bytes | Mapping[str, Any],
    key_format: KeyFormatType,
    *,
    algorithm: CryptographicAlgorithm | None = None,
    curve: RecommendedCurve | None = None,
) -> bytes:
    """Key material of a Register/Import (KMIP 2.1 §6.1.43) in ``key_format`` → PKCS#8 DER.

    Accepts the formats :func:`export_private_key` produces. ``algorithm``/``curve`` (the object's attributes) are
    needed only for RAW. Malformed material: INVALID_FIELD; a format that does not fit the key:
    KEY_FORMAT_TYPE_NOT_SUPPORTED.
    """
    try:
        key: Any
        if key_format in (KeyFormatType.PKCS_8, KeyFormatType.PKCS_1, KeyFormatType.ECPRIVATEKEY):
            if not isinstance(material, bytes | bytearray | memoryview):
                fail(ResultReason.INVALID_FIELD, f"{key_format.name} key material must be bytes")
            key = load_private(material)
            if key_format == KeyFormatType.PKCS_1 and not isinstance(key, rsa.RSAPrivateKey):
                _format_not_supported(key_format, "for non-RSA keys")
            if key_format == KeyFormatType.ECPRIVATEKEY and not isinstance(key, ec.EllipticCurvePrivateKey):
                _format_not_supported(key_format, "for non-EC keys")
        elif key_format == KeyFormatType.TRANSPARENT_RSA_PRIVATE_KEY and isinstance(material, Mapping):
            key = _rsa_private_from_fields(material)
        elif key_format in _TRANSPARENT_EC_PRIVATE and isinstance(material, Mapping):
            ec_curve = _curve_from(material, curve)
            d = _field(material, "d", int)
            size = _RAW_SIZES.get(ec_curve)
            if size is not None:
                key = _RAW_PRIVATE[ec_curve](d.to_bytes(size, "big"))
            else:
                key = ec.derive_private_key(d, curve_for(ec_curve))
        elif key_format == KeyFormatType.RAW and isinstance(material, bytes | bytearray | memoryview):
            key = _private_from_raw(as_bytes(material), algorithm, curve)
        else:
            _format_not_supported(key_format, "for private key material of this shape")
        return private_to_der(key)
    except (ValueError, TypeError, OverflowError, UnsupportedAlgorithm):
        fail(ResultReason.INVALID_FIELD, f"key material is not a valid {enum_name(key_format)} private key")


def import_public_key(
    material: bytes | Mapping[str, Any],
    key_format: KeyFormatType,
    *,
    algorithm: CryptographicAlgorithm | None = None,
    curve: RecommendedCurve | None = None,
) -> bytes:
    """Key material of a Register/Import in ``key_format`` → SubjectPublicKeyInfo DER (KMIP 2.1 §6.1.43).

    Accepts the formats :func:`export_public_key` produces; ``algorithm``/``curve`` are needed for RAW.
    """
    try:
        key: Any
        if key_format in (KeyFormatType.X_509, KeyFormatType.PKCS_1):
            if not isinstance(material, bytes | bytearray | memoryview):
                fail(ResultReason.INVALID_FIELD, f"{key_format.name} key material must be bytes")
            key = _parse_public(as_bytes(material))
            if key_format == KeyFormatType.PKCS_1 and not isinstance(key, rsa.RSAPublicKey):
                _format_not_supported(key_format, "for non-RSA keys")
        elif key_format == KeyFormatType.TRANSPARENT_RSA_PUBLIC_KEY and isinstance(material, Mapping):
            n = _field(material, "modulus", int)
            e = _field(material, "public_exponent", int)
            key = rsa.RSAPublicNumbers(e, n).public_key()
        elif key_format in _TRANSPARENT_EC_PUBLIC and isinstance(material, Mapping):
            key = _public_from_point(_field(material, "q_string", bytes), _curve_from(material, curve))
        elif key_format == KeyFormatType.RAW and isinstance(material, bytes | bytearray | memoryview):
            raw = as_bytes(material)
            if algorithm == CryptographicAlgorithm.ED25519:
                curve = RecommendedCurve.CURVEED25519
            elif algorithm == CryptographicAlgorithm.ED448:
                curve = RecommendedCurve.CURVEED448
            elif algorithm in _PQC_STRENGTH:
                _require_pqc(algorithm)
                key = _PQC_PUBLIC[algorithm].from_public_bytes(raw)
                return public_to_der(key)
            if curve is None:
                fail(ResultReason.INVALID_FIELD, "a Raw public key needs its algorithm or curve")
            key = _public_from_point(raw, curve)
        else:
            _format_not_supported(key_format, "for public key material of this shape")
        return public_to_der(key)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        fail(ResultReason.INVALID_FIELD, f"key material is not a valid {enum_name(key_format)} public key")


def _public_from_point(point: bytes, curve: RecommendedCurve) -> PublicKeyTypes:
    if curve in _RAW_PUBLIC:
        return _RAW_PUBLIC[curve](point)
    return ec.EllipticCurvePublicKey.from_encoded_point(curve_for(curve), point)


def public_from_point(point: bytes, curve: RecommendedCurve) -> PublicKeyTypes:
    """A public key object from a SEC 1 point (or raw X/Ed bytes) on ``curve``; INVALID_FIELD if not on it."""
    try:
        return _public_from_point(point, curve)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        fail(ResultReason.INVALID_FIELD, f"not a valid public point on {curve.name}")


def export_symmetric_key(key: bytes, key_format: KeyFormatType) -> bytes | TransparentKey:
    """Symmetric key material as RAW bytes or a Transparent Symmetric Key ``{"key": bytes}`` (KMIP 2.1 §2.1.7.1)."""
    if key_format == KeyFormatType.RAW:
        return bytes(key)
    if key_format == KeyFormatType.TRANSPARENT_SYMMETRIC_KEY:
        return {"key": bytes(key)}
    _format_not_supported(key_format, "for symmetric keys")


def import_symmetric_key(material: bytes | Mapping[str, Any], key_format: KeyFormatType) -> bytes:
    """RAW bytes or a Transparent Symmetric Key dict → raw key bytes."""
    if key_format == KeyFormatType.RAW and isinstance(material, bytes | bytearray | memoryview):
        return bytes(material)
    if key_format == KeyFormatType.TRANSPARENT_SYMMETRIC_KEY and isinstance(material, Mapping):
        return bytes(_field(material, "key", bytes))
    _format_not_supported(key_format, "for symmetric key material of this shape")
