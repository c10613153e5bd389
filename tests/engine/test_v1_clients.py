"""What KMIP 1.x clients that no one on the project wrote need from the engine (issue 17; the replays of MongoDB,
pg_tde and MySQL in integration_tests/ send the same requests as bytes): responses that carry only what the request's
version defines, in that version, for every minor version."""

from __future__ import annotations

from typing import Any

import pytest

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import messages, translate
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ItemType, ObjectType, Operation, ResultStatus, Tag
from kms_backend.kmip.mapper import to_tree
from kms_backend.kmip.registry import ProtocolVersion, tag_info
from kms_backend.kmip.ttlv import Item

from .conftest import OWNER, Kms, name

V1 = [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)]


def v1(tag: int, value: Any, index: int | None = None) -> S.AttributeV1:
    return translate.attribute_to_v1(tag, value, index)


def send_tree(kms: Kms, version: ProtocolVersion, operation: Operation, payload: S.Struct) -> Item:
    """One 1.x request through the tree interface (as the transports call it); the response tree."""
    request = S.RequestMessageV1(
        request_header=S.RequestHeaderV1(
            protocol_version=S.ProtocolVersion(protocol_version_major=version[0], protocol_version_minor=version[1]),
            batch_count=1,
        ),
        batch_item=[S.RequestBatchItemV1(operation=operation, request_payload=payload)],
    )
    return kms.engine.process_tree(to_tree(request), OWNER)


def undefined(tree: Item, version: ProtocolVersion) -> list[str]:
    """Names of the tags in ``tree`` that ``version`` does not define."""
    bad = []
    stack = [tree]
    while stack:
        item = stack.pop()
        info = tag_info(item.tag)
        if info is None or not info.defined_in(version):
            bad.append(info.name if info else hex(item.tag))
        if isinstance(item.value, list):
            stack.extend(item.value)
    return bad


def payload_of(tree: Item, version: ProtocolVersion) -> Any:
    response = messages.decode_response(tree)
    pv = response.response_header.protocol_version
    assert (pv.protocol_version_major, pv.protocol_version_minor) == version
    item = response.batch_item[0]
    assert item.result_status == ResultStatus.SUCCESS, (item.result_reason, item.result_message)
    return item.response_payload


def create_named(kms: Kms, version: ProtocolVersion, key_name: str) -> str:
    attrs = [
        v1(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES),
        v1(Tag.CRYPTOGRAPHIC_LENGTH, 256),
        v1(Tag.CRYPTOGRAPHIC_USAGE_MASK, 12),
        v1(Tag.NAME, name(key_name)),
    ]
    tree = send_tree(
        kms,
        version,
        Operation.CREATE,
        S.CreateRequestV1(
            object_type=ObjectType.SYMMETRIC_KEY, template_attribute=S.TemplateAttributeV1(attribute=attrs)
        ),
    )
    assert undefined(tree, version) == []
    return str(payload_of(tree, version).unique_identifier)


@pytest.mark.parametrize("version", V1, ids=lambda v: f"{v[0]}.{v[1]}")
def test_locate_answers_located_items_only_from_1_3(kms: Kms, version: ProtocolVersion) -> None:
    uid = create_named(kms, version, "pg-tde-key")
    tree = send_tree(
        kms,
        version,
        Operation.LOCATE,
        S.LocateRequestV1(
            maximum_items=16,
            attribute=[v1(Tag.OBJECT_TYPE, ObjectType.SYMMETRIC_KEY), v1(Tag.NAME, name("pg-tde-key"))],
        ),
    )
    assert undefined(tree, version) == []
    payload = payload_of(tree, version)
    assert payload.unique_identifier == [uid]
    assert (payload.located_items == 1) if version >= (1, 3) else (payload.located_items is None)


@pytest.mark.parametrize("version", V1, ids=lambda v: f"{v[0]}.{v[1]}")
def test_get_and_get_attributes_carry_only_the_version_s_tags(kms: Kms, version: ProtocolVersion) -> None:
    uid = create_named(kms, version, f"key-{version}")
    got = send_tree(kms, version, Operation.GET, S.GetRequestV1(unique_identifier=uid))
    assert undefined(got, version) == []
    key_value = payload_of(got, version).managed_object.key_block.key_value
    assert len(key_value.key_material) == 32
    everything = send_tree(kms, version, Operation.GET_ATTRIBUTES, S.GetAttributesRequestV1(unique_identifier=uid))
    assert undefined(everything, version) == []
    names = [a.attribute_name for a in payload_of(everything, version).attribute]
    assert "State" in names and "Cryptographic Length" in names
    for attribute in names:
        info = tag_info(translate.attribute_reference(attribute))  # type: ignore[arg-type]
        assert info is not None and info.defined_in(version), attribute


@pytest.mark.parametrize(("bits", "size"), [(112, 16), (168, 24)])
def test_create_triple_des_for_a_1_0_client(kms: Kms, bits: int, size: int) -> None:
    """Two-key Triple-DES (112 bits of key, 16 bytes with parity) and three-key (168 bits, 24 bytes), as KMIP 1.0
    clients ask for them."""
    attrs = [v1(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.DES3), v1(Tag.CRYPTOGRAPHIC_LENGTH, bits)]
    created = send_tree(
        kms,
        (1, 0),
        Operation.CREATE,
        S.CreateRequestV1(
            object_type=ObjectType.SYMMETRIC_KEY, template_attribute=S.TemplateAttributeV1(attribute=attrs)
        ),
    )
    uid = payload_of(created, (1, 0)).unique_identifier
    got = send_tree(kms, (1, 0), Operation.GET, S.GetRequestV1(unique_identifier=uid))
    assert undefined(got, (1, 0)) == []
    block = payload_of(got, (1, 0)).managed_object.key_block
    assert len(block.key_value.key_material) == size
    assert block.cryptographic_length == bits
    # DES keys carry odd parity in every byte (what PKCS#11 tokens check).
    assert all(bin(b).count("1") % 2 == 1 for b in block.key_value.key_material)


@pytest.mark.parametrize("version", V1, ids=lambda v: f"{v[0]}.{v[1]}")
def test_modify_and_delete_attribute_answer_the_attribute_index(kms: Kms, version: ProtocolVersion) -> None:
    """The index the request gave comes back, 0 included; none when the request relied on the default (the OASIS
    1.4 cases expect no index then)."""
    uid = create_named(kms, version, f"indexed-{version}")
    for group in ("g1", "g2", "g3"):
        add = S.AddAttributeRequestV1(unique_identifier=uid, attribute=v1(Tag.OBJECT_GROUP, group))
        payload_of(send_tree(kms, version, Operation.ADD_ATTRIBUTE, add), version)

    def modify(value: str, index: int | None) -> S.Struct:
        return S.ModifyAttributeRequestV1(unique_identifier=uid, attribute=v1(Tag.OBJECT_GROUP, value, index))

    def delete(index: int | None) -> S.Struct:
        return S.DeleteAttributeRequestV1(unique_identifier=uid, attribute_name="Object Group", attribute_index=index)

    cases: list[tuple[Operation, S.Struct, int | None, str]] = [
        (Operation.MODIFY_ATTRIBUTE, modify("g4", None), None, "g4"),
        (Operation.MODIFY_ATTRIBUTE, modify("g5", 0), 0, "g5"),
        (Operation.MODIFY_ATTRIBUTE, modify("g6", 2), 2, "g6"),
        (Operation.DELETE_ATTRIBUTE, delete(2), 2, "g6"),
        (Operation.DELETE_ATTRIBUTE, delete(1), 1, "g2"),
        (Operation.DELETE_ATTRIBUTE, delete(0), 0, "g5"),
    ]
    for operation, request, index, value in cases:
        tree = send_tree(kms, version, operation, request)
        assert undefined(tree, version) == []
        attribute = payload_of(tree, version).attribute
        answered = (attribute.attribute_name, attribute.attribute_index, attribute.attribute_value.value)
        assert answered == ("Object Group", index, value), (operation, index)


@pytest.mark.parametrize("version", V1, ids=lambda v: f"{v[0]}.{v[1]}")
def test_lease_time_is_reported_when_asked(kms: Kms, version: ProtocolVersion) -> None:
    uid = create_named(kms, version, f"leased-{version}")
    tree = send_tree(
        kms,
        version,
        Operation.GET_ATTRIBUTES,
        S.GetAttributesRequestV1(unique_identifier=uid, attribute_name=["Lease Time"]),
    )
    (attribute,) = payload_of(tree, version).attribute
    assert attribute.attribute_name == "Lease Time"
    assert attribute.attribute_value.type == ItemType.INTERVAL and attribute.attribute_value.value == 3600


@pytest.mark.parametrize("version", [*V1, (2, 0), (2, 1)], ids=lambda v: f"{v[0]}.{v[1]}")
def test_the_response_is_in_the_request_s_version(kms: Kms, version: ProtocolVersion) -> None:
    """Every minor version answers in itself, success or failure."""
    for payload in (S.DiscoverVersionsRequest(), S.GetRequest(unique_identifier="no-such-object")):
        operation = Operation.DISCOVER_VERSIONS if isinstance(payload, S.DiscoverVersionsRequest) else Operation.GET
        if version[0] < 2 and isinstance(payload, S.GetRequest):
            payload = S.GetRequestV1(unique_identifier="no-such-object")  # type: ignore[assignment]
        response = kms.batch((operation, payload), version=version)
        pv = response.response_header.protocol_version
        assert (pv.protocol_version_major, pv.protocol_version_minor) == version
