"""Split keys: Shamir over GF(2^8), GF(2^16) (KMIP's field and a polynomial basis) and a prime field
(properties with Hypothesis), and the XOR method."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kms_backend import crypto
from kms_backend.kmip._registry_data import ResultReason, SplitKeyMethod
from kms_backend.kmip.errors import KmipError


@st.composite
def split_setups(draw, min_secret: int = 1):
    secret = draw(st.binary(min_size=min_secret, max_size=48))
    parts = draw(st.integers(min_value=1, max_value=8))
    threshold = draw(st.integers(min_value=1, max_value=parts))
    return secret, parts, threshold


@settings(max_examples=60, deadline=None)
@given(setup=split_setups(), data=st.data())
def test_any_threshold_subset_reconstructs(setup, data):
    secret, parts, threshold = setup
    shares = crypto.split_secret(secret, parts, threshold)
    assert [x for x, _ in shares] == list(range(1, parts + 1))
    assert all(len(share) == len(secret) for _, share in shares)
    subset = data.draw(st.permutations(shares).map(lambda s: s[: data.draw(st.integers(threshold, parts))]))
    assert crypto.join_secret(subset) == secret


@settings(max_examples=40, deadline=None)
@given(setup=split_setups(min_secret=16))
def test_fewer_than_threshold_shares_give_another_value(setup):
    secret, parts, threshold = setup
    if threshold < 2:
        return
    shares = crypto.split_secret(secret, parts, threshold)
    for subset in itertools.islice(itertools.combinations(shares, threshold - 1), 10):
        # Interpolating t-1 points of a degree t-1 polynomial is a uniformly random value: equal to the secret with
        # probability 2^-128 for a 16-byte secret.
        assert crypto.join_secret(list(subset)) != secret


def test_all_subsets_small_case():
    secret = bytes(range(32))
    shares = crypto.split_secret(secret, 5, 3)
    for k in (3, 4, 5):
        for subset in itertools.combinations(shares, k):
            assert crypto.join_secret(list(subset)) == secret


def test_shares_are_random():
    assert crypto.split_secret(b"k" * 16, 3, 2) != crypto.split_secret(b"k" * 16, 3, 2)


@settings(max_examples=30, deadline=None)
@given(secret=st.binary(min_size=1, max_size=32), parts=st.integers(min_value=1, max_value=6))
def test_xor_method(secret: bytes, parts: int):
    shares = crypto.split_secret(secret, parts, parts, SplitKeyMethod.XOR)
    assert crypto.join_secret(shares, SplitKeyMethod.XOR) == secret
    if parts > 1 and len(secret) >= 16:
        assert crypto.join_secret(shares[1:], SplitKeyMethod.XOR) != secret


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: crypto.split_secret(b"", 3, 2), ResultReason.INVALID_FIELD),
        (lambda: crypto.split_secret(b"s", 0, 1), ResultReason.INVALID_FIELD),
        (lambda: crypto.split_secret(b"s", 256, 2), ResultReason.INVALID_FIELD),
        (lambda: crypto.split_secret(b"s", 3, 4), ResultReason.INVALID_FIELD),
        (lambda: crypto.split_secret(b"s", 3, 2, SplitKeyMethod.XOR), ResultReason.INVALID_FIELD),
        (
            lambda: crypto.split_secret(b"s", 3, 2, SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD),
            ResultReason.INVALID_MESSAGE,
        ),
        (
            lambda: crypto.split_secret(
                b"s", 3, 2, SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD, prime_field_size=255
            ),
            ResultReason.INVALID_FIELD,
        ),
        (
            lambda: crypto.split_secret(
                b"s", 3, 2, SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD, prime_field_size=251
            ),
            ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
        ),
        (
            lambda: crypto.split_secret(
                b"s", 3, 2, SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_16, prime_field_size=0x1100A
            ),
            ResultReason.INVALID_FIELD,
        ),
        (
            lambda: crypto.join_secret([(1, b"abc")], SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_16),
            ResultReason.INVALID_FIELD,
        ),
        (
            lambda: crypto.join_secret(
                [(1, b"\x01\x01")], SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD, prime_field_size=257
            ),
            ResultReason.INVALID_FIELD,
        ),
        (
            lambda: crypto.join_secret(
                [(1, b"\x00\x01")], SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD, prime_field_size=251
            ),
            ResultReason.INVALID_FIELD,
        ),
        (lambda: crypto.join_secret([]), ResultReason.INVALID_FIELD),
        (lambda: crypto.join_secret([(1, b"ab"), (1, b"cd")]), ResultReason.INVALID_FIELD),
        (lambda: crypto.join_secret([(1, b"ab"), (2, b"c")]), ResultReason.INVALID_FIELD),
        (lambda: crypto.join_secret([(0, b"ab")]), ResultReason.INVALID_FIELD),
    ],
)
def test_split_refusals(call, expected: ResultReason):
    with pytest.raises(KmipError) as e:
        call()
    assert e.value.reason == expected


# -- GF(2^16) and prime field ------------------------------------------------------------------------------------

#: Mersenne primes: 2^127 - 1 for secrets of up to 15 bytes, 2^521 - 1 for up to 65.
M127 = (1 << 127) - 1
M521 = (1 << 521) - 1
FIELDS = [
    (SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_16, None),
    (SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_16, 0x1100B),
    (SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_16, 0x1002D),
    (SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD, M521),
]
FIELD_IDS = ["gf16-kmip", "gf16-0x1100B", "gf16-0x1002D", "prime-M521"]


@pytest.mark.parametrize(("method", "modulus"), FIELDS, ids=FIELD_IDS)
@settings(max_examples=12, deadline=None)
@given(setup=split_setups(), data=st.data())
def test_other_fields_any_threshold_subset_reconstructs(method, modulus, setup, data):
    secret, parts, threshold = setup
    shares = crypto.split_secret(secret, parts, threshold, method, prime_field_size=modulus)
    assert [x for x, _ in shares] == list(range(1, parts + 1))
    width = 66 if modulus == M521 else len(secret) + len(secret) % 2
    assert all(len(share) == width for _, share in shares)
    subset = data.draw(st.permutations(shares).map(lambda s: s[: data.draw(st.integers(threshold, parts))]))
    assert crypto.join_secret(subset, method, prime_field_size=modulus, length=len(secret)) == secret


@pytest.mark.parametrize(("method", "modulus"), FIELDS, ids=FIELD_IDS)
@settings(max_examples=8, deadline=None)
@given(setup=split_setups(min_secret=16))
def test_other_fields_fewer_than_threshold_give_another_value(method, modulus, setup):
    secret, parts, threshold = setup
    if threshold < 2:
        return
    shares = crypto.split_secret(secret, parts, threshold, method, prime_field_size=modulus)
    for subset in itertools.islice(itertools.combinations(shares, threshold - 1), 5):
        try:
            joined = crypto.join_secret(list(subset), method, prime_field_size=modulus, length=len(secret))
        except KmipError as e:  # a prime-field value too big for the secret's length
            assert e.reason == ResultReason.INVALID_FIELD
        else:
            assert joined != secret


def test_kmip_gf16_field_axioms():
    """KMIP's GF(2^8)[y]/(y^2 + y + 0x3A): every non-zero element has an inverse, and y^2 = y + m."""
    from kms_backend.crypto import _split

    field = _split._KMIP_GF16
    assert all(field.mul(a, field.inv(a)) == 1 for a in range(1, 1 << 16))
    y = 0x0100
    assert field.mul(y, y) == y ^ _split.KMIP_GF16_M


def test_prime_field_shares_are_big_endian_values_below_the_prime():
    shares = crypto.split_secret(
        bytes(range(1, 16)), 5, 3, SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD, prime_field_size=M127
    )
    assert all(len(share) == 16 and int.from_bytes(share, "big") < M127 for _, share in shares)
    assert crypto.join_secret(
        shares[2:], SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD, prime_field_size=M127
    ) == bytes(range(1, 16))
