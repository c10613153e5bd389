"""Protocol versions: the same operations sent as KMIP 1.2, 1.4 (Template-Attribute, Attribute Name / Index) and
2.1 requests give equivalent results, and 1.x requests get 1.x-shaped responses (DESIGN.md: 2.1 inside,
translation at the edge; KMIP 1.4 §4 payloads)."""

from __future__ import annotations

from typing import Any

import pytest

from kms_backend.engine.engine import reason_for_version
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import translate
from kms_backend.kmip._registry_data import (
    AdjustmentType,
    CryptographicAlgorithm,
    NameType,
    ObjectType,
    Operation,
    ResultReason,
    ResultStatus,
    State,
    Tag,
)
from kms_backend.kmip.registry import ProtocolVersion, tag_by_name
from kms_backend.kmip.schema import Attributes, Struct

from .conftest import Kms, name

V1_VERSIONS = [(1, 2), (1, 4)]
ALL_VERSIONS = [*V1_VERSIONS, (2, 1)]


def v1(tag: int, value: Any, index: int | None = None) -> S.AttributeV1:
    return translate.attribute_to_v1(tag, value, index)


def one(tag: int, value: Any) -> Attributes:
    return Attributes([(tag, value)])


def send(kms: Kms, version: ProtocolVersion, operation: Operation, v2: Struct, v1_payload: Struct) -> Any:
    """One request in ``version``; returns the single response batch item, checked to be of that version's form."""
    response = kms.batch((operation, v1_payload if version[0] < 2 else v2), version=version)
    header = response.response_header.protocol_version
    assert (header.protocol_version_major, header.protocol_version_minor) == version
    item = response.batch_item[0]
    if version[0] < 2:
        assert isinstance(response, S.ResponseMessageV1)
        payload = item.response_payload
        # A 1.x form wherever 1.4 defines one (payloads identical in both families keep the 2.1 class).
        assert payload is None or payload.__kmip__.family == 1 or not hasattr(S, type(payload).__name__ + "V1")
    return item


def ok(item: Any) -> Any:
    assert item.result_status == ResultStatus.SUCCESS, (item.result_reason, item.result_message)
    return item.response_payload


def create(kms: Kms, version: ProtocolVersion, *extra: tuple[int, Any]) -> str:
    attrs = [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 256), *extra]
    payload = ok(
        send(
            kms,
            version,
            Operation.CREATE,
            S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=Attributes(attrs)),
            S.CreateRequestV1(
                object_type=ObjectType.SYMMETRIC_KEY,
                template_attribute=S.TemplateAttributeV1(attribute=[v1(t, v) for t, v in attrs]),
            ),
        )
    )
    if version[0] < 2:
        assert isinstance(payload, S.CreateResponseV1)
    return str(payload.unique_identifier)


def scenario(kms: Kms, version: ProtocolVersion) -> dict[str, Any]:
    """Create, Add/Modify/Delete Attribute, Activate, Locate, Get: the observable outcome."""
    uid = create(kms, version, (Tag.NAME, name(f"key-{version}")), (Tag.OBJECT_GROUP, "g1"))
    ok(
        send(
            kms,
            version,
            Operation.ADD_ATTRIBUTE,
            S.AddAttributeRequest(unique_identifier=uid, new_attribute=one(Tag.OBJECT_GROUP, "g2")),
            S.AddAttributeRequestV1(unique_identifier=uid, attribute=v1(Tag.OBJECT_GROUP, "g2")),
        )
    )
    # The second Object Group: Current Attribute in 2.1, Attribute Index 1 in 1.x.
    ok(
        send(
            kms,
            version,
            Operation.MODIFY_ATTRIBUTE,
            S.ModifyAttributeRequest(
                unique_identifier=uid,
                current_attribute=one(Tag.OBJECT_GROUP, "g2"),
                new_attribute=one(Tag.OBJECT_GROUP, "g3"),
            ),
            S.ModifyAttributeRequestV1(unique_identifier=uid, attribute=v1(Tag.OBJECT_GROUP, "g3", 1)),
        )
    )
    # The first Object Group: Current Attribute in 2.1, Attribute Index 0 (the default) in 1.x.
    ok(
        send(
            kms,
            version,
            Operation.DELETE_ATTRIBUTE,
            S.DeleteAttributeRequest(unique_identifier=uid, current_attribute=one(Tag.OBJECT_GROUP, "g1")),
            S.DeleteAttributeRequestV1(unique_identifier=uid, attribute_name="Object Group"),
        )
    )
    ok(
        send(
            kms,
            version,
            Operation.ACTIVATE,
            S.ActivateRequest(unique_identifier=uid),
            S.ActivateRequestV1(unique_identifier=uid),
        )
    )
    located = ok(
        send(
            kms,
            version,
            Operation.LOCATE,
            S.LocateRequest(attributes=one(Tag.NAME, name(f"key-{version}"))),
            S.LocateRequestV1(attribute=[v1(Tag.NAME, name(f"key-{version}"))]),
        )
    )
    got = ok(
        send(kms, version, Operation.GET, S.GetRequest(unique_identifier=uid), S.GetRequestV1(unique_identifier=uid))
    )
    attributes = ok(
        send(
            kms,
            version,
            Operation.GET_ATTRIBUTES,
            S.GetAttributesRequest(unique_identifier=uid, attribute_reference=[Tag.OBJECT_GROUP, Tag.STATE]),
            S.GetAttributesRequestV1(unique_identifier=uid, attribute_name=["Object Group", "State"]),
        )
    )
    if version[0] < 2:
        attrs = Attributes([translate.attribute_to_v2(a) for a in attributes.attribute])
    else:
        attrs = attributes.attributes
    return {
        "located": list(located.unique_identifier) == [uid],
        "key_length": len(got.managed_object.key_block.key_value.key_material),
        "groups": attrs.get_all(Tag.OBJECT_GROUP),
        "state": attrs.get(Tag.STATE),
    }


def test_same_operations_give_the_same_results_in_every_version(kms: Kms) -> None:
    outcomes = {version: scenario(kms, version) for version in ALL_VERSIONS}
    expected = {"located": True, "key_length": 32, "groups": ["g3"], "state": State.ACTIVE}
    assert outcomes == dict.fromkeys(ALL_VERSIONS, expected)


@pytest.mark.parametrize("version", V1_VERSIONS)
def test_1x_attribute_responses_echo_the_attribute(kms: Kms, version: ProtocolVersion) -> None:
    uid = create(kms, version, (Tag.OBJECT_GROUP, "a"), (Tag.OBJECT_GROUP, "b"))
    added = ok(
        send(
            kms,
            version,
            Operation.ADD_ATTRIBUTE,
            S.AddAttributeRequest(unique_identifier=uid, new_attribute=one(Tag.COMMENT, "x")),
            S.AddAttributeRequestV1(unique_identifier=uid, attribute=v1(Tag.CONTACT_INFORMATION, "me")),
        )
    )
    assert isinstance(added, S.AddAttributeResponseV1)
    assert added.attribute.attribute_name == "Contact Information"
    deleted = ok(
        send(
            kms,
            version,
            Operation.DELETE_ATTRIBUTE,
            S.DeleteAttributeRequest(unique_identifier=uid),
            S.DeleteAttributeRequestV1(unique_identifier=uid, attribute_name="Object Group", attribute_index=1),
        )
    )
    assert isinstance(deleted, S.DeleteAttributeResponseV1)
    assert translate.attribute_to_v2(deleted.attribute) == (Tag.OBJECT_GROUP, "b")
    assert deleted.attribute.attribute_index == 1
    assert kms.attributes(uid).get_all(Tag.OBJECT_GROUP) == ["a"]


@pytest.mark.parametrize("version", V1_VERSIONS)
def test_1x_attribute_index_out_of_range(kms: Kms, version: ProtocolVersion) -> None:
    uid = create(kms, version, (Tag.OBJECT_GROUP, "a"))
    item = send(
        kms,
        version,
        Operation.MODIFY_ATTRIBUTE,
        S.ModifyAttributeRequest(unique_identifier=uid, new_attribute=one(Tag.OBJECT_GROUP, "b")),
        S.ModifyAttributeRequestV1(unique_identifier=uid, attribute=v1(Tag.OBJECT_GROUP, "b", 3)),
    )
    assert item.result_status == ResultStatus.OPERATION_FAILED
    # Attribute Instance Not Found is a 2.x reason; 1.x clients get Item Not Found.
    assert item.result_reason == reason_for_version(ResultReason.ATTRIBUTE_INSTANCE_NOT_FOUND, version)
    assert item.result_reason == ResultReason.ITEM_NOT_FOUND
    assert kms.attributes(uid).get_all(Tag.OBJECT_GROUP) == ["a"]


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_errors_are_the_same_in_every_version(kms: Kms, version: ProtocolVersion) -> None:
    """The same failure in every version, reported with the reason each version knows (2.x-only reasons map to
    their closest 1.x reason)."""
    uid = create(kms, version, (Tag.COMMENT, "one"))
    item = send(
        kms,
        version,
        Operation.ADD_ATTRIBUTE,
        S.AddAttributeRequest(unique_identifier=uid, new_attribute=one(Tag.COMMENT, "two")),
        S.AddAttributeRequestV1(unique_identifier=uid, attribute=v1(Tag.COMMENT, "two")),
    )
    assert (item.result_status, item.result_reason) == (
        ResultStatus.OPERATION_FAILED,
        ResultReason.ATTRIBUTE_SINGLE_VALUED if version >= (2, 0) else ResultReason.INVALID_FIELD,
    )
    item = send(
        kms,
        version,
        Operation.GET,
        S.GetRequest(unique_identifier="missing"),
        S.GetRequestV1(unique_identifier="missing"),
    )
    # Object Not Found appeared in 2.0; 1.x clients get Item Not Found.
    assert item.result_reason == (ResultReason.OBJECT_NOT_FOUND if version >= (2, 0) else ResultReason.ITEM_NOT_FOUND)


@pytest.mark.parametrize("version", V1_VERSIONS)
def test_1x_get_attributes_returns_attribute_names_and_indexes(kms: Kms, version: ProtocolVersion) -> None:
    uid = create(kms, version, (Tag.NAME, name("n1")), (Tag.NAME, name("n2")))
    payload = ok(
        send(
            kms,
            version,
            Operation.GET_ATTRIBUTES,
            S.GetAttributesRequest(unique_identifier=uid),
            S.GetAttributesRequestV1(unique_identifier=uid, attribute_name=["Name"]),
        )
    )
    assert isinstance(payload, S.GetAttributesResponseV1)
    assert [(a.attribute_name, a.attribute_index) for a in payload.attribute] == [("Name", None), ("Name", 1)]


def test_1_2_responses_carry_only_1_2_attributes(kms: Kms) -> None:
    uid = create(kms, (1, 2))
    payload = ok(
        send(
            kms,
            (1, 2),
            Operation.GET_ATTRIBUTES,
            S.GetAttributesRequest(unique_identifier=uid),
            S.GetAttributesRequestV1(unique_identifier=uid),
        )
    )
    assert payload.attribute
    undefined = [a.attribute_name for a in payload.attribute if tag_by_name(a.attribute_name, (1, 2)) is None]
    assert undefined == []


@pytest.mark.parametrize("version", V1_VERSIONS)
def test_1x_template_names_must_name_a_template(kms: Kms, version: ProtocolVersion) -> None:
    """Templates themselves: test_templates."""
    request = S.CreateRequestV1(
        object_type=ObjectType.SYMMETRIC_KEY,
        template_attribute=S.TemplateAttributeV1(
            name=[S.NameV1(name_value="template", name_type=NameType.UNINTERPRETED_TEXT_STRING)]
        ),
    )
    item = kms.batch((Operation.CREATE, request), version=version).batch_item[0]
    assert item.result_reason == ResultReason.ITEM_NOT_FOUND


@pytest.mark.parametrize("reason", list(ResultReason))
@pytest.mark.parametrize("version", [(1, 0), (1, 2), (1, 4), (2, 0), (2, 1)])
def test_every_reason_is_one_the_version_defines(reason: ResultReason, version: ProtocolVersion) -> None:
    from kms_backend.kmip import registry

    mapped = reason_for_version(reason, version)
    info = registry.enumeration("Result Reason").by_value[int(mapped)]
    assert info.defined_in(version), (reason, version, mapped)
    if registry.enumeration("Result Reason").by_value[int(reason)].defined_in(version):
        assert mapped == reason


_MISSING_OBJECT_CASES: list[tuple[Operation, Struct, Struct | None, ResultReason]] = [
    (
        Operation.VALIDATE,
        S.ValidateRequest(unique_identifier=["missing"]),
        S.ValidateRequest(unique_identifier=["missing"]),
        ResultReason.OBJECT_NOT_FOUND,
    ),
    (
        Operation.ARCHIVE,
        S.ArchiveRequest(unique_identifier="missing"),
        S.ArchiveRequest(unique_identifier="missing"),
        ResultReason.OBJECT_NOT_FOUND,
    ),
    (
        Operation.MODIFY_ATTRIBUTE,
        S.ModifyAttributeRequest(unique_identifier="missing", new_attribute=one(Tag.COMMENT, "x")),
        S.ModifyAttributeRequestV1(unique_identifier="missing", attribute=v1(Tag.COMMENT, "x")),
        ResultReason.OBJECT_NOT_FOUND,
    ),
    # Adjust Attribute (2.0+) is one of the three operations whose 2.1 error table (§6.1.3) names Item Not Found.
    (
        Operation.ADJUST_ATTRIBUTE,
        S.AdjustAttributeRequest(
            unique_identifier="missing", attribute_reference=Tag.USAGE_LIMITS, adjustment_type=AdjustmentType.INCREMENT
        ),
        None,
        ResultReason.ITEM_NOT_FOUND,
    ),
]


@pytest.mark.parametrize(
    ("version", "operation", "v2", "v1_payload", "reason_2x"),
    [
        (version, *case)
        for version in [(1, 4), (2, 0), (2, 1)]
        for case in _MISSING_OBJECT_CASES
        if version[0] >= 2 or case[2] is not None
    ],
)
def test_missing_object_reason_follows_the_error_tables(
    kms: Kms, version: ProtocolVersion, operation: Operation, v2: Struct, v1_payload: Struct | None, reason_2x: int
) -> None:
    """Under 2.x a missing object is Object Not Found where the 2.1 error tables say so; 1.x has Item Not Found."""
    item = send(kms, version, operation, v2, v1_payload or v2)
    assert item.result_status == ResultStatus.OPERATION_FAILED
    assert item.result_reason == (reason_2x if version[0] >= 2 else ResultReason.ITEM_NOT_FOUND)
