"""Approved-only mode: the policy table and its enforcement by every operation."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from kms_backend import crypto
from kms_backend.crypto import CipherParams, DerivationParams
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DerivationMethod,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    Operation,
    PaddingMethod,
    RecommendedCurve,
    ResultReason,
)
from kms_backend.kmip.errors import KmipError

CA = CryptographicAlgorithm
REFUSED = ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[bytes, bytes]:
    return crypto.generate_key_pair(CA.RSA, length=2048)


def test_policy_table_answers():
    assert crypto.approved(Operation.ENCRYPT, CA.AES, length_bits=256)
    assert not crypto.approved(Operation.ENCRYPT, CA.CHACHA20POLY1305, length_bits=256)
    assert not crypto.approved(Operation.CREATE, CA.DES3)
    assert not crypto.approved(Operation.CREATE_KEY_PAIR, CA.RSA, length_bits=1024)
    assert crypto.approved(Operation.CREATE_KEY_PAIR, CA.RSA, length_bits=3072)
    assert not crypto.approved(Operation.CREATE_KEY_PAIR, CA.EC, curve=RecommendedCurve.SECP256K1)
    assert crypto.approved(Operation.CREATE_KEY_PAIR, CA.EC, curve=RecommendedCurve.P_384)
    sha1 = CipherParams(hashing_algorithm=HashingAlgorithm.SHA_1)
    assert not crypto.approved(Operation.SIGN, CA.RSA, length_bits=2048, params=sha1)
    assert crypto.approved(Operation.SIGNATURE_VERIFY, CA.RSA, length_bits=2048, params=sha1)  # legacy use
    assert crypto.approved(Operation.MAC, CA.HMAC_SHA1, length_bits=160)
    assert not crypto.approved(Operation.MAC, CA.HMAC_SHA256, length_bits=64)
    v15 = CipherParams(padding_method=PaddingMethod.PKCS1_V1_5)
    assert not crypto.approved(Operation.ENCRYPT, CA.RSA, length_bits=2048, params=v15)
    v15_sha256 = CipherParams(padding_method=PaddingMethod.PKCS1_V1_5, hashing_algorithm=HashingAlgorithm.SHA_256)
    assert crypto.approved(Operation.SIGN, CA.RSA, length_bits=2048, params=v15_sha256)
    # PKCS#1 v1.5 with no hash is the raw signature: not made, but still verified, in approved-only mode
    assert not crypto.approved(Operation.SIGN, CA.RSA, length_bits=2048, params=v15)
    assert crypto.approved(Operation.SIGNATURE_VERIFY, CA.RSA, length_bits=2048, params=v15)
    assert not crypto.approved(
        Operation.ENCRYPT, CA.AES, params=CipherParams(block_cipher_mode=BlockCipherMode.GCM_SIV)
    )
    with pytest.raises(KmipError) as e:
        crypto.require_approved(Operation.ENCRYPT, CA.CHACHA20)
    assert e.value.reason == REFUSED and "approved-only" in e.value.message


def test_operations_refuse_in_approved_only_mode(rsa_pair: tuple[bytes, bytes]) -> None:
    private, public = rsa_pair
    chacha = CipherParams(cryptographic_algorithm=CA.CHACHA20POLY1305)
    refusals: list[Callable[[], object]] = [
        lambda: crypto.generate_symmetric_key(CA.DES3, 192, approved_only=True),
        lambda: crypto.generate_key_pair(CA.RSA, length=1024, approved_only=True),
        lambda: crypto.generate_key_pair(CA.EC, curve=RecommendedCurve.SECP256K1, approved_only=True),
        lambda: crypto.generate_key_pair(CA.ECDH, curve=RecommendedCurve.CURVE25519, approved_only=True),
        lambda: crypto.encrypt(os.urandom(32), chacha, b"x", approved_only=True),
        lambda: crypto.encrypt_stream(os.urandom(32), chacha, approved_only=True),
        lambda: crypto.encrypt(
            public,
            CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.PKCS1_V1_5),
            b"x",
            approved_only=True,
        ),
        lambda: crypto.sign(
            private,
            CipherParams(digital_signature_algorithm=DigitalSignatureAlgorithm.SHA_1_WITH_RSA_ENCRYPTION),
            b"x",
            approved_only=True,
        ),
        lambda: crypto.SignStream(
            private,
            CipherParams(cryptographic_algorithm=CA.RSA, hashing_algorithm=HashingAlgorithm.SHA_1),
            approved_only=True,
        ),
        lambda: crypto.mac(b"short", CA.HMAC_SHA256, b"x", approved_only=True),
        lambda: crypto.derive_key(
            DerivationMethod.PBKDF2,
            b"password",
            DerivationParams(salt=b"salt", iteration_count=4096),
            128,
            approved_only=True,
        ),
    ]
    for refusal in refusals:
        with pytest.raises(KmipError) as e:
            refusal()
        assert e.value.reason == REFUSED, refusal


def test_approved_uses_still_work(rsa_pair):
    private, public = rsa_pair
    key = crypto.generate_symmetric_key(CA.AES, 256, approved_only=True)
    params = CipherParams(cryptographic_algorithm=CA.AES)
    r = crypto.encrypt(key, params, b"x", approved_only=True)
    assert crypto.decrypt(key, params, r.data, iv=r.iv_counter_nonce, tag=r.tag, approved_only=True) == b"x"
    oaep = CipherParams(cryptographic_algorithm=CA.RSA, hashing_algorithm=HashingAlgorithm.SHA_256)
    ct = crypto.encrypt(public, oaep, b"k", approved_only=True).data
    assert crypto.decrypt(private, oaep, ct, approved_only=True) == b"k"
    signature = crypto.sign(private, CipherParams(cryptographic_algorithm=CA.RSA), b"m", approved_only=True)
    assert crypto.verify(public, CipherParams(cryptographic_algorithm=CA.RSA), b"m", signature, approved_only=True)
    assert crypto.mac(os.urandom(32), CA.HMAC_SHA256, b"m", approved_only=True)
    assert crypto.generate_key_pair(CA.ED25519, approved_only=True)
