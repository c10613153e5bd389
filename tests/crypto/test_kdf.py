"""Derive Key methods (KMIP 2.1 §6.1.11) beyond the published vectors in test_vectors.py."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms

from kms_backend import crypto
from kms_backend.crypto import CipherParams, DerivationParams
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DerivationMethod,
    HashingAlgorithm,
    RecommendedCurve,
    ResultReason,
)
from kms_backend.kmip.errors import KmipError

DM = DerivationMethod
CA = CryptographicAlgorithm


def sp800_108_counter_hmac(key: bytes, fixed: bytes, length: int, name: str) -> bytes:
    """SP 800-108 Rev. 1 §4.1 written out: K(i) = PRF(key, [i]_32 || fixed)."""
    out = b""
    i = 1
    while len(out) < length:
        out += hmac.new(key, i.to_bytes(4, "big") + fixed, name).digest()
        i += 1
    return out[:length]


def sp800_108_counter_cmac(key: bytes, fixed: bytes, length: int) -> bytes:
    out = b""
    i = 1
    while len(out) < length:
        c = cmac.CMAC(algorithms.AES(key))
        c.update(i.to_bytes(4, "big") + fixed)
        out += c.finalize()
        i += 1
    return out[:length]


@pytest.mark.parametrize("length_bits", [128, 256, 520])
def test_kbkdf_counter_hmac_matches_the_definition(length_bits: int):
    key, fixed = os.urandom(32), b"label\x00context\x00\x00\x01\x00"
    params = DerivationParams(
        cryptographic_parameters=CipherParams(cryptographic_algorithm=CA.HMAC_SHA384), derivation_data=fixed
    )
    derived = crypto.derive_key(DM.NIST800_108_C, key, params, length_bits)
    assert derived == sp800_108_counter_hmac(key, fixed, length_bits // 8, "sha384")
    default = crypto.derive_key(DM.NIST800_108_C, key, DerivationParams(derivation_data=fixed), length_bits)
    assert default == sp800_108_counter_hmac(key, fixed, length_bits // 8, "sha256")


def test_kbkdf_counter_cmac_matches_the_definition():
    key, fixed = os.urandom(16), b"fixed input"
    for cp in (CipherParams(cryptographic_algorithm=CA.AES), CipherParams(block_cipher_mode=BlockCipherMode.CMAC)):
        params = DerivationParams(cryptographic_parameters=cp, derivation_data=fixed)
        assert crypto.derive_key(DM.NIST800_108_C, key, params, 384) == sp800_108_counter_cmac(key, fixed, 48)


def test_hmac_and_hash_methods():
    key, data = os.urandom(32), b"derivation data"
    hm = DerivationParams(
        cryptographic_parameters=CipherParams(hashing_algorithm=HashingAlgorithm.SHA_512), derivation_data=data
    )
    assert crypto.derive_key(DM.HMAC, key, hm, 256) == hmac.new(key, data, "sha512").digest()[:32]
    assert (
        crypto.derive_key(DM.HASH, key, DerivationParams(derivation_data=data), 256)
        == hashlib.sha256(key + data).digest()
    )
    with pytest.raises(KmipError) as e:
        crypto.derive_key(DM.HASH, key, DerivationParams(derivation_data=data), 512)
    assert e.value.reason == ResultReason.INVALID_FIELD


def test_encrypt_method_is_reproducible():
    key, iv = os.urandom(32), os.urandom(16)
    cp = CipherParams(cryptographic_algorithm=CA.AES, block_cipher_mode=BlockCipherMode.CBC)
    params = DerivationParams(cryptographic_parameters=cp, derivation_data=b"d" * 32, initialization_vector=iv)
    first = crypto.derive_key(DM.ENCRYPT, key, params, 256)
    assert first == crypto.derive_key(DM.ENCRYPT, key, params, 256)
    assert first == crypto.encrypt(key, cp, b"d" * 32, iv=iv).data[:32]
    with pytest.raises(KmipError) as e:
        crypto.derive_key(DM.ENCRYPT, key, DerivationParams(cryptographic_parameters=cp, derivation_data=b"d"), 128)
    assert e.value.reason == ResultReason.INVALID_MESSAGE


def test_ecdh_method_with_kdf():
    a_private, a_public = crypto.generate_key_pair(CA.ECDH, curve=RecommendedCurve.P_384)
    b_private, b_public = crypto.generate_key_pair(CA.ECDH, curve=RecommendedCurve.P_384)
    cp = CipherParams(hashing_algorithm=HashingAlgorithm.SHA_384)
    a = crypto.derive_key(DM.ASYMMETRIC_KEY, a_private, DerivationParams(cp, derivation_data=b_public, salt=b"s"), 256)
    b = crypto.derive_key(DM.ASYMMETRIC_KEY, b_private, DerivationParams(cp, derivation_data=a_public, salt=b"s"), 256)
    assert a == b and len(a) == 32
    raw = crypto.derive_key(DM.ASYMMETRIC_KEY, a_private, DerivationParams(derivation_data=b_public), 384)
    assert raw == crypto.ecdh(a_private, b_public)


@pytest.mark.parametrize(
    ("method", "params", "bits", "expected"),
    [
        (DM.PBKDF2, DerivationParams(iteration_count=1000), 128, ResultReason.INVALID_MESSAGE),
        (DM.PBKDF2, DerivationParams(salt=b"s" * 16), 128, ResultReason.INVALID_MESSAGE),
        (DM.PBKDF2, DerivationParams(salt=b"s", iteration_count=0), 128, ResultReason.INVALID_FIELD),
        (DM.HKDF, DerivationParams(), 12, ResultReason.INVALID_FIELD),
        (DM.HKDF, DerivationParams(), 256 * 255 + 8, ResultReason.INVALID_FIELD),
        (DM.NIST800_108_F, DerivationParams(), 128, ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
        (DM.AWS_SIGNATURE_VERSION_4, DerivationParams(), 128, ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
        (DM.ASYMMETRIC_KEY, DerivationParams(), 128, ResultReason.INVALID_MESSAGE),
    ],
)
def test_derivation_refusals(method: DM, params: DerivationParams, bits: int, expected: ResultReason):
    with pytest.raises(KmipError) as e:
        crypto.derive_key(method, os.urandom(32), params, bits)
    assert e.value.reason == expected
