"""Create Split Key / Join Split Key through the engine for every Split Key Method (KMIP 2.1 §6.1.10, §6.1.27,
§11.54): round trips for each threshold and every threshold-sized subset, what each Split Key object records, and
the Result Reason of each refusal (too few parts, a wrong prime or polynomial)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    KeyFormatType,
    ObjectType,
    Operation,
    ResultReason,
    SecretDataType,
    SplitKeyMethod,
    Tag,
)
from kms_backend.kmip.schema import Attributes

from .conftest import NOW, Kms

M = SplitKeyMethod
ACTIVE = (Tag.ACTIVATION_DATE, NOW)
KEY = bytes(range(100, 132))
#: The Mersenne prime 2^521 - 1: bigger than 2^256, so it shares any AES key.
M521 = (1 << 521) - 1
#: x^16 + x^12 + x^3 + x + 1, an irreducible polynomial for GF(2^16) in polynomial basis.
GF16_POLYNOMIAL = 0x1100B
#: (method, Prime Field Size) of every way to split.
METHODS = [
    (M.POLYNOMIAL_SHARING_GF_2_8, None),
    (M.POLYNOMIAL_SHARING_GF_2_16, None),
    (M.POLYNOMIAL_SHARING_GF_2_16, GF16_POLYNOMIAL),
    (M.POLYNOMIAL_SHARING_PRIME_FIELD, M521),
]
IDS = ["GF256", "GF65536-KMIP", "GF65536-0x1100B", "prime-M521"]


def register_key(kms: Kms, key: bytes = KEY, algorithm: CryptographicAlgorithm = CryptographicAlgorithm.AES) -> str:
    block = S.KeyBlock(
        key_format_type=KeyFormatType.RAW,
        key_value=S.KeyValue(key_material=key),
        cryptographic_algorithm=algorithm,
        cryptographic_length=len(key) * 8,
    )
    request = S.RegisterRequest(
        object_type=ObjectType.SYMMETRIC_KEY,
        attributes=Attributes([ACTIVE]),
        managed_object=S.SymmetricKey(key_block=block),
    )
    return str(kms.run(Operation.REGISTER, request).unique_identifier)


def split_request(
    uid: str | None,
    parts: int,
    threshold: int,
    method: SplitKeyMethod,
    prime: int | None = None,
    *attrs: tuple[int, Any],
    object_type: ObjectType = ObjectType.SYMMETRIC_KEY,
) -> S.CreateSplitKeyRequest:
    return S.CreateSplitKeyRequest(
        object_type=object_type,
        unique_identifier=uid,
        split_key_parts=parts,
        split_key_threshold=threshold,
        split_key_method=method,
        prime_field_size=prime,
        attributes=Attributes(list(attrs)),
    )


def split(kms: Kms, *args: Any, **kwargs: Any) -> list[str]:
    response = kms.run(Operation.CREATE_SPLIT_KEY, split_request(*args, **kwargs))
    return [str(u) for u in response.unique_identifier]


def join_request(uids: list[str], object_type: ObjectType = ObjectType.SYMMETRIC_KEY) -> S.JoinSplitKeyRequest:
    return S.JoinSplitKeyRequest(object_type=object_type, unique_identifier=uids, attributes=Attributes([ACTIVE]))


def joined_key(kms: Kms, uids: list[str], object_type: ObjectType = ObjectType.SYMMETRIC_KEY) -> bytes:
    uid = str(kms.run(Operation.JOIN_SPLIT_KEY, join_request(uids, object_type)).unique_identifier)
    return bytes(
        kms.run(Operation.GET, S.GetRequest(unique_identifier=uid)).managed_object.key_block.key_value.key_material
    )


def part(kms: Kms, uid: str) -> S.SplitKey:
    obj = kms.run(Operation.GET, S.GetRequest(unique_identifier=uid)).managed_object
    assert isinstance(obj, S.SplitKey)
    return obj


def fails(kms: Kms, operation: Operation, request: Any, reason: ResultReason) -> str:
    error = kms.fail(operation, request)
    assert error.reason == reason, error
    return error.message


# -- round trips ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "prime"), METHODS, ids=IDS)
def test_every_threshold_and_every_threshold_sized_subset_joins(kms: Kms, method: SplitKeyMethod, prime: int | None):
    base = register_key(kms)
    parts = 4
    for threshold in range(1, parts + 1):
        uids = split(kms, base, parts, threshold, method, prime)
        assert len(uids) == parts
        for subset in itertools.combinations(uids, threshold):
            assert joined_key(kms, list(subset)) == KEY, (threshold, subset)
        if threshold > 1:
            message = fails(
                kms, Operation.JOIN_SPLIT_KEY, join_request(uids[: threshold - 1]), ResultReason.INVALID_FIELD
            )
            assert f"the Split Key Threshold is {threshold}" in message


def test_xor_needs_every_part(kms: Kms) -> None:
    base = register_key(kms)
    uids = split(kms, base, 3, 3, M.XOR)
    assert joined_key(kms, uids[::-1]) == KEY
    fails(kms, Operation.CREATE_SPLIT_KEY, split_request(base, 3, 2, M.XOR), ResultReason.INVALID_FIELD)


@pytest.mark.parametrize(("method", "prime"), METHODS, ids=IDS)
def test_each_part_records_what_join_needs(kms: Kms, method: SplitKeyMethod, prime: int | None):
    base = register_key(kms)
    uids = split(kms, base, 3, 2, method, prime)
    for index, uid in enumerate(uids, start=1):
        obj = part(kms, uid)
        assert (obj.split_key_method, obj.prime_field_size) == (method, prime)
        assert (obj.split_key_parts, obj.split_key_threshold, obj.key_part_identifier) == (3, 2, index)
        assert obj.key_block.cryptographic_length == 256  # the split key's length, not the share's
        assert obj.key_block.cryptographic_algorithm == CryptographicAlgorithm.AES
    share = part(kms, uids[0]).key_block.key_value.key_material
    assert len(share) == (66 if method == M.POLYNOMIAL_SHARING_PRIME_FIELD else 32)  # 2^521 - 1 takes 66 bytes


@pytest.mark.parametrize(("method", "prime"), METHODS, ids=IDS)
def test_a_threshold_of_one_shares_the_secret_itself(kms: Kms, method: SplitKeyMethod, prime: int | None):
    """A degree-0 polynomial: every share is the secret (as a field element of the share's width)."""
    uids = split(kms, register_key(kms), 2, 1, method, prime)
    for uid in uids:
        share = part(kms, uid).key_block.key_value.key_material
        assert int.from_bytes(share, "big") == int.from_bytes(KEY, "big")


def test_odd_length_secrets_in_gf_2_16_are_padded_and_unpadded(kms: Kms) -> None:
    triple_des = bytes(range(1, 22))  # 168-bit Triple-DES key: 21 bytes
    base = register_key(kms, triple_des, CryptographicAlgorithm.DES3)
    for prime in (None, GF16_POLYNOMIAL):
        uids = split(kms, base, 3, 2, M.POLYNOMIAL_SHARING_GF_2_16, prime)
        assert len(part(kms, uids[0]).key_block.key_value.key_material) == 22
        assert joined_key(kms, uids[1:]) == triple_des


def test_fresh_secret_data_split_and_joined_in_a_prime_field(kms: Kms) -> None:
    uids = split(kms, None, 3, 2, M.POLYNOMIAL_SHARING_PRIME_FIELD, M521, object_type=ObjectType.SECRET_DATA)
    first = joined_key(kms, uids[:2], ObjectType.SECRET_DATA)
    assert len(first) == 32 and joined_key(kms, uids[1:], ObjectType.SECRET_DATA) == first
    request = join_request(uids[:2], ObjectType.SECRET_DATA)
    request.secret_data_type = SecretDataType.PASSWORD
    uid = str(kms.run(Operation.JOIN_SPLIT_KEY, request).unique_identifier)
    assert kms.run(Operation.GET, S.GetRequest(unique_identifier=uid)).managed_object.secret_data_type == (
        SecretDataType.PASSWORD
    )


def test_a_prime_field_split_through_the_ttlv_message_path(kms: Kms) -> None:
    """The Prime Field Size is a Big Integer: through the codec and back on each part."""
    base = register_key(kms)
    response = kms.batch(
        (Operation.CREATE_SPLIT_KEY, split_request(base, 3, 2, M.POLYNOMIAL_SHARING_PRIME_FIELD, M521))
    )
    item = response.batch_item[0]
    assert item.result_status == 0, item.result_message
    uids = [str(u) for u in item.response_payload.unique_identifier]
    assert part(kms, uids[2]).prime_field_size == M521
    assert joined_key(kms, [uids[2], uids[0]]) == KEY


# -- refusals ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "prime", "reason", "words"),
    [
        (M.POLYNOMIAL_SHARING_PRIME_FIELD, None, ResultReason.INVALID_MESSAGE, "needs a Prime Field Size"),
        (M.POLYNOMIAL_SHARING_PRIME_FIELD, M521 + 2, ResultReason.INVALID_FIELD, "not a prime"),  # divisible by 3
        (M.POLYNOMIAL_SHARING_PRIME_FIELD, 1, ResultReason.INVALID_FIELD, "not a prime"),
        (M.POLYNOMIAL_SHARING_PRIME_FIELD, (1 << 127) - 1, ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "2^256"),
        (M.POLYNOMIAL_SHARING_PRIME_FIELD, 1 << 5000, ResultReason.INVALID_FIELD, "4096 bits"),
        (M.POLYNOMIAL_SHARING_GF_2_16, 0x10001, ResultReason.INVALID_FIELD, "irreducible"),  # (x + 1)^16
        (M.POLYNOMIAL_SHARING_GF_2_16, 0x11B, ResultReason.INVALID_FIELD, "degree 16"),  # the GF(2^8) one
        (M.POLYNOMIAL_SHARING_GF_2_8, M521, ResultReason.INVALID_FIELD, "takes no Prime Field Size"),
        (M.XOR, 7, ResultReason.INVALID_FIELD, "takes no Prime Field Size"),
    ],
    ids=["no-prime", "composite", "one", "too-small", "too-large", "reducible", "degree-8", "gf256-prime", "xor-prime"],
)
def test_a_wrong_prime_or_polynomial_is_refused(
    kms: Kms, method: SplitKeyMethod, prime: int | None, reason: ResultReason, words: str
) -> None:
    base = register_key(kms)
    message = fails(kms, Operation.CREATE_SPLIT_KEY, split_request(base, 3, 2, method, prime), reason)
    assert words in message
    threshold = 3 if method == M.XOR else 2
    fails(kms, Operation.CREATE_SPLIT_KEY, split_request(None, 3, threshold, method, prime), reason)  # fresh key


def test_parts_of_different_splits_do_not_join(kms: Kms) -> None:
    base = register_key(kms)
    kmip_field = split(kms, base, 3, 2, M.POLYNOMIAL_SHARING_GF_2_16)
    polynomial = split(kms, base, 3, 2, M.POLYNOMIAL_SHARING_GF_2_16, GF16_POLYNOMIAL)
    message = fails(
        kms, Operation.JOIN_SPLIT_KEY, join_request([kmip_field[0], polynomial[1]]), ResultReason.INVALID_FIELD
    )
    assert "one split" in message
    prime = split(kms, base, 3, 2, M.POLYNOMIAL_SHARING_PRIME_FIELD, M521)
    other_prime = split(kms, base, 3, 2, M.POLYNOMIAL_SHARING_PRIME_FIELD, (1 << 607) - 1)  # Mersenne prime M607
    fails(kms, Operation.JOIN_SPLIT_KEY, join_request([prime[0], other_prime[1]]), ResultReason.INVALID_FIELD)
    assert joined_key(kms, [other_prime[2], other_prime[0]]) == KEY


def test_a_registered_part_with_a_bad_prime_is_refused_at_join(kms: Kms) -> None:
    """Join re-checks the field the parts carry: a client-registered part names a composite "prime"."""
    obj = S.SplitKey(
        split_key_parts=1,
        key_part_identifier=1,
        split_key_threshold=1,
        split_key_method=M.POLYNOMIAL_SHARING_PRIME_FIELD,
        prime_field_size=M521 + 2,
        key_block=S.KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=S.KeyValue(key_material=bytes(66)),
            cryptographic_algorithm=CryptographicAlgorithm.AES,
            cryptographic_length=256,
        ),
    )
    request = S.RegisterRequest(object_type=ObjectType.SPLIT_KEY, attributes=Attributes([ACTIVE]), managed_object=obj)
    uid = str(kms.run(Operation.REGISTER, request).unique_identifier)
    assert "not a prime" in fails(kms, Operation.JOIN_SPLIT_KEY, join_request([uid]), ResultReason.INVALID_FIELD)
