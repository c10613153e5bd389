"""Shared tables and helpers of the crypto layer: KMIP enumerations to `cryptography` objects, and errors.

Result Reasons used across the layer (KMIP 2.1 §11.46), so the engine and the PKCS#11 table can rely on them:

- ``CRYPTOGRAPHIC_FAILURE``: authentication tag, padding or unwrap check failed; the message is always the same
  ("decryption failed") so it is no oracle.
- ``INVALID_FIELD``: key material or data of the wrong length or encoding (AES key of 17 bytes, IV of 5 bytes,
  unpadded data not a multiple of the block size, undecodable DER).
- ``INVALID_MESSAGE``: a field the operation needs is missing (IV on Decrypt, as OASIS CS-BC-M-13-21 expects).
- ``INVALID_OBJECT_TYPE``: the key is not of the kind the algorithm needs (EC key with RSA-OAEP).
- ``BAD_CRYPTOGRAPHIC_PARAMETERS``: parameters that contradict each other or the key (PSS salt too long).
- ``UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS``: a KMIP value this layer does not implement, or one refused in
  approved-only mode.
- ``KEY_FORMAT_TYPE_NOT_SUPPORTED``: a Key Format Type that does not exist for this kind of key.
- ``FEATURE_NOT_SUPPORTED``: the installed `cryptography` lacks the algorithm (ML-KEM-512).
"""

from __future__ import annotations

from typing import NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    HashingAlgorithm,
    RecommendedCurve,
    ResultReason,
)
from kms_backend.kmip.errors import KmipError

#: The message of every failed integrity check: tag, padding, unwrap, RSA decryption. One text, so no oracle.
DECRYPTION_FAILED = "decryption failed"


def fail(reason: ResultReason, message: str) -> NoReturn:
    """Raise the one error type of the project (STYLE rule 4)."""
    raise KmipError(reason, message)


_HASHES: dict[HashingAlgorithm, type[hashes.HashAlgorithm]] = {
    HashingAlgorithm.MD5: hashes.MD5,
    HashingAlgorithm.SHA_1: hashes.SHA1,
    HashingAlgorithm.SHA_224: hashes.SHA224,
    HashingAlgorithm.SHA_256: hashes.SHA256,
    HashingAlgorithm.SHA_384: hashes.SHA384,
    HashingAlgorithm.SHA_512: hashes.SHA512,
    HashingAlgorithm.SHA_512_224: hashes.SHA512_224,
    HashingAlgorithm.SHA_512_256: hashes.SHA512_256,
    HashingAlgorithm.SHA3_224: hashes.SHA3_224,
    HashingAlgorithm.SHA3_256: hashes.SHA3_256,
    HashingAlgorithm.SHA3_384: hashes.SHA3_384,
    HashingAlgorithm.SHA3_512: hashes.SHA3_512,
}
# Hash instances are immutable and cheap, but building one per call still shows in µs-level benchmarks.
_HASH_INSTANCES: dict[HashingAlgorithm, hashes.HashAlgorithm] = {name: cls() for name, cls in _HASHES.items()}

#: HMAC Cryptographic Algorithms (KMIP 2.1 §11.12) and the hash under each.
HMAC_HASHES: dict[CryptographicAlgorithm, HashingAlgorithm] = {
    CryptographicAlgorithm.HMAC_SHA1: HashingAlgorithm.SHA_1,
    CryptographicAlgorithm.HMAC_SHA224: HashingAlgorithm.SHA_224,
    CryptographicAlgorithm.HMAC_SHA256: HashingAlgorithm.SHA_256,
    CryptographicAlgorithm.HMAC_SHA384: HashingAlgorithm.SHA_384,
    CryptographicAlgorithm.HMAC_SHA512: HashingAlgorithm.SHA_512,
    CryptographicAlgorithm.HMAC_MD5: HashingAlgorithm.MD5,
    CryptographicAlgorithm.HMAC_SHA3_224: HashingAlgorithm.SHA3_224,
    CryptographicAlgorithm.HMAC_SHA3_256: HashingAlgorithm.SHA3_256,
    CryptographicAlgorithm.HMAC_SHA3_384: HashingAlgorithm.SHA3_384,
    CryptographicAlgorithm.HMAC_SHA3_512: HashingAlgorithm.SHA3_512,
}

#: Short-Weierstrass curves this layer generates and imports (KMIP 2.1 §11.45 → SEC 2 / RFC 5639 curves).
WEIERSTRASS_CURVES: dict[RecommendedCurve, type[ec.EllipticCurve]] = {
    RecommendedCurve.P_192: ec.SECP192R1,  # refused in approved-only mode (crypto._approved)
    RecommendedCurve.P_224: ec.SECP224R1,
    RecommendedCurve.P_256: ec.SECP256R1,
    RecommendedCurve.P_384: ec.SECP384R1,
    RecommendedCurve.P_521: ec.SECP521R1,
    RecommendedCurve.SECP256K1: ec.SECP256K1,
    RecommendedCurve.BRAINPOOLP256R1: ec.BrainpoolP256R1,
    RecommendedCurve.BRAINPOOLP384R1: ec.BrainpoolP384R1,
    RecommendedCurve.BRAINPOOLP512R1: ec.BrainpoolP512R1,
}
_CURVE_BY_NAME: dict[str, RecommendedCurve] = {cls().name: rc for rc, cls in WEIERSTRASS_CURVES.items()}

#: ECDSA hash when the request names none: the one matching the curve's strength (FIPS 186-5 §6.4, SP 800-57).
DEFAULT_ECDSA_HASH: dict[RecommendedCurve, HashingAlgorithm] = {
    RecommendedCurve.P_224: HashingAlgorithm.SHA_224,
    RecommendedCurve.P_384: HashingAlgorithm.SHA_384,
    RecommendedCurve.P_521: HashingAlgorithm.SHA_512,
    RecommendedCurve.BRAINPOOLP384R1: HashingAlgorithm.SHA_384,
    RecommendedCurve.BRAINPOOLP512R1: HashingAlgorithm.SHA_512,
}


def hash_for(algorithm: HashingAlgorithm) -> hashes.HashAlgorithm:
    """The `cryptography` hash for a KMIP Hashing Algorithm (KMIP 2.1 §11.21)."""
    try:
        return _HASH_INSTANCES[algorithm]
    except KeyError:
        fail(
            ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"hashing algorithm {_name(algorithm)} is not supported"
        )


def curve_for(curve: RecommendedCurve) -> ec.EllipticCurve:
    """The `cryptography` curve for a short-Weierstrass Recommended Curve (KMIP 2.1 §11.45)."""
    try:
        return WEIERSTRASS_CURVES[curve]()
    except KeyError:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"recommended curve {_name(curve)} is not supported")


def recommended_curve(curve: ec.EllipticCurve) -> RecommendedCurve:
    """The KMIP Recommended Curve of a `cryptography` curve object."""
    try:
        return _CURVE_BY_NAME[curve.name]
    except KeyError:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"curve {curve.name} is not supported")


def _name(value: object) -> str:
    return getattr(value, "name", repr(value))


def enum_name(value: object) -> str:
    """A KMIP enumeration's name for messages (`repr` for values outside the enumeration)."""
    return _name(value)


def byte_length(bits: int, what: str) -> int:
    """``bits`` as a whole number of bytes; KMIP lengths (Cryptographic Length, IV Length) are in bits."""
    if bits <= 0 or bits % 8:
        fail(ResultReason.INVALID_FIELD, f"{what} must be a positive multiple of 8 bits, got {bits}")
    return bits // 8
