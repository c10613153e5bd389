"""Property-based fuzzing (Hypothesis) of every ``fuzz.targets`` target: arbitrary bytes, valid messages with bytes
flipped, and Request Messages whose batch items carry random payload trees through the mapper. ``make fuzz`` runs
these with many more examples (``KEYSTEAD_FUZZ_EXAMPLES``) than ``make test`` does."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from fuzz.targets import TARGETS
from kms_backend.kmip import binary_codec, json_codec, messages, xml_codec
from kms_backend.kmip._registry_data import ItemType, Operation, Tag
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.ttlv import Item
from tests.kmip.strategies import trees

EXAMPLES = int(os.environ.get("KEYSTEAD_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)

ENCODERS = {
    "binary": binary_codec.encode,
    "mapper": binary_codec.encode,
    "json": lambda item: json_codec.encode(item).encode(),
    "xml": lambda item: xml_codec.encode(item).encode(),
}


@pytest.mark.parametrize("name", sorted(TARGETS))
@FUZZ
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes(name: str, data: bytes) -> None:
    TARGETS[name](data)


@pytest.mark.parametrize("name", sorted(ENCODERS))
@FUZZ
@given(tree=trees(), flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6))
def test_valid_messages_with_bytes_changed(name: str, tree: Item, flips: list[tuple[int, int]]) -> None:
    try:
        data = bytearray(ENCODERS[name](tree))
    except KmipError:
        reject()  # a tree this encoding cannot carry (control characters in XML text): nothing to mutate

    for position, value in flips:
        if data:
            data[position % len(data)] = value
    TARGETS[name](bytes(data))


def _request(version: tuple[int, int], items: list[tuple[int, Item]]) -> Item:
    header = Item(
        Tag.REQUEST_HEADER,
        ItemType.STRUCTURE,
        [
            Item(
                Tag.PROTOCOL_VERSION,
                ItemType.STRUCTURE,
                [
                    Item(Tag.PROTOCOL_VERSION_MAJOR, ItemType.INTEGER, version[0]),
                    Item(Tag.PROTOCOL_VERSION_MINOR, ItemType.INTEGER, version[1]),
                ],
            ),
            Item(Tag.BATCH_COUNT, ItemType.INTEGER, len(items)),
        ],
    )
    batch = [
        Item(
            Tag.BATCH_ITEM,
            ItemType.STRUCTURE,
            [
                Item(Tag.OPERATION, ItemType.ENUMERATION, int(operation)),
                Item(Tag.REQUEST_PAYLOAD, ItemType.STRUCTURE, payload.value),
            ],
        )
        for operation, payload in items
    ]
    return Item(Tag.REQUEST_MESSAGE, ItemType.STRUCTURE, [header, *batch])


@FUZZ
@given(
    version=st.sampled_from([(1, 0), (1, 2), (1, 4), (2, 0), (2, 1)]),
    items=st.lists(st.tuples(st.sampled_from(list(Operation)), trees(max_leaves=12)), min_size=1, max_size=3),
)
def test_request_messages_with_random_payloads_through_the_mapper(
    version: tuple[int, int], items: list[tuple[int, Item]]
) -> None:
    message = _request(version, items)
    try:
        request = messages.decode_request(message)
    except KmipError:
        return
    messages.encode(request)  # what decodes maps back to a tree
    TARGETS["mapper"](binary_codec.encode(message))
