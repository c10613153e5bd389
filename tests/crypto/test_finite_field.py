"""DSA and finite-field Diffie-Hellman in the crypto layer: generation on given or fresh domain parameters, DSA
signatures, DH agreement, all without a `cryptography` deprecation warning escaping (this run treats warnings as
errors), and each checked against the textbook formulas rather than against the library that computed it."""

from __future__ import annotations

import hashlib
import warnings

import pytest

from kms_backend import crypto
from kms_backend.crypto import CipherParams
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    ResultReason,
)
from kms_backend.kmip.errors import KmipError

CA = CryptographicAlgorithm
H = HashingAlgorithm


@pytest.fixture(scope="module")
def dsa_parameters() -> bytes:
    return crypto.generate_domain_parameters(CA.DSA, 1024)


@pytest.fixture(scope="module")
def dh_parameters() -> bytes:
    return crypto.generate_domain_parameters(CA.DH, 512)


def test_no_deprecation_warning_escapes(dsa_parameters: bytes, dh_parameters: bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        private, public = crypto.generate_key_pair(CA.DSA, domain_parameters=dsa_parameters)
        crypto.sign(private, CipherParams(hashing_algorithm=H.SHA_256), b"data")
        crypto.describe_key(public)
        crypto.finite_field_numbers(private)
        a, _ = crypto.generate_key_pair(CA.DH, domain_parameters=dh_parameters)
        _, b = crypto.generate_key_pair(CA.DH, domain_parameters=dh_parameters)
        crypto.ecdh(a, b)


def test_dsa_pair_on_given_parameters_signs_per_fips_186(dsa_parameters: bytes):
    p, g, q = crypto.decode_domain_parameters(CA.DSA, dsa_parameters)
    assert q is not None and (p - 1) % q == 0 and pow(g, q, p) == 1
    private, public = crypto.generate_key_pair(CA.DSA, domain_parameters=dsa_parameters)
    description = crypto.describe_key(public)
    assert (description.algorithm, description.length_bits) == (CA.DSA, 1024)
    numbers = crypto.finite_field_numbers(private)
    assert (numbers["p"], numbers["q"], numbers["g"]) == (p, q, g) and pow(g, numbers["x"], p) == numbers["y"]
    params = CipherParams(digital_signature_algorithm=DigitalSignatureAlgorithm.DSA_WITH_SHA256)
    raw = crypto.dss_signature_to_raw(crypto.sign(private, params, b"message"), 20)
    r, s = int.from_bytes(raw[:20], "big"), int.from_bytes(raw[20:], "big")
    z = int.from_bytes(hashlib.sha256(b"message").digest()[:20], "big")  # leftmost N bits of the hash
    w = pow(s, -1, q)
    assert (pow(g, z * w % q, p) * pow(numbers["y"], r * w % q, p)) % p % q == r
    signature = crypto.sign(private, params, b"message")
    assert crypto.verify(public, params, b"message", signature)
    assert not crypto.verify(public, params, b"massage", signature)
    digest = hashlib.sha1(b"message").digest()
    sha1 = CipherParams(hashing_algorithm=H.SHA_1)
    assert crypto.verify(public, sha1, b"message", crypto.sign(private, sha1, digest, digested=True))


def test_dsa_imported_from_numbers_round_trips(dsa_parameters: bytes):
    private, _public = crypto.generate_key_pair(CA.DSA, domain_parameters=dsa_parameters)
    numbers = crypto.finite_field_numbers(private)
    again = crypto.finite_field_key(CA.DSA, dsa_parameters, x=numbers["x"])
    assert crypto.finite_field_numbers(again) == numbers
    public = crypto.finite_field_key(CA.DSA, dsa_parameters, y=numbers["y"])
    assert crypto.finite_field_numbers(public)["y"] == numbers["y"]


def test_dh_agreement_is_g_to_the_xy(dh_parameters: bytes):
    p, g, q = crypto.decode_domain_parameters(CA.DH, dh_parameters)
    assert q is None and g == 2 and p.bit_length() == 512
    a, a_public = crypto.generate_key_pair(CA.DH, domain_parameters=dh_parameters)
    b, b_public = crypto.generate_key_pair(CA.DH, domain_parameters=dh_parameters)
    xa = crypto.finite_field_numbers(a)["x"]
    yb = crypto.finite_field_numbers(b_public)["y"]
    expected = pow(yb, xa, p).to_bytes(64, "big")  # Z padded to the prime's length
    assert crypto.ecdh(a, yb.to_bytes(64, "big")) == expected
    assert crypto.ecdh(a, b_public) == expected  # the peer as a SubjectPublicKeyInfo
    ya = crypto.finite_field_numbers(a_public)["y"]
    assert crypto.ecdh(b, ya.to_bytes(64, "big")) == expected


@pytest.mark.parametrize("peer", [0, 1, "p-1", "p"])
def test_dh_refuses_degenerate_peer_values(dh_parameters: bytes, peer: int | str):
    p, _g, _q = crypto.decode_domain_parameters(CA.DH, dh_parameters)
    value = {"p-1": p - 1, "p": p}.get(peer, peer)  # type: ignore[call-overload]
    a, _ = crypto.generate_key_pair(CA.DH, domain_parameters=dh_parameters)
    with pytest.raises(KmipError) as info:
        crypto.ecdh(a, int(value).to_bytes(64, "big"))
    assert info.value.reason == ResultReason.INVALID_FIELD


def test_bad_domain_parameters_are_refused():
    for algorithm, der in ((CA.DSA, b"\x30\x00"), (CA.DH, b"not der")):
        with pytest.raises(KmipError) as info:
            crypto.decode_domain_parameters(algorithm, der)
        assert info.value.reason == ResultReason.INVALID_FIELD
    with pytest.raises(KmipError):
        crypto.generate_domain_parameters(CA.DSA, 1536)
    with pytest.raises(KmipError):
        crypto.generate_domain_parameters(CA.DH, 256)
    with pytest.raises(KmipError):  # a safe-prime search of hours: refused at once
        crypto.generate_domain_parameters(CA.DH, 8192)
    with pytest.raises(KmipError):  # a fresh pair of a size only a brought group may have
        crypto.generate_key_pair(CA.DH, length=4096)
    with pytest.raises(KmipError):
        crypto.encode_domain_parameters(CA.DSA, 23, 5)  # DSA needs q


def test_approved_only_refuses_new_dsa_keys(dsa_parameters: bytes):
    with pytest.raises(KmipError) as info:
        crypto.generate_key_pair(CA.DSA, domain_parameters=dsa_parameters, approved_only=True)
    assert info.value.reason == ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS
    assert "FIPS 186-5" in info.value.message
