"""Key generation, Key Format Type conversion and describe_key."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kms_backend import crypto
from kms_backend.kmip._registry_data import CryptographicAlgorithm, KeyFormatType, RecommendedCurve, ResultReason
from kms_backend.kmip.errors import KmipError
from tests.crypto.vector_loader import load_vectors

CA = CryptographicAlgorithm
KF = KeyFormatType
RC = RecommendedCurve


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[bytes, bytes]:
    # The OASIS KMIP 2.1 test-case key: no RSA key generation needed.
    private = crypto.import_private_key(load_vectors("kmip_rsa_oaep.txt")[0].bytes("pkcs1"), KF.PKCS_1)
    return private, crypto.public_key_from_private(private)


def test_generate_symmetric_keys():
    assert len(crypto.generate_symmetric_key(CA.AES, 128)) == 16
    assert len(crypto.generate_symmetric_key(CA.AES, 256)) == 32
    assert len(crypto.generate_symmetric_key(CA.AES, 512)) == 64  # AES-256-XTS
    assert len(crypto.generate_symmetric_key(CA.CHACHA20, 256)) == 32
    assert len(crypto.generate_symmetric_key(CA.HMAC_SHA256, 8 * 48)) == 48
    des3 = crypto.generate_symmetric_key(CA.DES3, 192)
    assert len(des3) == 24 and all(bin(b).count("1") % 2 == 1 for b in des3)
    assert crypto.generate_symmetric_key(CA.AES, 128) != crypto.generate_symmetric_key(CA.AES, 128)


@pytest.mark.parametrize(
    ("algorithm", "bits", "expected"),
    [
        (CA.AES, 100, ResultReason.INVALID_FIELD),
        (CA.AES, 64, ResultReason.INVALID_FIELD),
        (CA.CHACHA20, 128, ResultReason.INVALID_FIELD),
        (CA.DES3, 56, ResultReason.INVALID_FIELD),
        (CA.HMAC_SHA256, 12, ResultReason.INVALID_FIELD),
        (CA.RSA, 2048, ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
    ],
)
def test_generate_symmetric_key_refusals(algorithm: CA, bits: int, expected: ResultReason):
    with pytest.raises(KmipError) as e:
        crypto.generate_symmetric_key(algorithm, bits)
    assert e.value.reason == expected


@pytest.mark.parametrize(
    ("algorithm", "curve", "described"),
    [
        (CA.EC, RC.P_256, (CA.EC, 256, RC.P_256)),
        (CA.ECDSA, RC.P_384, (CA.EC, 384, RC.P_384)),
        (CA.ECDH, RC.P_521, (CA.EC, 521, RC.P_521)),
        (CA.EC, RC.SECP256K1, (CA.EC, 256, RC.SECP256K1)),
        (CA.EC, RC.CURVE25519, (CA.EC, 256, RC.CURVE25519)),
        (CA.EC, RC.CURVE448, (CA.EC, 448, RC.CURVE448)),
        (CA.ED25519, None, (CA.ED25519, 256, RC.CURVEED25519)),
        (CA.EC, RC.CURVEED25519, (CA.ED25519, 256, RC.CURVEED25519)),
        (CA.ED448, None, (CA.ED448, 448, RC.CURVEED448)),
        (CA.ML_KEM_768, None, (CA.ML_KEM_768, 192, None)),
        (CA.ML_KEM_1024, None, (CA.ML_KEM_1024, 256, None)),
        (CA.ML_DSA_44, None, (CA.ML_DSA_44, 128, None)),
        (CA.ML_DSA_65, None, (CA.ML_DSA_65, 192, None)),
        (CA.ML_DSA_87, None, (CA.ML_DSA_87, 256, None)),
    ],
)
def test_generate_key_pair_and_describe(algorithm: CA, curve: RC | None, described: tuple[object, ...]):
    if algorithm not in crypto.supported_algorithms() and algorithm.name.startswith("ML_"):
        pytest.skip(f"{algorithm.name} is not in the installed cryptography")
    private, public = crypto.generate_key_pair(algorithm, curve=curve)
    assert tuple(crypto.describe_key(private)) == described
    assert tuple(crypto.describe_key(public)) == described
    assert crypto.public_key_from_private(private) == public


def test_generate_rsa_default_is_2048_e65537():
    _private, public = crypto.generate_key_pair(CA.RSA)
    assert tuple(crypto.describe_key(public)) == (CA.RSA, 2048, None)
    transparent = crypto.export_public_key(public, KF.TRANSPARENT_RSA_PUBLIC_KEY)
    assert isinstance(transparent, dict) and transparent["public_exponent"] == 65537


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"algorithm": CA.RSA, "length": 512}, ResultReason.INVALID_FIELD),
        ({"algorithm": CA.RSA, "length": 2049}, ResultReason.INVALID_FIELD),
        ({"algorithm": CA.EC, "curve": RC.K_163}, ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
        ({"algorithm": CA.DSA, "length": 1536}, ResultReason.INVALID_FIELD),  # FIPS 186-4: L is 1024/2048/3072
        ({"algorithm": CA.DH, "domain_parameters": b"\x30\x03\x02\x01\x17"}, ResultReason.INVALID_FIELD),
        ({"algorithm": CA.ECMQV}, ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
        ({"algorithm": CA.AES}, ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
    ],
)
def test_generate_key_pair_refusals(kwargs: dict[str, object], expected: ResultReason):
    with pytest.raises(KmipError) as e:
        crypto.generate_key_pair(**kwargs)  # type: ignore[arg-type]
    assert e.value.reason == expected


def test_rsa_private_formats_round_trip(rsa_pair: tuple[bytes, bytes]) -> None:
    private, _ = rsa_pair
    for key_format in (KF.PKCS_8, KF.PKCS_1, KF.TRANSPARENT_RSA_PRIVATE_KEY):
        exported = crypto.export_private_key(private, key_format)
        assert crypto.import_private_key(exported, key_format) == private
    transparent = crypto.export_private_key(private, KF.TRANSPARENT_RSA_PRIVATE_KEY)
    assert isinstance(transparent, dict)
    assert set(transparent) == {
        "modulus",
        "public_exponent",
        "private_exponent",
        "p",
        "q",
        "prime_exponent_p",
        "prime_exponent_q",
        "crt_coefficient",
    }
    assert transparent["p"] * transparent["q"] == transparent["modulus"]
    # KMIP makes everything but n, e, d optional: primes and CRT values are recomputed.
    minimal = {k: transparent[k] for k in ("modulus", "public_exponent", "private_exponent")}
    assert crypto.import_private_key(minimal, KF.TRANSPARENT_RSA_PRIVATE_KEY) == private


def test_rsa_public_formats_round_trip(rsa_pair):
    _, public = rsa_pair
    for key_format in (KF.X_509, KF.PKCS_1, KF.TRANSPARENT_RSA_PUBLIC_KEY):
        exported = crypto.export_public_key(public, key_format)
        assert crypto.import_public_key(exported, key_format) == public
    assert crypto.export_public_key(public, KF.PKCS_1) != public  # RSAPublicKey, not SPKI


@pytest.mark.parametrize("curve", [RC.P_256, RC.P_384, RC.P_521, RC.SECP256K1])
def test_ec_formats_round_trip(curve: RC):
    private, public = crypto.generate_key_pair(CA.EC, curve=curve)
    for key_format in (KF.PKCS_8, KF.ECPRIVATEKEY, KF.TRANSPARENT_EC_PRIVATE_KEY, KF.TRANSPARENT_ECDSA_PRIVATE_KEY):
        exported = crypto.export_private_key(private, key_format)
        assert crypto.import_private_key(exported, key_format) == private
    raw = crypto.export_private_key(private, KF.RAW)
    assert crypto.import_private_key(raw, KF.RAW, curve=curve) == private
    transparent = crypto.export_public_key(public, KF.TRANSPARENT_EC_PUBLIC_KEY)
    assert isinstance(transparent, dict) and transparent["recommended_curve"] == curve
    assert transparent["q_string"][0] == 4  # uncompressed SEC 1 point
    assert crypto.import_public_key(transparent, KF.TRANSPARENT_EC_PUBLIC_KEY) == public
    point = crypto.export_public_key(public, KF.RAW)
    assert crypto.import_public_key(point, KF.RAW, curve=curve) == public


@pytest.mark.parametrize(
    ("algorithm", "curve"),
    [(CA.ED25519, None), (CA.ED448, None), (CA.EC, RC.CURVE25519), (CA.EC, RC.CURVE448)],
)
def test_edwards_montgomery_formats_round_trip(algorithm: CA, curve: RC | None):
    private, public = crypto.generate_key_pair(algorithm, curve=curve)
    described_curve = crypto.describe_key(private).curve
    transparent = crypto.export_private_key(private, KF.TRANSPARENT_EC_PRIVATE_KEY)
    assert isinstance(transparent, dict) and transparent["recommended_curve"] == described_curve
    assert crypto.import_private_key(transparent, KF.TRANSPARENT_EC_PRIVATE_KEY) == private
    raw = crypto.export_private_key(private, KF.RAW)
    assert crypto.import_private_key(raw, KF.RAW, algorithm=algorithm, curve=described_curve) == private
    q = crypto.export_public_key(public, KF.TRANSPARENT_EC_PUBLIC_KEY)
    assert crypto.import_public_key(q, KF.TRANSPARENT_EC_PUBLIC_KEY) == public
    raw_public = crypto.export_public_key(public, KF.RAW)
    assert crypto.import_public_key(raw_public, KF.RAW, algorithm=algorithm, curve=described_curve) == public


def test_pqc_raw_round_trip():
    if CA.ML_DSA_65 not in crypto.supported_algorithms():
        pytest.skip("no ML-DSA")
    private, public = crypto.generate_key_pair(CA.ML_DSA_65)
    seed = crypto.export_private_key(private, KF.RAW)
    assert isinstance(seed, bytes) and len(seed) == 32
    assert crypto.import_private_key(seed, KF.RAW, algorithm=CA.ML_DSA_65) == private
    raw_public = crypto.export_public_key(public, KF.RAW)
    assert crypto.import_public_key(raw_public, KF.RAW, algorithm=CA.ML_DSA_65) == public


def test_symmetric_formats():
    key = bytes(range(16))
    assert crypto.export_symmetric_key(key, KF.RAW) == key
    assert crypto.export_symmetric_key(key, KF.TRANSPARENT_SYMMETRIC_KEY) == {"key": key}
    assert crypto.import_symmetric_key({"key": key}, KF.TRANSPARENT_SYMMETRIC_KEY) == key
    assert crypto.import_symmetric_key(key, KF.RAW) == key
    with pytest.raises(KmipError) as e:
        crypto.export_symmetric_key(key, KF.PKCS_8)
    assert e.value.reason == ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED


def test_format_not_for_this_key(rsa_pair: tuple[bytes, bytes]) -> None:
    private, public = rsa_pair
    ec_private, ec_public = crypto.generate_key_pair(CA.EC, curve=RC.P_256)
    calls: list[Callable[[], object]] = [
        lambda: crypto.export_private_key(private, KF.ECPRIVATEKEY),
        lambda: crypto.export_private_key(private, KF.RAW),
        lambda: crypto.export_private_key(ec_private, KF.PKCS_1),
        lambda: crypto.export_public_key(ec_public, KF.PKCS_1),
        lambda: crypto.export_public_key(public, KF.TRANSPARENT_EC_PUBLIC_KEY),
        lambda: crypto.export_private_key(private, KF.PKCS_12),
        lambda: crypto.import_private_key(ec_private, KF.PKCS_1),
        lambda: crypto.import_private_key(b"\x01\x02", KF.TRANSPARENT_RSA_PRIVATE_KEY),
    ]
    for call in calls:
        with pytest.raises(KmipError) as e:
            call()
        assert e.value.reason == ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED


def test_malformed_material_is_invalid_field() -> None:
    calls: list[Callable[[], object]] = [
        lambda: crypto.import_private_key(b"not der", KF.PKCS_8),
        lambda: crypto.import_public_key(b"\x30\x03\x02\x01\x01", KF.X_509),
        lambda: crypto.import_private_key({"recommended_curve": RC.P_256, "d": 0}, KF.TRANSPARENT_EC_PRIVATE_KEY),
        lambda: crypto.import_public_key(
            {"recommended_curve": RC.P_256, "q_string": b"\x04" + bytes(64)}, KF.TRANSPARENT_EC_PUBLIC_KEY
        ),
        lambda: crypto.import_private_key({"modulus": 15}, KF.TRANSPARENT_RSA_PRIVATE_KEY),
        lambda: crypto.import_private_key(bytes(32), KF.RAW),  # neither algorithm nor curve
        lambda: crypto.describe_key(b"garbage"),
    ]
    for call in calls:
        with pytest.raises(KmipError) as e:
            call()
        assert e.value.reason == ResultReason.INVALID_FIELD


def test_ml_kem_512_keys_are_pkcs8_expanded_keys_that_interoperate_with_an_independent_implementation():
    """pqcrypto's ML-KEM-512 keys (cryptography has none) are PKCS#8 of id-alg-ml-kem-512 holding the expandedKey
    choice and a SubjectPublicKeyInfo of the 800-byte encapsulation key; kyber-py (an independent FIPS 203
    implementation) encapsulates to them and decapsulates what they encapsulate."""
    from kyber_py.ml_kem import ML_KEM_512

    private, public = crypto.generate_key_pair(CryptographicAlgorithm.ML_KEM_512)
    oid_512 = bytes.fromhex("0609608648016503040401")
    assert oid_512 in private[:24] and oid_512 in public[:24]
    assert private[-1636:-1632] == bytes.fromhex("04820660")  # expandedKey OCTET STRING (1632)
    assert len(public) == 4 + 13 + 5 + 800
    assert crypto.public_key_from_private(private) == public
    assert crypto.describe_key(private) == (CryptographicAlgorithm.ML_KEM_512, 128, None)
    shared, ciphertext = crypto.encapsulate(public)
    assert len(shared) == 32 and len(ciphertext) == 768
    assert crypto.decapsulate(private, ciphertext) == shared
    assert crypto.decapsulate(private, bytes(768)) != shared  # implicit rejection, no error
    # Interoperability with kyber-py, both ways.
    theirs_shared, theirs_ciphertext = ML_KEM_512.encaps(public[-800:])
    assert crypto.decapsulate(private, theirs_ciphertext) == theirs_shared
    assert ML_KEM_512.decaps(private[-1632:], ciphertext) == shared


def test_ml_kem_512_seed_only_private_keys_are_refused_with_a_clear_error():
    seed_only = bytes.fromhex("3054020100300b060960864801650304040104428040") + bytes(64)
    with pytest.raises(KmipError) as e:
        crypto.public_key_from_private(seed_only)
    assert e.value.reason == ResultReason.INVALID_FIELD
    assert "seed alone cannot be expanded" in e.value.message


SLH_DSA_SETS = [a for a in CryptographicAlgorithm if a.name.startswith("SLH_DSA_")]


@pytest.mark.parametrize("algorithm", SLH_DSA_SETS, ids=lambda a: a.name)
def test_slh_dsa_keys_sign_and_an_independent_fips_205_implementation_verifies(algorithm):
    """Every SLH-DSA parameter set (SHA2 and SHAKE, 128/192/256, s and f): PKCS#8 / SPKI of the RFC 9909 OIDs,
    pure signatures with the empty context that the ``slh-dsa`` package (an independent FIPS 205 implementation)
    verifies, and tampering refused."""
    import slhdsa

    private, public = crypto.generate_key_pair(algorithm)
    level = int(algorithm.name.rsplit("_", 1)[1][:-1])
    n = level // 8
    assert crypto.describe_key(private) == (algorithm, level, None)
    assert crypto.describe_key(public) == (algorithm, level, None)
    assert crypto.public_key_from_private(private) == public
    assert private[-2 * n :] == public[-2 * n :]  # SK ends with PK.seed ‖ PK.root
    params = crypto.CipherParams(cryptographic_algorithm=algorithm)
    signature = crypto.sign(private, params, b"keystead")
    assert crypto.verify(public, params, b"keystead", signature)
    assert not crypto.verify(public, params, b"keysteae", signature)
    theirs = slhdsa.PublicKey((public[-2 * n : -n], public[-n:]), getattr(slhdsa, algorithm.name[8:].lower()))
    assert theirs.verify_pure(b"keystead", signature)
