"""Split keys: Shamir over GF(2^8) (properties with Hypothesis) and the XOR method."""

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
            lambda: crypto.split_secret(b"s", 3, 2, SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_16),
            ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS,
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
