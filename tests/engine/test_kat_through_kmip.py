"""Known-answer tests through the KMIP operations, not only the crypto helpers: each published key is registered
with Register, used with Encrypt / Decrypt / MAC / Hash / Sign / Derive Key through ``Engine.run_operation``, and
the answer compared with the published one (vectors: tests/crypto/vectors/, read by tests/crypto/vector_loader)."""

from __future__ import annotations

from typing import Any

import pytest

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DerivationMethod,
    HashingAlgorithm,
    KeyFormatType,
    MaskGenerator,
    ObjectType,
    Operation,
    PaddingMethod,
    RecommendedCurve,
    SecretDataType,
    Tag,
    ValidityIndicator,
)
from kms_backend.kmip.schema import Attributes
from tests.crypto.vector_loader import Vector, load_vectors

from .conftest import NOW, Kms

AES = CryptographicAlgorithm.AES
ACTIVE = (Tag.ACTIVATION_DATE, NOW)


def ids(vectors: list[Vector]) -> list[str]:
    return [v.name for v in vectors]


def register(kms: Kms, object_type: ObjectType, obj: Any) -> str:
    request = S.RegisterRequest(object_type=object_type, attributes=Attributes([ACTIVE]), managed_object=obj)
    return str(kms.run(Operation.REGISTER, request).unique_identifier)


def key_block(material: Any, key_format: KeyFormatType, algorithm: int | None, length: int | None) -> S.KeyBlock:
    return S.KeyBlock(
        key_format_type=key_format,
        key_value=S.KeyValue(key_material=material),
        cryptographic_algorithm=algorithm,  # type: ignore[arg-type]
        cryptographic_length=length,
    )


def symmetric_key(kms: Kms, key: bytes, algorithm: int = AES) -> str:
    return register(
        kms,
        ObjectType.SYMMETRIC_KEY,
        S.SymmetricKey(key_block=key_block(key, KeyFormatType.RAW, algorithm, len(key) * 8)),
    )


def secret(kms: Kms, value: bytes) -> str:
    obj = S.SecretData(
        secret_data_type=SecretDataType.PASSWORD, key_block=key_block(value, KeyFormatType.OPAQUE, None, None)
    )
    return register(kms, ObjectType.SECRET_DATA, obj)


def encrypt(kms: Kms, uid: str, params: S.CryptographicParameters, data: bytes, **fields: Any) -> Any:
    request = S.EncryptRequest(unique_identifier=uid, cryptographic_parameters=params, data=data, **fields)
    return kms.run(Operation.ENCRYPT, request)


def decrypt(kms: Kms, uid: str, params: S.CryptographicParameters, data: bytes, **fields: Any) -> bytes:
    request = S.DecryptRequest(unique_identifier=uid, cryptographic_parameters=params, data=data, **fields)
    return bytes(kms.run(Operation.DECRYPT, request).data)


def derive_secret(kms: Kms, uid: str, method: DerivationMethod, params: S.DerivationParameters, length: int) -> bytes:
    """Derive ``length`` bytes as Secret Data and read them back with Get."""
    request = S.DeriveKeyRequest(
        object_type=ObjectType.SECRET_DATA,
        unique_identifier=[uid],
        derivation_method=method,
        derivation_parameters=params,
        attributes=Attributes([(Tag.CRYPTOGRAPHIC_LENGTH, length * 8)]),
    )
    derived = kms.run(Operation.DERIVE_KEY, request).unique_identifier
    obj = kms.run(Operation.GET, S.GetRequest(unique_identifier=derived)).managed_object
    return bytes(obj.key_block.key_value.key_material)


# -- ciphers -------------------------------------------------------------------------------------------------------

SP800_38A = load_vectors("sp800_38a_aes.txt")


@pytest.mark.parametrize("v", SP800_38A, ids=ids(SP800_38A))
def test_sp800_38a_modes(kms: Kms, v: Vector) -> None:
    uid = symmetric_key(kms, v.bytes("key"))
    params = S.CryptographicParameters(
        block_cipher_mode=BlockCipherMode[v["section"]], padding_method=PaddingMethod.NONE, cryptographic_algorithm=AES
    )
    iv = {"iv_counter_nonce": v.bytes("iv")} if "iv" in v else {}
    assert encrypt(kms, uid, params, v.bytes("pt"), **iv).data == v.bytes("ct")
    assert decrypt(kms, uid, params, v.bytes("ct"), **iv) == v.bytes("pt")


GCM = load_vectors("sp800_38d_gcm.txt")


@pytest.mark.parametrize("v", GCM, ids=ids(GCM))
def test_sp800_38d_gcm(kms: Kms, v: Vector) -> None:
    uid = symmetric_key(kms, v.bytes("key"))
    params = S.CryptographicParameters(block_cipher_mode=BlockCipherMode.GCM, tag_length=16)
    aad = v.bytes("aad") or None
    sealed = encrypt(
        kms, uid, params, v.bytes("pt"), iv_counter_nonce=v.bytes("iv"), authenticated_encryption_additional_data=aad
    )
    assert (sealed.data, sealed.authenticated_encryption_tag) == (v.bytes("ct"), v.bytes("tag"))
    plain = decrypt(
        kms,
        uid,
        params,
        v.bytes("ct"),
        iv_counter_nonce=v.bytes("iv"),
        authenticated_encryption_additional_data=aad,
        authenticated_encryption_tag=v.bytes("tag"),
    )
    assert plain == v.bytes("pt")


@pytest.mark.parametrize(
    "file,mode",
    [("rfc3394_kw.txt", BlockCipherMode.NISTKEYWRAP), ("rfc5649_kwp.txt", BlockCipherMode.AESKEYWRAPPADDING)],
    ids=["RFC 3394", "RFC 5649"],
)
def test_aes_key_wrap_as_encrypt(kms: Kms, file: str, mode: BlockCipherMode) -> None:
    for v in load_vectors(file):
        uid = symmetric_key(kms, v.bytes("kek"))
        params = S.CryptographicParameters(block_cipher_mode=mode)
        assert encrypt(kms, uid, params, v.bytes("key")).data == v.bytes("wrapped"), v.name
        assert decrypt(kms, uid, params, v.bytes("wrapped")) == v.bytes("key"), v.name


def test_ieee1619_xts(kms: Kms) -> None:
    (v,) = load_vectors("ieee1619_xts.txt")
    uid = symmetric_key(kms, v.bytes("key"))
    params = S.CryptographicParameters(block_cipher_mode=BlockCipherMode.XTS)
    assert encrypt(kms, uid, params, v.bytes("pt"), iv_counter_nonce=v.bytes("tweak")).data == v.bytes("ct")
    assert decrypt(kms, uid, params, v.bytes("ct"), iv_counter_nonce=v.bytes("tweak")) == v.bytes("pt")


def test_rfc8439_chacha20_poly1305(kms: Kms) -> None:
    v = {v["section"]: v for v in load_vectors("rfc8439_chacha20.txt")}["AEAD"]
    uid = symmetric_key(kms, v.bytes("key"), CryptographicAlgorithm.CHACHA20POLY1305)
    params = S.CryptographicParameters(block_cipher_mode=BlockCipherMode.AEAD)
    sealed = encrypt(
        kms,
        uid,
        params,
        v.bytes("pt"),
        iv_counter_nonce=v.bytes("iv"),
        authenticated_encryption_additional_data=v.bytes("aad"),
    )
    assert (sealed.data, sealed.authenticated_encryption_tag) == (v.bytes("ct"), v.bytes("tag"))


OAEP = load_vectors("kmip_rsa_oaep.txt")


@pytest.mark.parametrize("v", OAEP, ids=[v["source"] for v in OAEP])
def test_oasis_rsa_oaep_decrypt_with_a_pkcs1_key(kms: Kms, v: Vector) -> None:
    obj = S.PrivateKey(key_block=key_block(v.bytes("pkcs1"), KeyFormatType.PKCS_1, CryptographicAlgorithm.RSA, 2048))
    uid = register(kms, ObjectType.PRIVATE_KEY, obj)
    params = S.CryptographicParameters(
        padding_method=PaddingMethod.OAEP,
        hashing_algorithm=HashingAlgorithm[v["hash"]],
        mask_generator=MaskGenerator.MGF1,
        mask_generator_hashing_algorithm=HashingAlgorithm[v["mgf1_hash"]],
        p_source=v.bytes("label") or None,
    )
    assert decrypt(kms, uid, params, v.bytes("ct")) == v.bytes("pt")


# -- MAC, hash, signatures --------------------------------------------------------------------------------------

HMAC = load_vectors("rfc4231_hmac.txt")


@pytest.mark.parametrize("v", HMAC, ids=ids(HMAC))
def test_rfc4231_hmac(kms: Kms, v: Vector) -> None:
    for field in (f for f in v if f.startswith("HMAC_")):
        algorithm = CryptographicAlgorithm[field]
        uid = symmetric_key(kms, v.bytes("key"), algorithm)
        mac = kms.run(Operation.MAC, S.MACRequest(unique_identifier=uid, data=v.bytes("data"))).mac_data
        assert mac == v.bytes(field)
        check = S.MACVerifyRequest(unique_identifier=uid, data=v.bytes("data"), mac_data=v.bytes(field))
        assert kms.run(Operation.MAC_VERIFY, check).validity_indicator == ValidityIndicator.VALID


CMAC = load_vectors("rfc4493_cmac.txt")


@pytest.mark.parametrize("v", CMAC, ids=ids(CMAC))
def test_rfc4493_cmac(kms: Kms, v: Vector) -> None:
    uid = symmetric_key(kms, v.bytes("key"))
    assert kms.run(Operation.MAC, S.MACRequest(unique_identifier=uid, data=v.bytes("data"))).mac_data == v.bytes("mac")


def test_fips180_hashes(kms: Kms) -> None:
    (v,) = load_vectors("fips180_sha.txt")
    for name in ("SHA_1", "SHA_256", "SHA_512", "SHA3_256"):
        params = S.CryptographicParameters(hashing_algorithm=HashingAlgorithm[name])
        assert kms.run(Operation.HASH, S.HashRequest(cryptographic_parameters=params, data=v.bytes("data"))).data == (
            v.bytes(name)
        )


ED25519 = load_vectors("rfc8032_ed25519.txt")


@pytest.mark.parametrize("v", ED25519, ids=ids(ED25519))
def test_rfc8032_ed25519(kms: Kms, v: Vector) -> None:
    private = register(
        kms,
        ObjectType.PRIVATE_KEY,
        S.PrivateKey(key_block=key_block(v.bytes("secret"), KeyFormatType.RAW, CryptographicAlgorithm.ED25519, 256)),
    )
    public = register(
        kms,
        ObjectType.PUBLIC_KEY,
        S.PublicKey(key_block=key_block(v.bytes("public"), KeyFormatType.RAW, CryptographicAlgorithm.ED25519, 256)),
    )
    signature = kms.run(
        Operation.SIGN, S.SignRequest(unique_identifier=private, data=v.bytes("message"))
    ).signature_data
    assert signature == v.bytes("signature")
    check = S.SignatureVerifyRequest(unique_identifier=public, data=v.bytes("message"), signature_data=signature)
    assert kms.run(Operation.SIGNATURE_VERIFY, check).validity_indicator == ValidityIndicator.VALID


(RS256,) = load_vectors("rfc7515_rs256.txt")
RAW_PKCS1 = S.CryptographicParameters(padding_method=PaddingMethod.PKCS1_V1_5)


def test_rfc7515_rs256_as_a_raw_pkcs1v15_signature(kms: Kms) -> None:
    """The published RS256 signature comes out of a raw PKCS#1 v1.5 Sign over the DigestInfo (as Data or Digested
    Data), out of the hashed scheme over the message, and verifies raw — the three paths sign the same bytes."""
    from cryptography.hazmat.primitives import serialization

    der = RS256.bytes("pkcs1")
    private = register(
        kms,
        ObjectType.PRIVATE_KEY,
        S.PrivateKey(key_block=key_block(der, KeyFormatType.PKCS_1, CryptographicAlgorithm.RSA, 2048)),
    )
    public_key = serialization.load_der_private_key(der, password=None).public_key()
    public_der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    public = register(
        kms,
        ObjectType.PUBLIC_KEY,
        S.PublicKey(key_block=key_block(public_der, KeyFormatType.PKCS_1, CryptographicAlgorithm.RSA, 2048)),
    )
    info, expected = RS256.bytes("digest_info"), RS256.bytes("signature")
    for fields in ({"digested_data": info}, {"data": info}):
        request = S.SignRequest(unique_identifier=private, cryptographic_parameters=RAW_PKCS1, **fields)
        assert kms.run(Operation.SIGN, request).signature_data == expected
    hashed = S.CryptographicParameters(
        padding_method=PaddingMethod.PKCS1_V1_5, hashing_algorithm=HashingAlgorithm.SHA_256
    )
    request = S.SignRequest(unique_identifier=private, cryptographic_parameters=hashed, data=RS256.bytes("input"))
    assert kms.run(Operation.SIGN, request).signature_data == expected
    for data, validity in ((info, ValidityIndicator.VALID), (info[:-1] + b"\x00", ValidityIndicator.INVALID)):
        check = S.SignatureVerifyRequest(
            unique_identifier=public, cryptographic_parameters=RAW_PKCS1, digested_data=data, signature_data=expected
        )
        assert kms.run(Operation.SIGNATURE_VERIFY, check).validity_indicator == validity


# -- key derivation -----------------------------------------------------------------------------------------------

HKDF = load_vectors("rfc5869_hkdf.txt")


@pytest.mark.parametrize("v", HKDF, ids=ids(HKDF))
def test_rfc5869_hkdf(kms: Kms, v: Vector) -> None:
    uid = symmetric_key(kms, v.bytes("ikm"), CryptographicAlgorithm.HMAC_SHA256)
    params = S.DerivationParameters(
        cryptographic_parameters=S.CryptographicParameters(hashing_algorithm=HashingAlgorithm[v["hash"]]),
        salt=v.bytes("salt") or None,
        derivation_data=[v.bytes("info")] if v.bytes("info") else [],
    )
    okm = v.bytes("okm")
    assert derive_secret(kms, uid, DerivationMethod.HKDF, params, len(okm)) == okm


PBKDF2 = [v for v in load_vectors("pbkdf2.txt") if int(v["iterations"]) <= 4096]


@pytest.mark.parametrize("v", PBKDF2, ids=ids(PBKDF2))
def test_pbkdf2(kms: Kms, v: Vector) -> None:
    uid = secret(kms, v.bytes("password"))
    params = S.DerivationParameters(
        cryptographic_parameters=S.CryptographicParameters(hashing_algorithm=HashingAlgorithm[v["hash"]]),
        salt=v.bytes("salt"),
        iteration_count=int(v["iterations"]),
    )
    dk = v.bytes("dk")
    assert derive_secret(kms, uid, DerivationMethod.PBKDF2, params, len(dk)) == dk


def test_rfc7748_x25519_agreement(kms: Kms) -> None:
    (v,) = load_vectors("rfc7748_x25519.txt")
    transparent = S.TransparentECPrivateKey(
        recommended_curve=RecommendedCurve.CURVE25519, d=int.from_bytes(v.bytes("alice_private"), "big")
    )
    uid = register(
        kms,
        ObjectType.PRIVATE_KEY,
        S.PrivateKey(
            key_block=key_block(transparent, KeyFormatType.TRANSPARENT_EC_PRIVATE_KEY, CryptographicAlgorithm.EC, 256)
        ),
    )
    params = S.DerivationParameters(derivation_data=[v.bytes("bob_public")])
    assert derive_secret(kms, uid, DerivationMethod.ASYMMETRIC_KEY, params, 32) == v.bytes("shared")
