"""Derive Key (KMIP 2.1 §6.1.11, Derivation Method §11.14, Derivation Parameters §7.12).

Methods and what each reads from :class:`DerivationParams` (``cp`` = its Cryptographic Parameters):

- PBKDF2 (SP 800-132, RFC 8018 §5.2): PRF HMAC-``cp.hashing_algorithm`` (default SHA-256), ``salt`` and
  ``iteration_count`` required; ``base_key`` is the password.
- HKDF (RFC 5869, SP 800-56C Rev. 2 §5): hash ``cp.hashing_algorithm`` (default SHA-256), optional ``salt``,
  ``info = derivation_data``.
- NIST800_108_C (SP 800-108 Rev. 1 §4.1, KDF in counter mode): PRF HMAC with ``cp.hashing_algorithm`` or the HMAC
  ``cp.cryptographic_algorithm`` (default HMAC-SHA-256), or AES-CMAC when ``cp.cryptographic_algorithm`` is AES or
  ``cp.block_cipher_mode`` is CMAC. A 32-bit big-endian counter starting at 1 precedes the fixed input, which is
  ``derivation_data`` verbatim (the caller encodes Label ‖ 0x00 ‖ Context ‖ [L]₂ as it needs).
- HMAC: ``HMAC-hash(base_key, derivation_data)`` truncated. HASH: ``hash(base_key ‖ derivation_data)`` truncated.
- ENCRYPT: ``derivation_data`` encrypted under ``base_key`` with ``cp`` and ``initialization_vector`` (required
  for modes that take one: the derivation must be reproducible), ciphertext truncated to the length.
- ASYMMETRIC_KEY: ECDH/X25519/X448 between ``base_key`` (PKCS#8 private DER) and ``derivation_data`` (the peer
  public key: SPKI DER, SEC 1 point or raw X25519/X448 bytes); for an ML-KEM ``base_key`` the shared secret
  decapsulated from ``derivation_data``, the ciphertext. With ``cp.hashing_algorithm`` the shared secret
  goes through HKDF (``salt``; empty info), as SP 800-56C §5 requires for key establishment; without, the leading
  bytes of the raw secret are returned (PKCS#11 CKD_NULL).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFCMAC, KBKDFHMAC, CounterLocation, Mode
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DerivationMethod,
    HashingAlgorithm,
    Operation,
    ResultReason,
)

from . import _approved, _asymmetric, _cipher
from ._common import HMAC_HASHES, byte_length, enum_name, fail, hash_for
from ._keys import as_bytes
from ._params import CipherParams, DerivationParams

MAX_PBKDF2_ITERATIONS = 10_000_000


def _hashing(cp: CipherParams) -> HashingAlgorithm:
    if cp.hashing_algorithm is not None:
        return cp.hashing_algorithm
    if cp.cryptographic_algorithm in HMAC_HASHES:
        return HMAC_HASHES[cp.cryptographic_algorithm]
    return HashingAlgorithm.SHA_256


def _truncate(output: bytes, length: int, what: str) -> bytes:
    if length > len(output):
        fail(ResultReason.INVALID_FIELD, f"{what} gives at most {len(output) * 8} bits, {length * 8} requested")
    return output[:length]


def derive_key(
    method: DerivationMethod,
    base_key: bytes,
    params: DerivationParams,
    length_bits: int,
    *,
    approved_only: bool = False,
) -> bytes:
    """Derive ``length_bits`` of key material from ``base_key`` (KMIP 2.1 §6.1.11); see the module docstring."""
    length = byte_length(length_bits, "Cryptographic Length")
    cp = params.cryptographic_parameters or CipherParams()
    base_key = as_bytes(base_key)
    data = params.derivation_data or b""
    if approved_only:
        _approved.require_approved(Operation.DERIVE_KEY, cp.cryptographic_algorithm, params=cp)
    if method == DerivationMethod.PBKDF2:
        if params.salt is None:
            fail(ResultReason.INVALID_MESSAGE, "PBKDF2 needs a Salt")
        count = params.iteration_count
        if count is None:
            fail(ResultReason.INVALID_MESSAGE, "PBKDF2 needs an Iteration Count")
        if not 1 <= count <= MAX_PBKDF2_ITERATIONS:
            fail(ResultReason.INVALID_FIELD, f"Iteration Count must be 1 to {MAX_PBKDF2_ITERATIONS}, got {count}")
        if approved_only and (
            len(params.salt) < _approved.PBKDF2_MIN_SALT_BYTES or count < _approved.PBKDF2_MIN_ITERATIONS
        ):
            fail(
                ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS,
                "not allowed in approved-only mode: PBKDF2 needs a 128-bit salt and 1000 iterations (SP 800-132 §5)",
            )
        kdf = PBKDF2HMAC(hash_for(_hashing(cp)), length, params.salt, count)
        return kdf.derive(base_key)
    if method == DerivationMethod.HKDF:
        digest = hash_for(_hashing(cp))
        if length > 255 * digest.digest_size:
            fail(ResultReason.INVALID_FIELD, f"HKDF-{digest.name} gives at most {255 * digest.digest_size} bytes")
        return HKDF(digest, length, salt=params.salt, info=data).derive(base_key)
    if method == DerivationMethod.NIST800_108_C:
        return _kbkdf_counter(cp, base_key, data, length)
    if method == DerivationMethod.HMAC:
        h = crypto_hmac.HMAC(base_key, hash_for(_hashing(cp)))
        h.update(data)
        return _truncate(h.finalize(), length, "HMAC derivation")
    if method == DerivationMethod.HASH:
        digest_ctx = hashes.Hash(hash_for(_hashing(cp)))
        digest_ctx.update(base_key + data)
        return _truncate(digest_ctx.finalize(), length, "hash derivation")
    if method == DerivationMethod.ENCRYPT:
        if cp.random_iv:
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "Encrypt derivation must be reproducible: no Random IV")
        sealed = _cipher.encrypt(
            base_key, _without_random_iv(cp), data, iv=params.initialization_vector, approved_only=approved_only
        )
        if sealed.iv_counter_nonce is not None:
            fail(ResultReason.INVALID_MESSAGE, "Encrypt derivation needs the Initialization Vector")
        return _truncate(sealed.data, length, "Encrypt derivation")
    if method == DerivationMethod.ASYMMETRIC_KEY:
        if not data:
            fail(ResultReason.INVALID_MESSAGE, "key agreement needs the peer public key as Derivation Data")
        shared = _asymmetric.ecdh(base_key, data)
        if cp.hashing_algorithm is None:
            return _truncate(shared, length, "the raw shared secret")
        return HKDF(hash_for(cp.hashing_algorithm), length, salt=params.salt, info=b"").derive(shared)
    fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"Derivation Method {enum_name(method)} is not supported")


def _without_random_iv(cp: CipherParams) -> CipherParams:
    return replace(cp, random_iv=False)


def _kbkdf_counter(cp: CipherParams, key: bytes, fixed: bytes, length: int) -> bytes:
    kdf: Any
    use_cmac = cp.cryptographic_algorithm == CryptographicAlgorithm.AES or cp.block_cipher_mode == BlockCipherMode.CMAC
    if use_cmac:
        if len(key) not in (16, 24, 32):
            fail(ResultReason.INVALID_FIELD, f"AES-CMAC key must be 16, 24 or 32 bytes, got {len(key)}")
        kdf = KBKDFCMAC(
            algorithms.AES, Mode.CounterMode, length, rlen=4, llen=None, location=CounterLocation.BeforeFixed,
            label=None, context=None, fixed=fixed,
        )  # fmt: skip
    else:
        kdf = KBKDFHMAC(
            hash_for(_hashing(cp)), Mode.CounterMode, length, rlen=4, llen=None,
            location=CounterLocation.BeforeFixed, label=None, context=None, fixed=fixed,
        )  # fmt: skip
    derived: bytes = kdf.derive(key)
    return derived
