"""Asymmetric Encrypt/Decrypt (RSA, RSA-AES-KEY-WRAP, ECIES), Sign/Verify, key agreement, ML-KEM."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kms_backend import crypto
from kms_backend.crypto import CipherParams
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    KeyFormatType,
    PaddingMethod,
    RecommendedCurve,
    ResultReason,
)
from kms_backend.kmip.errors import KmipError

CA = CryptographicAlgorithm
H = HashingAlgorithm
DSA = DigitalSignatureAlgorithm
RC = RecommendedCurve
RSA = CipherParams(cryptographic_algorithm=CA.RSA)


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[bytes, bytes]:
    return crypto.generate_key_pair(CA.RSA, length=2048)


@pytest.fixture(scope="module")
def ec_pairs() -> dict[RC, tuple[bytes, bytes]]:
    return {
        curve: crypto.generate_key_pair(CA.EC, curve=curve) for curve in (RC.P_256, RC.P_384, RC.P_521, RC.SECP256K1)
    }


def reason(e: pytest.ExceptionInfo[KmipError]) -> ResultReason:
    return e.value.reason


# ---------------------------------------------------------------------------------------------------------------
# RSA encryption
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        RSA,  # OAEP SHA-1 defaults
        CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.OAEP, hashing_algorithm=H.SHA_256),
        CipherParams(
            cryptographic_algorithm=CA.RSA,
            padding_method=PaddingMethod.OAEP,
            hashing_algorithm=H.SHA_512,
            mask_generator_hashing_algorithm=H.SHA_1,
            p_source=b"label",
        ),
        CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.OAEP, hashing_algorithm=H.SHA_224),
        CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.OAEP, hashing_algorithm=H.SHA_384),
        CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.PKCS1_V1_5),
    ],
    ids=["oaep-default", "oaep-sha256", "oaep-sha512-mgf1-label", "oaep-sha224", "oaep-sha384", "pkcs1v15"],
)
def test_rsa_round_trip(rsa_pair, params: CipherParams):
    private, public = rsa_pair
    ct = crypto.encrypt(public, params, b"a 32-byte data encryption key!!").data
    assert len(ct) == 256
    assert crypto.decrypt(private, params, ct) == b"a 32-byte data encryption key!!"


def test_rsa_oaep_label_mismatch_fails(rsa_pair):
    private, public = rsa_pair
    ct = crypto.encrypt(public, CipherParams(cryptographic_algorithm=CA.RSA, p_source=b"a"), b"x").data
    with pytest.raises(KmipError) as e:
        crypto.decrypt(private, CipherParams(cryptographic_algorithm=CA.RSA, p_source=b"b"), ct)
    assert (reason(e), e.value.message) == (ResultReason.CRYPTOGRAPHIC_FAILURE, "decryption failed")


def test_rsa_aes_key_wrap(rsa_pair):
    private, public = rsa_pair
    params = CipherParams(
        cryptographic_algorithm=CA.RSA,
        padding_method=PaddingMethod.OAEP,
        hashing_algorithm=H.SHA_256,
        block_cipher_mode=BlockCipherMode.AESKEYWRAPPADDING,
    )
    payload = bytes(range(200))  # larger than RSA-OAEP could carry
    wrapped = crypto.wrap_key(public, params, payload)
    assert len(wrapped) == 256 + 8 * ((len(payload) + 7) // 8) + 8
    assert crypto.unwrap_key(private, params, wrapped) == payload
    with pytest.raises(KmipError) as e:
        crypto.unwrap_key(private, params, wrapped[:-8] + bytes(8))
    assert reason(e) == ResultReason.CRYPTOGRAPHIC_FAILURE


def test_rsa_refusals(rsa_pair):
    private, public = rsa_pair
    with pytest.raises(KmipError) as e:
        crypto.encrypt(public, RSA, b"x" * 300)
    assert reason(e) == ResultReason.INVALID_FIELD
    with pytest.raises(KmipError) as e:
        crypto.encrypt(public, CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.PSS), b"x")
    assert reason(e) == ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS
    with pytest.raises(KmipError) as e:
        crypto.decrypt(private, RSA, b"x" * 255)
    assert reason(e) == ResultReason.INVALID_FIELD
    with pytest.raises(KmipError) as e:
        crypto.decrypt(private, RSA, bytes(256))
    assert (reason(e), e.value.message) == (ResultReason.CRYPTOGRAPHIC_FAILURE, "decryption failed")


def test_wrong_key_type_for_algorithm(rsa_pair, ec_pairs):
    ec_private, ec_public = ec_pairs[RC.P_256]
    with pytest.raises(KmipError) as e:
        crypto.encrypt(ec_public, RSA, b"x")
    assert reason(e) == ResultReason.INVALID_OBJECT_TYPE
    with pytest.raises(KmipError) as e:
        crypto.sign(rsa_pair[0], CipherParams(cryptographic_algorithm=CA.ECDSA), b"x")
    assert reason(e) == ResultReason.INVALID_OBJECT_TYPE
    with pytest.raises(KmipError) as e:
        crypto.sign(ec_private, CipherParams(digital_signature_algorithm=DSA.SHA_256_WITH_RSA_ENCRYPTION), b"x")
    assert reason(e) == ResultReason.INVALID_OBJECT_TYPE
    _ed_private, ed_public = crypto.generate_key_pair(CA.ED25519)
    with pytest.raises(KmipError) as e:
        crypto.encrypt(ed_public, CipherParams(cryptographic_algorithm=CA.ED25519), b"x")
    assert reason(e) == ResultReason.INVALID_OBJECT_TYPE
    x_private, _ = crypto.generate_key_pair(CA.EC, curve=RC.CURVE25519)
    with pytest.raises(KmipError) as e:
        crypto.sign(x_private, CipherParams(), b"x")
    assert reason(e) == ResultReason.INVALID_OBJECT_TYPE


# ---------------------------------------------------------------------------------------------------------------
# ECIES
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", [RC.P_256, RC.P_384, RC.P_521, RC.SECP256K1, RC.CURVE25519, RC.CURVE448])
def test_ecies_round_trip_and_layout(ec_pairs, curve: RC):
    private, public = ec_pairs[curve] if curve in ec_pairs else crypto.generate_key_pair(CA.ECDH, curve=curve)
    params = CipherParams(cryptographic_algorithm=CA.EC)
    ct = crypto.encrypt(public, params, b"hello", aad=b"ctx").data
    point = {RC.CURVE25519: 32, RC.CURVE448: 56}.get(curve)
    if point is None:
        size = (crypto.describe_key(public).length_bits + 7) // 8
        point = 1 + 2 * size
        assert ct[0] == 4
    assert len(ct) == point + 12 + 5 + 16
    assert crypto.decrypt(private, params, ct, aad=b"ctx") == b"hello"
    for bad in (ct[:-1] + bytes([ct[-1] ^ 1]), ct[:10]):
        with pytest.raises(KmipError) as e:
            crypto.decrypt(private, params, bad, aad=b"ctx")
        assert (reason(e), e.value.message) == (ResultReason.CRYPTOGRAPHIC_FAILURE, "decryption failed")


@pytest.mark.parametrize("algorithm", [CA.ML_KEM_768, CA.ML_KEM_1024])
def test_ml_kem_encapsulation_and_kem_dem(algorithm: CA):
    if algorithm not in crypto.supported_algorithms():
        pytest.skip("no ML-KEM")
    private, public = crypto.generate_key_pair(algorithm)
    secret, ciphertext = crypto.encapsulate(public)
    assert crypto.decapsulate(private, ciphertext) == secret
    params = CipherParams(cryptographic_algorithm=algorithm)
    ct = crypto.encrypt(public, params, b"pq").data
    assert crypto.decrypt(private, params, ct) == b"pq"
    with pytest.raises(KmipError) as e:
        crypto.encapsulate(crypto.generate_key_pair(CA.ED25519)[1])
    assert reason(e) == ResultReason.INVALID_OBJECT_TYPE


def test_ecdh_between_p256_keys(ec_pairs):
    (a_private, a_public), (b_private, b_public) = ec_pairs[RC.P_256], crypto.generate_key_pair(CA.EC, curve=RC.P_256)
    shared = crypto.ecdh(a_private, b_public)
    assert shared == crypto.ecdh(b_private, a_public)
    point = crypto.export_public_key(b_public, KeyFormatType.RAW)
    assert isinstance(point, bytes)
    assert crypto.ecdh(a_private, point) == shared
    with pytest.raises(KmipError) as e:
        crypto.ecdh(a_private, ec_pairs[RC.P_384][1])
    assert reason(e) == ResultReason.INVALID_OBJECT_TYPE
    with pytest.raises(KmipError) as e:
        crypto.ecdh(a_private, b"\x04" + bytes(64))
    assert reason(e) == ResultReason.INVALID_FIELD


# ---------------------------------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------------------------------

RSA_SIGNATURES = [
    CipherParams(cryptographic_algorithm=CA.RSA),  # PSS SHA-256
    CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.PSS, hashing_algorithm=H.SHA_384),
    CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.PSS, salt_length=222),
    CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.PSS, salt_length=0),
    CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.PKCS1_V1_5, hashing_algorithm=H.SHA_1),
    CipherParams(padding_method=PaddingMethod.PKCS1_V1_5, hashing_algorithm=H.SHA_224),
    *[
        CipherParams(digital_signature_algorithm=d)
        for d in DSA
        if d.name.endswith("WITH_RSA_ENCRYPTION") and "MD" not in d.name
    ],
    CipherParams(digital_signature_algorithm=DSA.RSASSA_PSS, hashing_algorithm=H.SHA_512),
]


@pytest.mark.parametrize("params", RSA_SIGNATURES, ids=lambda p: str(p.digital_signature_algorithm or p.padding_method))
def test_rsa_sign_verify(rsa_pair, params: CipherParams):
    private, public = rsa_pair
    signature = crypto.sign(private, params, b"message")
    assert len(signature) == 256
    assert crypto.verify(public, params, b"message", signature)
    assert not crypto.verify(public, params, b"massage", signature)
    assert not crypto.verify(public, params, b"message", signature[:-1])


def test_rsa_pkcs1v15_is_deterministic_and_digested_matches(rsa_pair):
    private, public = rsa_pair
    params = CipherParams(digital_signature_algorithm=DSA.SHA_256_WITH_RSA_ENCRYPTION)
    signature = crypto.sign(private, params, b"message")
    assert signature == crypto.sign(private, params, b"message")
    digest = hashlib.sha256(b"message").digest()
    assert crypto.sign(private, params, digest, digested=True) == signature
    assert crypto.verify(public, params, digest, signature, digested=True)
    with pytest.raises(KmipError) as e:
        crypto.sign(private, params, digest[:20], digested=True)
    assert reason(e) == ResultReason.INVALID_FIELD


RAW_PKCS1 = CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.PKCS1_V1_5)
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _public_key(public_der: bytes):
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_public_key(public_der)


def test_raw_pkcs1v15_signs_the_bytes_as_given(rsa_pair):
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    private, public = rsa_pair
    tls = hashlib.md5(b"handshake").digest() + hashlib.sha1(b"handshake").digest()  # TLS 1.0/1.1, 36 bytes
    signature = crypto.sign(private, RAW_PKCS1, tls)
    _public_key(public).verify(signature, tls, padding.PKCS1v15(), utils.NoDigestInfo())  # raises if invalid
    assert crypto.sign(private, RAW_PKCS1, tls, digested=True) == signature  # Data and Digested Data alike
    assert crypto.verify(public, RAW_PKCS1, tls, signature)
    assert crypto.verify(public, RAW_PKCS1, tls, signature, digested=True)
    assert not crypto.verify(public, RAW_PKCS1, tls[:-1] + b"!", signature)
    assert not crypto.verify(public, RAW_PKCS1, tls, signature[:-1])
    # a DigestInfo signed raw is the hashed PKCS#1 v1.5 signature, byte for byte
    info = SHA256_DIGEST_INFO + hashlib.sha256(b"message").digest()
    hashed = CipherParams(digital_signature_algorithm=DSA.SHA_256_WITH_RSA_ENCRYPTION)
    assert crypto.sign(private, RAW_PKCS1, info) == crypto.sign(private, hashed, b"message")
    # k - 11 = 245 bytes for RSA-2048, and not one more
    crypto.sign(private, RAW_PKCS1, b"\x01" * 245)
    for call in (
        lambda: crypto.sign(private, RAW_PKCS1, b"\x01" * 246),
        lambda: crypto.verify(public, RAW_PKCS1, b"\x01" * 246, signature),
    ):
        with pytest.raises(KmipError) as e:
            call()
        assert reason(e) == ResultReason.INVALID_FIELD and "245" in e.value.message


def test_raw_pkcs1v15_streams_and_stops_at_the_limit(rsa_pair):
    private, public = rsa_pair
    signer = crypto.SignStream(private, RAW_PKCS1)
    signer.update(b"abc")
    signature = signer.finalize(b"def")
    assert signature == crypto.sign(private, RAW_PKCS1, b"abcdef")
    verifier = crypto.VerifyStream(public, RAW_PKCS1)
    verifier.update(b"abc")
    assert verifier.finalize(signature, b"def")
    signer = crypto.SignStream(private, RAW_PKCS1)
    signer.update(b"x" * 200)
    with pytest.raises(KmipError) as e:
        signer.update(b"x" * 46)
    assert reason(e) == ResultReason.INVALID_FIELD


def test_raw_pkcs1v15_is_refused_for_signing_in_approved_only_mode(rsa_pair):
    private, public = rsa_pair
    signature = crypto.sign(private, RAW_PKCS1, b"legacy")
    with pytest.raises(KmipError) as e:
        crypto.sign(private, RAW_PKCS1, b"legacy", approved_only=True)
    assert reason(e) == ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS and "raw" in e.value.message
    assert crypto.verify(public, RAW_PKCS1, b"legacy", signature, approved_only=True)  # legacy verification


def test_signature_parameter_conflicts(rsa_pair):
    private, _ = rsa_pair
    for params, expected in [
        (CipherParams(cryptographic_algorithm=CA.RSA, salt_length=223), ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS),
        (
            CipherParams(cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.OAEP),
            ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
        ),
        (
            CipherParams(digital_signature_algorithm=DSA.SHA_256_WITH_RSA_ENCRYPTION, hashing_algorithm=H.SHA_1),
            ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
        ),
        (
            CipherParams(digital_signature_algorithm=DSA.SHA_256_WITH_RSA_ENCRYPTION, padding_method=PaddingMethod.PSS),
            ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
        ),
        (
            CipherParams(digital_signature_algorithm=DSA.MD5_WITH_RSA_ENCRYPTION),
            ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS,
        ),
        (
            CipherParams(cryptographic_algorithm=CA.RSA, trailer_field=2),
            ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS,
        ),
        (
            CipherParams(cryptographic_algorithm=CA.RSA, hashing_algorithm=H.MD2),
            ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS,
        ),
    ]:
        with pytest.raises(KmipError) as e:
            crypto.sign(private, params, b"m")
        assert reason(e) == expected, params


@pytest.mark.parametrize("curve", [RC.P_256, RC.P_384, RC.P_521, RC.SECP256K1])
def test_ecdsa_sign_verify_and_raw_format(ec_pairs, curve: RC):
    private, public = ec_pairs[curve]
    params = CipherParams(cryptographic_algorithm=CA.ECDSA)
    signature = crypto.sign(private, params, b"message")
    assert crypto.verify(public, params, b"message", signature)
    assert not crypto.verify(public, params, b"other", signature)
    raw = crypto.ecdsa_signature_to_raw(signature, curve)
    size = (crypto.describe_key(public).length_bits + 7) // 8
    assert len(raw) == 2 * size
    assert crypto.ecdsa_signature_from_raw(raw) == signature
    assert not crypto.verify(public, params, b"message", raw)  # raw r||s is not DER


ECDSA_HASHES = {
    DSA.ECDSA_WITH_SHA_1: "sha1",
    DSA.ECDSA_WITH_SHA256: "sha256",
    DSA.ECDSA_WITH_SHA384: "sha384",
    DSA.ECDSA_WITH_SHA512: "sha512",
}


@pytest.mark.parametrize("dsa", list(ECDSA_HASHES))
def test_ecdsa_named_algorithms_and_digested(ec_pairs, dsa: DSA):
    private, public = ec_pairs[RC.P_256]
    params = CipherParams(digital_signature_algorithm=dsa)
    signature = crypto.sign(private, params, hashlib.new(ECDSA_HASHES[dsa], b"m").digest(), digested=True)
    assert crypto.verify(public, params, b"m", signature)


@pytest.mark.parametrize("algorithm", [CA.ED25519, CA.ED448, CA.ML_DSA_44, CA.ML_DSA_65, CA.ML_DSA_87])
def test_message_signatures(algorithm: CA):
    if algorithm not in crypto.supported_algorithms():
        pytest.skip(f"no {algorithm.name}")
    private, public = crypto.generate_key_pair(algorithm)
    params = CipherParams(cryptographic_algorithm=algorithm)
    signature = crypto.sign(private, params, b"message")
    assert crypto.verify(public, params, b"message", signature)
    assert not crypto.verify(public, params, b"message!", signature)
    with pytest.raises(KmipError) as e:
        crypto.sign(private, params, bytes(32), digested=True)
    assert reason(e) == ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS


STREAM_SIGNERS = [
    (
        CA.RSA,
        CipherParams(
            cryptographic_algorithm=CA.RSA, padding_method=PaddingMethod.PKCS1_V1_5, hashing_algorithm=H.SHA_256
        ),
    ),
    (CA.EC, CipherParams(cryptographic_algorithm=CA.ECDSA)),
    (CA.ED25519, CipherParams(cryptographic_algorithm=CA.ED25519)),
]


@pytest.mark.parametrize(("kind", "params"), STREAM_SIGNERS, ids=[k.name for k, _ in STREAM_SIGNERS])
@settings(max_examples=15, deadline=None)
@given(parts=st.lists(st.binary(max_size=64), max_size=5))
def test_sign_stream_equals_one_shot(rsa_pair, ec_pairs, kind: CA, params: CipherParams, parts: list[bytes]):
    private, public = {CA.RSA: rsa_pair, CA.EC: ec_pairs[RC.P_256], CA.ED25519: _ED25519}[kind]
    signer = crypto.SignStream(private, params)
    for part in parts:
        signer.update(part)
    signature = signer.finalize()
    message = b"".join(parts)
    assert crypto.verify(public, params, message, signature)
    verifier = crypto.VerifyStream(public, params)
    for part in parts:
        verifier.update(part)
    assert verifier.finalize(signature)
    if kind != CA.EC:  # deterministic schemes: chunked == one-shot byte for byte
        assert signature == crypto.sign(private, params, message)


_ED25519 = crypto.generate_key_pair(CA.ED25519)


def test_sign_stream_finalized_twice(rsa_pair):
    signer = crypto.SignStream(rsa_pair[0], RSA)
    signer.finalize(b"x")
    with pytest.raises(KmipError) as e:
        signer.finalize(b"y")
    assert reason(e) == ResultReason.INVALID_MESSAGE


def test_raw_signature_helpers_refuse_garbage():
    with pytest.raises(KmipError) as e:
        crypto.ecdsa_signature_to_raw(b"junk", RC.P_256)
    assert reason(e) == ResultReason.INVALID_FIELD
    with pytest.raises(KmipError) as e:
        crypto.ecdsa_signature_from_raw(b"\x01\x02\x03")
    assert reason(e) == ResultReason.INVALID_FIELD


@pytest.mark.parametrize("dsa", list(ECDSA_HASHES))
def test_prepared_ecdsa_signs_messages_and_digests_and_checks_the_digest_length(ec_pairs, dsa: DSA):
    private, public = ec_pairs[RC.P_256]
    params = CipherParams(digital_signature_algorithm=dsa)
    sign = crypto.prepare_sign(private, params)
    digest = hashlib.new(ECDSA_HASHES[dsa], b"m").digest()
    for _ in range(2):  # the prepared algorithm objects serve call after call
        assert crypto.verify(public, params, b"m", sign(b"m", False))
        assert crypto.verify(public, params, b"m", sign(digest, True))
    with pytest.raises(KmipError) as info:
        sign(digest + b"x", True)
    assert reason(info) == ResultReason.INVALID_FIELD
