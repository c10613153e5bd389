"""The public surface of kms_backend.crypto: exports, self tests, RNG, MAC/hash streams."""

from __future__ import annotations

import hashlib
import importlib
import os
import time

import pytest

from kms_backend import crypto
from kms_backend.crypto import _selftest
from kms_backend.kmip._registry_data import CryptographicAlgorithm, HashingAlgorithm, ResultReason
from kms_backend.kmip.errors import KmipError

CA = CryptographicAlgorithm


def test_all_lists_exactly_the_public_names():
    public = {name for name in vars(crypto) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(crypto, name)).__name__ == "module"}
    # `annotations` comes from `from __future__ import annotations`.
    assert public - modules - {"annotations"} == set(crypto.__all__)
    assert len(crypto.__all__) == len(set(crypto.__all__))
    for name in crypto.__all__:
        assert getattr(crypto, name).__doc__, name


def test_supported_algorithms_reports_pqc_detection():
    supported = crypto.supported_algorithms()
    assert {CA.AES, CA.RSA, CA.EC, CA.ED25519, CA.HMAC_SHA256, CA.CHACHA20POLY1305} <= supported
    mlkem = importlib.import_module("cryptography.hazmat.primitives.asymmetric.mlkem")
    assert (CA.ML_KEM_768 in supported) == hasattr(mlkem, "MLKEM768PrivateKey")
    # ML-KEM-512 and SLH-DSA: cryptography's if it has them, else pqcrypto's (a dependency)
    assert CA.ML_KEM_512 in supported
    assert CA.SLH_DSA_SHAKE_256F in supported and CA.SLH_DSA_SHA2_128S in supported


def test_self_tests_run_those_the_algorithms_in_use_trigger(monkeypatch: pytest.MonkeyPatch):
    ran: list[str] = []
    counted = tuple(
        (name, triggers, lambda name=name, test=test: (ran.append(name), test()))
        for name, triggers, test in _selftest.SELF_TESTS
    )
    monkeypatch.setattr(_selftest, "SELF_TESTS", counted)
    start = time.perf_counter()
    elapsed = crypto.run_self_tests()
    assert 0 < elapsed <= time.perf_counter() - start  # the seconds the tests took, which startup logs
    assert ran == [name for name, _triggers, _test in counted]
    ran.clear()
    crypto.run_self_tests([CA.AES])
    assert ran == ["SHA-256", "AES-GCM", "AES-CBC", "AES-KW"]  # SHA-256 always, then AES's own


def test_self_test_failure_raises(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(_selftest, "_RSA_OAEP_PLAINTEXT", b"wrong")
    with pytest.raises(KmipError) as e:
        crypto.run_self_tests([CA.RSA])
    assert e.value.reason == ResultReason.CRYPTOGRAPHIC_FAILURE
    assert "RSA-OAEP" in e.value.message
    crypto.run_self_tests([CA.AES])  # tests of unrelated algorithms are skipped


def test_random_and_seed():
    assert len(crypto.random_bytes(32)) == 32
    assert crypto.random_bytes(0) == b""
    assert crypto.random_bytes(16) != crypto.random_bytes(16)
    assert crypto.seed(b"client entropy") == 14
    with pytest.raises(KmipError) as e:
        crypto.random_bytes(-1)
    assert e.value.reason == ResultReason.INVALID_FIELD


def test_mac_stream_and_constant_time_verify():
    key = os.urandom(32)
    stream = crypto.MacStream(key, CA.HMAC_SHA512)
    stream.update(b"part one, ")
    tag = stream.finalize(b"part two")
    assert tag == crypto.mac(key, CA.HMAC_SHA512, b"part one, part two")
    verifier = crypto.MacStream(key, CA.HMAC_SHA512)
    verifier.update(b"part one, part two")
    assert verifier.verify(tag)
    assert not crypto.mac_verify(key, CA.HMAC_SHA512, b"other", tag)
    assert crypto.mac(key, CA.HMAC_SHA3_256, b"m") != crypto.mac(key, CA.HMAC_SHA256, b"m")
    with pytest.raises(KmipError) as e:
        stream.update(b"late")
    assert e.value.reason == ResultReason.INVALID_MESSAGE


@pytest.mark.parametrize(
    ("key", "algorithm", "expected"),
    [
        (b"k" * 17, CA.AES, ResultReason.INVALID_FIELD),
        (b"", CA.HMAC_SHA256, ResultReason.INVALID_FIELD),
        (b"k" * 16, CA.HMAC_MD5, ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
        (b"k" * 16, CA.RSA, ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
    ],
)
def test_mac_refusals(key: bytes, algorithm: CA, expected: ResultReason):
    with pytest.raises(KmipError) as e:
        crypto.mac(key, algorithm, b"m")
    assert e.value.reason == expected


def test_digest_stream_and_algorithms():
    stream = crypto.DigestStream(HashingAlgorithm.SHA_384)
    stream.update(b"a")
    assert stream.finalize(b"bc") == hashlib.sha384(b"abc").digest()
    for name in ("SHA_224", "SHA_512_256", "SHA3_512"):
        algorithm = HashingAlgorithm[name]
        py = {"SHA_224": "sha224", "SHA_512_256": "sha512_256", "SHA3_512": "sha3_512"}[name]
        assert crypto.digest(algorithm, b"x") == hashlib.new(py, b"x").digest()
    with pytest.raises(KmipError) as e:
        crypto.digest(HashingAlgorithm.TIGER, b"x")
    assert e.value.reason == ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS
