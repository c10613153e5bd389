"""Encrypt / Decrypt entry points and key wrapping: route on the Cryptographic Algorithm to the symmetric or the
asymmetric implementation, and apply the approved-only policy on the resolved parameters.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import replace

from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    Operation,
    PaddingMethod,
    ResultReason,
)

from . import _approved, _asymmetric, _mac, _symmetric
from ._common import DECRYPTION_FAILED, enum_name, fail
from ._keys import ML_DSA, ML_KEM, SLH_DSA, describe, load_private, load_public, supported_pqc_algorithms
from ._params import CipherParams, EncryptResult
from ._symmetric import CipherStream

_GCM_NONCE = 12
_GCM_TAG = 16

#: A prepared encryption: ``(data, iv, aad) -> EncryptResult``.
Encryptor = Callable[[bytes, bytes | None, bytes | None], EncryptResult]
#: A prepared decryption: ``(data, iv, aad, tag) -> plaintext``.
Decryptor = Callable[[bytes, bytes | None, bytes | None, bytes | None], bytes]


def supported_algorithms() -> frozenset[CryptographicAlgorithm]:
    """Every Cryptographic Algorithm this layer implements with the installed `cryptography` (for Query).

    ML-KEM/ML-DSA parameter sets appear only when detected (cryptography 48: ML-KEM-768/1024, ML-DSA-44/65/87).
    """
    implemented = _symmetric.SYMMETRIC_ALGORITHMS | _asymmetric.ASYMMETRIC_ALGORITHMS | _mac.MAC_ALGORITHMS
    return frozenset(implemented - ((ML_KEM | ML_DSA | SLH_DSA) - supported_pqc_algorithms()))


def _algorithm(params: CipherParams) -> CryptographicAlgorithm:
    algorithm = params.cryptographic_algorithm
    if algorithm is None:
        # KMIP lets the request omit it; the engine fills it from the key's Cryptographic Algorithm attribute.
        fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "Cryptographic Algorithm is not set")
    return algorithm


def _symmetric_plan(key: bytes, params: CipherParams, operation: Operation, approved_only: bool) -> _symmetric._Plan:
    plan = _symmetric.plan(key, params)
    if approved_only:
        bits = len(plan.key) * 8 // (2 if plan.mode == BlockCipherMode.XTS else 1)
        resolved = replace(params, block_cipher_mode=plan.mode, padding_method=plan.padding)
        _approved.require_approved(operation, plan.algorithm, length_bits=bits, params=resolved)
    return plan


def _check_asymmetric(key_der: bytes, params: CipherParams, operation: Operation, *, private: bool) -> None:
    key = load_private(key_der) if private else load_public(key_der)
    info = describe(key)
    resolved = params
    if info.algorithm == CryptographicAlgorithm.RSA and params.padding_method is None:
        resolved = replace(params, padding_method=PaddingMethod.OAEP)
    _approved.require_approved(
        operation, info.algorithm, length_bits=info.length_bits, curve=info.curve, params=resolved
    )


def encrypt(
    key: bytes,
    params: CipherParams,
    data: bytes,
    *,
    iv: bytes | None = None,
    aad: bytes | None = None,
    approved_only: bool = False,
) -> EncryptResult:
    """Encrypt (KMIP 2.1 §6.1.18). ``key`` is the raw symmetric key, or an SPKI/PKCS#8 DER key for RSA, EC/ECDH
    (ECIES) and ML-KEM (ECIES-style KEM-DEM). ``params.cryptographic_algorithm`` selects the family.

    ``iv`` is the IV/Counter/Nonce, ``aad`` the Authenticated Encryption Additional Data. See the ``_symmetric``
    and ``_asymmetric`` module docs for defaults and layouts.
    """
    return prepare_encrypt(key, params, approved_only=approved_only)(data, iv, aad)


def decrypt(
    key: bytes,
    params: CipherParams,
    data: bytes,
    *,
    iv: bytes | None = None,
    aad: bytes | None = None,
    tag: bytes | None = None,
    approved_only: bool = False,
) -> bytes:
    """Decrypt (KMIP 2.1 §6.1.14). ``key`` is the raw symmetric key or a PKCS#8 DER private key; ``tag`` is the
    Authenticated Encryption Tag of AEAD modes. Integrity failures raise CRYPTOGRAPHIC_FAILURE "decryption failed"."""
    return prepare_decrypt(key, params, approved_only=approved_only)(data, iv, aad, tag)


def prepare_encrypt(key: bytes, params: CipherParams, *, approved_only: bool = False) -> Encryptor:
    """``encrypt`` with its key and parameters resolved and checked once: ``call(data, iv, aad)``. ``encrypt`` is
    this called once; the engine's kept Plans hold the callable."""
    algorithm = _algorithm(params)
    if algorithm in _symmetric.SYMMETRIC_ALGORITHMS:
        return _symmetric.prepared_encrypt(_symmetric_plan(key, params, Operation.ENCRYPT, approved_only))
    if algorithm in _asymmetric.ASYMMETRIC_ALGORITHMS:
        if approved_only:
            _check_asymmetric(key, params, Operation.ENCRYPT, private=False)
        return lambda data, _iv, aad: _asymmetric.encrypt(key, params, data, aad)
    fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"{enum_name(algorithm)} does not encrypt")


def prepare_decrypt(key: bytes, params: CipherParams, *, approved_only: bool = False) -> Decryptor:
    """``decrypt`` resolved and checked once: ``call(data, iv, aad, tag)``."""
    algorithm = _algorithm(params)
    if algorithm in _symmetric.SYMMETRIC_ALGORITHMS:
        plan = _symmetric_plan(key, params, Operation.DECRYPT, approved_only)
        return functools.partial(_symmetric.decrypt, plan)
    if algorithm in _asymmetric.ASYMMETRIC_ALGORITHMS:
        if approved_only:
            _check_asymmetric(key, params, Operation.DECRYPT, private=True)
        return lambda data, _iv, aad, _tag: _asymmetric.decrypt(key, params, data, aad)
    fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"{enum_name(algorithm)} does not decrypt")


def _stream(
    key: bytes, params: CipherParams, *, encrypting: bool, iv: bytes | None, aad: bytes | None, approved_only: bool
) -> CipherStream:
    algorithm = _algorithm(params)
    if algorithm not in _symmetric.SYMMETRIC_ALGORITHMS:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, "streamed Encrypt/Decrypt is for symmetric ciphers")
    operation = Operation.ENCRYPT if encrypting else Operation.DECRYPT
    plan = _symmetric_plan(key, params, operation, approved_only)
    return _symmetric.open_stream(plan, encrypting=encrypting, iv=iv, aad=aad)


def encrypt_stream(
    key: bytes,
    params: CipherParams,
    *,
    iv: bytes | None = None,
    aad: bytes | None = None,
    approved_only: bool = False,
) -> CipherStream:
    """Start a streamed Encrypt (KMIP 2.1 §6.1.18 Init Indicator); keep it under the Correlation Value."""
    return _stream(key, params, encrypting=True, iv=iv, aad=aad, approved_only=approved_only)


def decrypt_stream(
    key: bytes,
    params: CipherParams,
    *,
    iv: bytes | None = None,
    aad: bytes | None = None,
    approved_only: bool = False,
) -> CipherStream:
    """Start a streamed Decrypt (KMIP 2.1 §6.1.14 Init Indicator); the AEAD tag goes to ``finalize``."""
    return _stream(key, params, encrypting=False, iv=iv, aad=aad, approved_only=approved_only)


# ---------------------------------------------------------------------------------------------------------------
# Key wrapping (KMIP 2.1 §2.1.5 Key Wrapping Data, §7.18 Key Wrapping Specification)
# ---------------------------------------------------------------------------------------------------------------


def _wrap_params(params: CipherParams) -> CipherParams:
    if params.cryptographic_algorithm == CryptographicAlgorithm.AES and params.block_cipher_mode is None:
        # RFC 5649 / SP 800-38F KWP wraps any length, so it is the default for AES wrapping keys.
        return replace(params, block_cipher_mode=BlockCipherMode.AESKEYWRAPPADDING)
    return params


def wrap_key(
    wrapping_key: bytes,
    params: CipherParams,
    key_material: bytes,
    *,
    aad: bytes | None = None,
    approved_only: bool = False,
) -> bytes:
    """Wrap key material for Get/Export with a Key Wrapping Specification (KMIP 2.1 §2.1.5, Wrapping Method Encrypt).

    AES wrapping keys: NISTKeyWrap (RFC 3394), AESKeyWrapPadding (RFC 5649, the default), or GCM with the layout
    ``nonce(12) ‖ ciphertext ‖ tag(16)`` and ``aad`` as additional data. RSA wrapping keys: OAEP (default),
    PKCS#1 v1.5, or RSA-AES-KEY-WRAP (Block Cipher Mode AESKeyWrapPadding). EC/X25519/ML-KEM: ECIES.
    """
    params = _wrap_params(params)
    if params.block_cipher_mode == BlockCipherMode.GCM and params.cryptographic_algorithm == CryptographicAlgorithm.AES:
        nonce = os.urandom(_GCM_NONCE)
        sealed = encrypt(
            wrapping_key, replace(params, tag_length=_GCM_TAG, random_iv=None), key_material,
            iv=nonce, aad=aad, approved_only=approved_only,
        )  # fmt: skip
        assert sealed.tag is not None
        return nonce + sealed.data + sealed.tag
    return encrypt(wrapping_key, params, key_material, aad=aad, approved_only=approved_only).data


def unwrap_key(
    unwrapping_key: bytes,
    params: CipherParams,
    wrapped: bytes,
    *,
    aad: bytes | None = None,
    approved_only: bool = False,
) -> bytes:
    """Unwrap key material on Import/Register of a wrapped Key Block (inverse of :func:`wrap_key`)."""
    params = _wrap_params(params)
    if params.block_cipher_mode == BlockCipherMode.GCM and params.cryptographic_algorithm == CryptographicAlgorithm.AES:
        if len(wrapped) < _GCM_NONCE + _GCM_TAG:
            fail(ResultReason.CRYPTOGRAPHIC_FAILURE, DECRYPTION_FAILED)
        nonce, body, tag = wrapped[:_GCM_NONCE], wrapped[_GCM_NONCE:-_GCM_TAG], wrapped[-_GCM_TAG:]
        return decrypt(
            unwrapping_key, replace(params, tag_length=_GCM_TAG), body,
            iv=nonce, aad=aad, tag=tag, approved_only=approved_only,
        )  # fmt: skip
    return decrypt(unwrapping_key, params, wrapped, aad=aad, approved_only=approved_only)
