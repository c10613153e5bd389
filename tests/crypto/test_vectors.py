"""Known-answer tests through the public crypto API, from the published vectors in tests/crypto/vectors/."""

from __future__ import annotations

import pytest

from kms_backend import crypto
from kms_backend.crypto import CipherParams, DerivationParams
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DerivationMethod,
    HashingAlgorithm,
    KeyFormatType,
    MaskGenerator,
    PaddingMethod,
    RecommendedCurve,
)
from tests.crypto.vector_loader import Vector, load_vectors, vector_files

AES = CryptographicAlgorithm.AES


def params_for(vector_file: str) -> list[Vector]:
    return load_vectors(vector_file)


def ids(vectors: list[Vector]) -> list[str]:
    return [v.name for v in vectors]


def test_every_vector_file_loads_and_is_small():
    files = vector_files()
    assert len(files) >= 12
    for name in files:
        assert load_vectors(name), name
        assert (len(load_vectors(name)) < 20) and name


SP800_38A = load_vectors("sp800_38a_aes.txt")


@pytest.mark.parametrize("v", SP800_38A, ids=ids(SP800_38A))
def test_sp800_38a(v: Vector):
    params = CipherParams(
        cryptographic_algorithm=AES,
        block_cipher_mode=BlockCipherMode[v["section"]],
        padding_method=PaddingMethod.NONE,
    )
    iv = v.bytes("iv") if "iv" in v else None
    result = crypto.encrypt(v.bytes("key"), params, v.bytes("pt"), iv=iv)
    assert result.data == v.bytes("ct")
    assert result.iv_counter_nonce is None  # the client gave the IV (or ECB takes none)
    assert crypto.decrypt(v.bytes("key"), params, v.bytes("ct"), iv=iv) == v.bytes("pt")


GCM = load_vectors("sp800_38d_gcm.txt")


@pytest.mark.parametrize("v", GCM, ids=ids(GCM))
def test_sp800_38d_gcm(v: Vector):
    params = CipherParams(cryptographic_algorithm=AES, block_cipher_mode=BlockCipherMode.GCM, tag_length=16)
    aad = v.bytes("aad") or None
    result = crypto.encrypt(v.bytes("key"), params, v.bytes("pt"), iv=v.bytes("iv"), aad=aad)
    assert (result.data, result.tag) == (v.bytes("ct"), v.bytes("tag"))
    assert crypto.decrypt(v.bytes("key"), params, v.bytes("ct"), iv=v.bytes("iv"), aad=aad, tag=v.bytes("tag")) == (
        v.bytes("pt")
    )
    # Truncated tags (SP 800-38D §5.2.1.2) are prefixes of the full one.
    short = CipherParams(cryptographic_algorithm=AES, block_cipher_mode=BlockCipherMode.GCM, tag_length=12)
    truncated = crypto.encrypt(v.bytes("key"), short, v.bytes("pt"), iv=v.bytes("iv"), aad=aad)
    assert truncated.tag == v.bytes("tag")[:12]
    assert crypto.decrypt(v.bytes("key"), short, v.bytes("ct"), iv=v.bytes("iv"), aad=aad, tag=truncated.tag) == (
        v.bytes("pt")
    )


KW = load_vectors("rfc3394_kw.txt")
KWP = load_vectors("rfc5649_kwp.txt")


@pytest.mark.parametrize("v", KW, ids=ids(KW))
def test_rfc3394_key_wrap(v: Vector):
    params = CipherParams(cryptographic_algorithm=AES, block_cipher_mode=BlockCipherMode.NISTKEYWRAP)
    assert crypto.wrap_key(v.bytes("kek"), params, v.bytes("key")) == v.bytes("wrapped")
    assert crypto.unwrap_key(v.bytes("kek"), params, v.bytes("wrapped")) == v.bytes("key")
    assert crypto.encrypt(v.bytes("kek"), params, v.bytes("key")).data == v.bytes("wrapped")


@pytest.mark.parametrize("v", KWP, ids=ids(KWP))
def test_rfc5649_key_wrap_with_padding(v: Vector):
    explicit = CipherParams(cryptographic_algorithm=AES, block_cipher_mode=BlockCipherMode.AESKEYWRAPPADDING)
    default = CipherParams(cryptographic_algorithm=AES)  # KWP is the default AES wrapping
    for params in (explicit, default):
        assert crypto.wrap_key(v.bytes("kek"), params, v.bytes("key")) == v.bytes("wrapped")
        assert crypto.unwrap_key(v.bytes("kek"), params, v.bytes("wrapped")) == v.bytes("key")


HMAC = load_vectors("rfc4231_hmac.txt")


@pytest.mark.parametrize("v", HMAC, ids=ids(HMAC))
def test_rfc4231_hmac(v: Vector):
    checked = 0
    for field in v:
        if field.startswith("HMAC_"):
            algorithm = CryptographicAlgorithm[field]
            assert crypto.mac(v.bytes("key"), algorithm, v.bytes("data")) == v.bytes(field)
            assert crypto.mac_verify(v.bytes("key"), algorithm, v.bytes("data"), v.bytes(field))
            checked += 1
    assert checked


CMAC = load_vectors("rfc4493_cmac.txt")


@pytest.mark.parametrize("v", CMAC, ids=ids(CMAC))
def test_rfc4493_cmac(v: Vector):
    assert crypto.mac(v.bytes("key"), AES, v.bytes("data")) == v.bytes("mac")
    assert crypto.mac_verify(v.bytes("key"), AES, v.bytes("data"), v.bytes("mac"))


HKDF = load_vectors("rfc5869_hkdf.txt")


@pytest.mark.parametrize("v", HKDF, ids=ids(HKDF))
def test_rfc5869_hkdf(v: Vector):
    params = DerivationParams(
        cryptographic_parameters=CipherParams(hashing_algorithm=HashingAlgorithm[v["hash"]]),
        salt=v.bytes("salt") or None,
        derivation_data=v.bytes("info"),
    )
    okm = v.bytes("okm")
    assert crypto.derive_key(DerivationMethod.HKDF, v.bytes("ikm"), params, len(okm) * 8) == okm


PBKDF2 = load_vectors("pbkdf2.txt")


@pytest.mark.parametrize("v", PBKDF2, ids=ids(PBKDF2))
def test_pbkdf2(v: Vector):
    params = DerivationParams(
        cryptographic_parameters=CipherParams(hashing_algorithm=HashingAlgorithm[v["hash"]]),
        salt=v.bytes("salt"),
        iteration_count=int(v["iterations"]),
    )
    dk = v.bytes("dk")
    assert crypto.derive_key(DerivationMethod.PBKDF2, v.bytes("password"), params, len(dk) * 8) == dk


ED25519 = load_vectors("rfc8032_ed25519.txt")


@pytest.mark.parametrize("v", ED25519, ids=ids(ED25519))
def test_rfc8032_ed25519(v: Vector):
    private = crypto.import_private_key(v.bytes("secret"), KeyFormatType.RAW, algorithm=CryptographicAlgorithm.ED25519)
    public = crypto.public_key_from_private(private)
    assert crypto.export_public_key(public, KeyFormatType.RAW) == v.bytes("public")
    params = CipherParams(cryptographic_algorithm=CryptographicAlgorithm.ED25519)
    assert crypto.sign(private, params, v.bytes("message")) == v.bytes("signature")
    assert crypto.verify(public, params, v.bytes("message"), v.bytes("signature"))
    assert not crypto.verify(public, params, v.bytes("message") + b"!", v.bytes("signature"))


def test_rfc7748_x25519():
    (v,) = load_vectors("rfc7748_x25519.txt")
    curve = RecommendedCurve.CURVE25519
    alice = crypto.import_private_key(v.bytes("alice_private"), KeyFormatType.RAW, curve=curve)
    bob = crypto.import_private_key(v.bytes("bob_private"), KeyFormatType.RAW, curve=curve)
    assert crypto.export_public_key(crypto.public_key_from_private(alice), KeyFormatType.RAW) == v.bytes("alice_public")
    # Raw peer bytes (PKCS#11 CKM_ECDH1_DERIVE style) and SPKI DER both work.
    assert crypto.ecdh(alice, v.bytes("bob_public")) == v.bytes("shared")
    assert crypto.ecdh(bob, crypto.public_key_from_private(alice)) == v.bytes("shared")
    derived = crypto.derive_key(
        DerivationMethod.ASYMMETRIC_KEY, alice, DerivationParams(derivation_data=v.bytes("bob_public")), 256
    )
    assert derived == v.bytes("shared")


CHACHA = {v["section"]: v for v in load_vectors("rfc8439_chacha20.txt")}


def test_rfc8439_chacha20_poly1305():
    v = CHACHA["AEAD"]
    params = CipherParams(
        cryptographic_algorithm=CryptographicAlgorithm.CHACHA20POLY1305, block_cipher_mode=BlockCipherMode.AEAD
    )
    result = crypto.encrypt(v.bytes("key"), params, v.bytes("pt"), iv=v.bytes("iv"), aad=v.bytes("aad"))
    assert (result.data, result.tag) == (v.bytes("ct"), v.bytes("tag"))
    assert crypto.decrypt(
        v.bytes("key"), params, v.bytes("ct"), iv=v.bytes("iv"), aad=v.bytes("aad"), tag=v.bytes("tag")
    ) == v.bytes("pt")
    # OASIS CS-BC-M-CHACHA20POLY1305-1-21 step 6: a 12-byte truncated tag decrypts.
    short = CipherParams(
        cryptographic_algorithm=CryptographicAlgorithm.CHACHA20POLY1305,
        block_cipher_mode=BlockCipherMode.AEAD,
        tag_length=12,
    )
    assert crypto.decrypt(
        v.bytes("key"), short, v.bytes("ct"), iv=v.bytes("iv"), aad=v.bytes("aad"), tag=v.bytes("tag")[:12]
    ) == v.bytes("pt")


def test_chacha20_stream_with_64_bit_nonce():
    v = CHACHA["STREAM"]
    params = CipherParams(cryptographic_algorithm=CryptographicAlgorithm.CHACHA20)
    assert crypto.encrypt(v.bytes("key"), params, v.bytes("pt"), iv=v.bytes("iv")).data == v.bytes("ct")
    assert crypto.decrypt(v.bytes("key"), params, v.bytes("ct"), iv=v.bytes("iv")) == v.bytes("pt")


def test_fips180_hashes():
    (v,) = load_vectors("fips180_sha.txt")
    for name in ("SHA_1", "SHA_256", "SHA_512", "SHA3_256"):
        assert crypto.digest(HashingAlgorithm[name], v.bytes("data")) == v.bytes(name)


def test_ieee1619_xts():
    (v,) = load_vectors("ieee1619_xts.txt")
    params = CipherParams(cryptographic_algorithm=AES, block_cipher_mode=BlockCipherMode.XTS)
    assert crypto.encrypt(v.bytes("key"), params, v.bytes("pt"), iv=v.bytes("tweak")).data == v.bytes("ct")
    assert crypto.decrypt(v.bytes("key"), params, v.bytes("ct"), iv=v.bytes("tweak")) == v.bytes("pt")


OAEP = load_vectors("kmip_rsa_oaep.txt")


@pytest.mark.parametrize("v", OAEP, ids=[v["source"] for v in OAEP])
def test_kmip_rsa_oaep_decrypt(v: Vector):
    private = crypto.import_private_key(v.bytes("pkcs1"), KeyFormatType.PKCS_1)
    params = CipherParams(
        cryptographic_algorithm=CryptographicAlgorithm.RSA,
        padding_method=PaddingMethod.OAEP,
        hashing_algorithm=HashingAlgorithm[v["hash"]],
        mask_generator=MaskGenerator.MGF1,
        mask_generator_hashing_algorithm=HashingAlgorithm[v["mgf1_hash"]],
        p_source=v.bytes("label") or None,
    )
    assert crypto.decrypt(private, params, v.bytes("ct")) == v.bytes("pt")
    # And the other direction through our own encryption.
    public = crypto.public_key_from_private(private)
    assert crypto.decrypt(private, params, crypto.encrypt(public, params, v.bytes("pt")).data) == v.bytes("pt")
