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


def _probably_prime(n: int) -> bool:
    """Miller-Rabin with the first twelve primes as bases (no false positive below 3.3e24; here a sanity check)."""
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def test_a_dh_pair_without_parameters_is_made_on_the_rfc_7919_group_of_its_size():
    # A fresh 2048-bit safe prime takes from seconds to a minute; the named group is instant and well known.
    private, public = crypto.generate_key_pair(CA.DH, length=2048)
    numbers = crypto.finite_field_numbers(public)
    prime = numbers["p"].to_bytes(256, "big").hex().upper()
    # ffdhe2048 as RFC 7919 Appendix A.1 prints it: its first and last 16 bytes
    assert prime.startswith("FFFFFFFFFFFFFFFFADF85458A2BB4A9A") and prime.endswith("886B423861285C97FFFFFFFFFFFFFFFF")
    assert numbers["g"] == 2 and _probably_prime(numbers["p"]) and _probably_prime((numbers["p"] - 1) // 2)
    assert crypto.finite_field_numbers(private)["p"] == numbers["p"]
    other, _ = crypto.generate_key_pair(CA.DH)  # the default size: the same group, another key
    assert crypto.finite_field_numbers(other)["p"] == numbers["p"]
    assert crypto.finite_field_numbers(other)["x"] != crypto.finite_field_numbers(private)["x"]
    # the larger groups share the definition (the first 64 bits of e after the leading ones) and are safe primes
    for bits in (3072, 4096):
        pair = crypto.generate_key_pair(CA.DH, length=bits)
        p = crypto.finite_field_numbers(pair[1])["p"]
        assert p.bit_length() == bits and p >> (bits - 128) == 0xFFFFFFFFFFFFFFFFADF85458A2BB4A9A
        assert _probably_prime(p) and _probably_prime((p - 1) // 2)


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
    with pytest.raises(KmipError):  # a pair of a size only a brought group may have (no RFC 7919 group has it)
        crypto.generate_key_pair(CA.DH, length=3000)
    with pytest.raises(KmipError):
        crypto.encode_domain_parameters(CA.DSA, 23, 5)  # DSA needs q


def test_approved_only_refuses_new_dsa_keys(dsa_parameters: bytes):
    with pytest.raises(KmipError) as info:
        crypto.generate_key_pair(CA.DSA, domain_parameters=dsa_parameters, approved_only=True)
    assert info.value.reason == ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS
    assert "FIPS 186-5" in info.value.message
