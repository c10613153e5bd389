"""The typed layer over the OASIS test cases: every message maps to typed objects and back unchanged."""

from __future__ import annotations

import pytest

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import mapper, messages, translate
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ItemType, NameType, ObjectType, Operation, Tag
from kms_backend.kmip.errors import DecodeError, EncodeError
from kms_backend.kmip.schema import Attributes, Struct
from kms_backend.kmip.ttlv import Item, Placeholder, structure
from tests.vectors import OasisTestCase, iter_testcases

CASES = list(iter_testcases())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_message_maps_to_typed_objects_and_back(case: OasisTestCase) -> None:
    for request, response in case.messages:
        typed_request = messages.decode_request(request)
        assert mapper.to_tree(typed_request) == request
        typed_response = messages.decode_response(response)
        assert mapper.to_tree(typed_response) == response
        # Payloads are typed (not raw items) for every operation the schema knows.
        for batch_item in typed_request.batch_item:
            assert isinstance(batch_item.request_payload, Struct), batch_item.operation


V1_CASES = [c for c in CASES if c.version[0] == 1]


@pytest.mark.parametrize("case", V1_CASES, ids=[c.name for c in V1_CASES])
def test_1x_payloads_translate_to_2_1_and_back(case: OasisTestCase) -> None:
    for request, response in case.messages:
        for message, role in ((messages.decode_request(request), "request"), (messages.decode_response(response), "r")):
            for batch_item in message.batch_item:
                payload = batch_item.request_payload if role == "request" else batch_item.response_payload
                if not isinstance(payload, Struct):
                    continue
                v2 = translate.to_v2(payload)
                assert not type(v2).__name__.endswith("V1")
                extra = {"attribute": payload.attribute} if _echoes_attribute(payload) else {}
                assert mapper.to_tree(translate.to_v1(v2, **extra)) == mapper.to_tree(payload)


def _echoes_attribute(payload: Struct) -> bool:
    return isinstance(payload, S.AddAttributeResponseV1 | S.ModifyAttributeResponseV1 | S.DeleteAttributeResponseV1)


def _create_request() -> S.CreateRequest:
    return S.CreateRequest(
        object_type=ObjectType.SYMMETRIC_KEY,
        attributes=Attributes(
            [
                (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES),
                (Tag.CRYPTOGRAPHIC_LENGTH, 256),
                (Tag.NAME, S.Name(name_value="key", name_type=NameType.UNINTERPRETED_TEXT_STRING)),
            ]
        ),
    )


def test_typed_request_round_trip_and_translation() -> None:
    request = _create_request()
    tree = mapper.to_tree(request)
    assert mapper.from_tree(tree, S.CreateRequest) == request
    v1 = translate.to_v1(request)
    assert isinstance(v1, S.CreateRequestV1)
    assert [a.attribute_name for a in v1.template_attribute.attribute] == [
        "Cryptographic Algorithm",
        "Cryptographic Length",
        "Name",
    ]
    assert translate.to_v2(v1) == request


def test_fields_in_any_order_are_accepted_and_re_encoded_in_spec_order() -> None:
    tree = mapper.to_tree(_create_request())
    assert isinstance(tree.value, list)
    shuffled = Item(tree.tag, tree.type, list(reversed(tree.value)))
    assert mapper.to_tree(mapper.from_tree(shuffled, S.CreateRequest)) == tree


def test_integer_where_an_enumeration_is_expected_is_accepted() -> None:
    tree = structure(
        Tag.REQUEST_PAYLOAD,
        Item(Tag.OBJECT_TYPE, ItemType.INTEGER, 2),
        structure(Tag.ATTRIBUTES),
    )
    assert mapper.from_tree(tree, S.CreateRequest).object_type == ObjectType.SYMMETRIC_KEY


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        (structure(Tag.REQUEST_PAYLOAD, structure(Tag.ATTRIBUTES)), "missing required field ObjectType"),
        (
            structure(
                Tag.REQUEST_PAYLOAD,
                Item(Tag.OBJECT_TYPE, ItemType.ENUMERATION, 2),
                Item(Tag.OBJECT_TYPE, ItemType.ENUMERATION, 2),
                structure(Tag.ATTRIBUTES),
            ),
            "more than once",
        ),
        (
            structure(
                Tag.REQUEST_PAYLOAD,
                Item(Tag.OBJECT_TYPE, ItemType.TEXT_STRING, "key"),
                structure(Tag.ATTRIBUTES),
            ),
            "must be Enumeration",
        ),
        (
            structure(
                Tag.REQUEST_PAYLOAD,
                Item(Tag.OBJECT_TYPE, ItemType.ENUMERATION, 2),
                structure(Tag.ATTRIBUTES),
                Item(Tag.DATA, ItemType.BYTE_STRING, b""),
            ),
            "unexpected field Data",
        ),
        (Item(Tag.REQUEST_PAYLOAD, ItemType.TEXT_STRING, "x"), "expected a Structure"),
    ],
)
def test_malformed_structures_raise_decode_errors(tree: Item, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        mapper.from_tree(tree, S.CreateRequest)


def test_a_duplicate_is_decoded_before_it_is_refused() -> None:
    # The second Object Type is read (and refused as a bad value) before being refused as a second value.
    tree = structure(
        Tag.REQUEST_PAYLOAD,
        Item(Tag.OBJECT_TYPE, ItemType.ENUMERATION, 2),
        Item(Tag.OBJECT_TYPE, ItemType.TEXT_STRING, "key"),
        structure(Tag.ATTRIBUTES),
    )
    with pytest.raises(DecodeError, match="must be Enumeration"):
        mapper.from_tree(tree, S.CreateRequest)


def test_enumeration_values_outside_the_enum_and_placeholders_are_kept() -> None:
    unnamed = structure(
        Tag.REQUEST_PAYLOAD, Item(Tag.OBJECT_TYPE, ItemType.ENUMERATION, 0x8000_0010), structure(Tag.ATTRIBUTES)
    )
    decoded = mapper.from_tree(unnamed, S.CreateRequest)
    assert decoded.object_type == 0x8000_0010 and not isinstance(decoded.object_type, ObjectType)
    assert mapper.to_tree(decoded) == unnamed
    now = Item(Tag.TIME_STAMP, ItemType.DATE_TIME, Placeholder("$NOW"))
    header = structure(
        Tag.RESPONSE_HEADER,
        structure(
            Tag.PROTOCOL_VERSION,
            Item(Tag.PROTOCOL_VERSION_MAJOR, ItemType.INTEGER, 2),
            Item(Tag.PROTOCOL_VERSION_MINOR, ItemType.INTEGER, 1),
        ),
        now,
        Item(Tag.BATCH_COUNT, ItemType.INTEGER, 1),
    )
    typed = mapper.from_tree(header, S.ResponseHeader)
    assert typed.time_stamp == now
    assert mapper.to_tree(typed) == header


def test_children_no_field_names_go_to_the_catch_all_field() -> None:
    vendor = Item(0x540001, ItemType.TEXT_STRING, "vendor")
    tree = structure(
        Tag.SERVER_INFORMATION,
        Item(Tag.SERVER_NAME, ItemType.TEXT_STRING, "keystead"),
        vendor,
        vendor,
        Item(Tag.ALTERNATE_FAILOVER_ENDPOINTS, ItemType.TEXT_STRING, "a"),
        Item(Tag.ALTERNATE_FAILOVER_ENDPOINTS, ItemType.TEXT_STRING, "b"),
    )
    info = mapper.from_tree(tree, S.ServerInformation)
    assert info.server_name == "keystead"
    assert info.extra == [vendor, vendor]
    assert info.alternative_failover_endpoints == ["a", "b"]
    assert mapper.from_tree(structure(Tag.SERVER_INFORMATION), S.ServerInformation) == S.ServerInformation()


def test_a_repeated_field_given_one_value_is_written_as_one_item() -> None:
    info = S.ServerInformation(alternative_failover_endpoints="a")  # type: ignore[arg-type]
    assert mapper.to_tree(info) == structure(
        Tag.SERVER_INFORMATION, Item(Tag.ALTERNATE_FAILOVER_ENDPOINTS, ItemType.TEXT_STRING, "a")
    )


def test_unknown_operation_payload_stays_raw() -> None:
    payload = structure(Tag.REQUEST_PAYLOAD, Item(Tag.UNIQUE_IDENTIFIER, ItemType.TEXT_STRING, "x"))
    tree = structure(
        Tag.BATCH_ITEM,
        Item(Tag.OPERATION, ItemType.ENUMERATION, 0x8000_0001),
        payload,
    )
    item = mapper.from_tree(tree, S.RequestBatchItem)
    assert item.request_payload == payload
    assert mapper.to_tree(item) == tree


def test_encoding_refuses_values_of_the_wrong_type() -> None:
    with pytest.raises(EncodeError):
        mapper.to_tree(S.CreateResponse(object_type=ObjectType.SYMMETRIC_KEY, unique_identifier=b"bytes"))  # type: ignore[arg-type]


def test_attributes_container_operations() -> None:
    attrs = Attributes()
    attrs.add(Tag.NAME, "a")
    attrs.add(Tag.NAME, "b")
    attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, 128)
    attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, 256)
    assert attrs.get_all(Tag.NAME) == ["a", "b"]
    assert attrs.get(Tag.CRYPTOGRAPHIC_LENGTH) == 256
    assert len(attrs) == 3
    assert attrs.remove(Tag.NAME) == 2
    assert Tag.NAME not in attrs
    assert Operation.GET not in attrs.tags()
