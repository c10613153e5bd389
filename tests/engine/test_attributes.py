"""Attribute operations (KMIP 2.1 §6.1.2 Add, §6.1.3 Adjust, §6.1.13 Delete, §6.1.34 Modify, §6.1.51 Set
Attribute), Archive / Recover (§6.1.4, §6.1.42), Check (§6.1.7), with the §4 rules and their error reasons."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    AdjustmentType,
    CryptographicUsageMask,
    ItemType,
    LinkType,
    ObjectType,
    OpaqueDataType,
    Operation,
    ProtectionStorageMask,
    ResultReason,
    State,
    Tag,
    UsageLimitsUnit,
)
from kms_backend.kmip.schema import Attributes
from kms_backend.kmip.ttlv import Item

from .conftest import NOW, Kms, create_request, name

U = CryptographicUsageMask


def one(tag: int, value: Any) -> Attributes:
    return Attributes([(tag, value)])


def add(uid: str, tag: int, value: Any) -> S.AddAttributeRequest:
    return S.AddAttributeRequest(unique_identifier=uid, new_attribute=one(tag, value))


def set_(uid: str, tag: int, value: Any) -> S.SetAttributeRequest:
    return S.SetAttributeRequest(unique_identifier=uid, new_attribute=one(tag, value))


def modify(uid: str, tag: int, value: Any, current: Any = None) -> S.ModifyAttributeRequest:
    return S.ModifyAttributeRequest(
        unique_identifier=uid,
        new_attribute=one(tag, value),
        current_attribute=None if current is None else one(tag, current),
    )


def delete(uid: str, reference: Any = None, current: tuple[int, Any] | None = None) -> S.DeleteAttributeRequest:
    return S.DeleteAttributeRequest(
        unique_identifier=uid,
        attribute_reference=reference,
        current_attribute=None if current is None else one(*current),
    )


def tag_attribute(*tags: str) -> S.VendorAttribute:
    return S.VendorAttribute(
        vendor_identification="cosmian",
        attribute_name="tag",
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, json.dumps(list(tags))),
    )


def vendor(attribute: str, text: str) -> S.VendorAttribute:
    return S.VendorAttribute(
        vendor_identification="acme",
        attribute_name=attribute,
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, text),
    )


# -- Add Attribute ---------------------------------------------------------------------------------------------


def test_add_attribute_adds_instances_of_multi_valued_attributes(kms: Kms) -> None:
    uid = kms.create_key((Tag.OBJECT_GROUP, "g1"))
    kms.clock.advance(10)
    response = kms.run(Operation.ADD_ATTRIBUTE, add(uid, Tag.OBJECT_GROUP, "g2"))
    assert response.unique_identifier == uid
    attrs = kms.attributes(uid)
    assert attrs.get_all(Tag.OBJECT_GROUP) == ["g1", "g2"]
    assert attrs.get(Tag.LAST_CHANGE_DATE) == NOW + 10


def test_add_attribute_sets_a_single_valued_attribute_not_yet_present(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.ADD_ATTRIBUTE, add(uid, Tag.COMMENT, "hello"))
    assert kms.attribute(uid, Tag.COMMENT) == "hello"


def test_add_attribute_refuses_a_second_single_valued_instance(kms: Kms) -> None:
    uid = kms.create_key((Tag.COMMENT, "one"))
    error = kms.fail(Operation.ADD_ATTRIBUTE, add(uid, Tag.COMMENT, "two"))
    assert error.reason == ResultReason.ATTRIBUTE_SINGLE_VALUED
    assert kms.attribute(uid, Tag.COMMENT) == "one"


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (Tag.STATE, State.ACTIVE),
        (Tag.UNIQUE_IDENTIFIER, "x"),
        (Tag.ARCHIVE_DATE, NOW),
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, U.ENCRYPT),
        (Tag.CRYPTOGRAPHIC_ALGORITHM, 3),
    ],
)
def test_add_attribute_refuses_attributes_a_client_may_not_change(kms: Kms, tag: int, value: Any) -> None:
    uid = kms.create_key()
    assert kms.fail(Operation.ADD_ATTRIBUTE, add(uid, tag, value)).reason == ResultReason.READ_ONLY_ATTRIBUTE


def test_add_attribute_needs_exactly_one_attribute(kms: Kms) -> None:
    uid = kms.create_key()
    request = S.AddAttributeRequest(
        unique_identifier=uid, new_attribute=Attributes([(Tag.COMMENT, "a"), (Tag.DESCRIPTION, "b")])
    )
    assert kms.fail(Operation.ADD_ATTRIBUTE, request).reason == ResultReason.INVALID_FIELD


def test_add_attribute_refuses_tags_that_are_no_attribute(kms: Kms) -> None:
    uid = kms.create_key()
    raw = Item(Tag.BATCH_COUNT, ItemType.INTEGER, 1)
    assert kms.fail(Operation.ADD_ATTRIBUTE, add(uid, Tag.BATCH_COUNT, raw)).reason == ResultReason.INVALID_ATTRIBUTE


def test_add_attribute_of_an_unknown_object(kms: Kms) -> None:
    error = kms.fail(Operation.ADD_ATTRIBUTE, add("nope", Tag.COMMENT, "x"))
    assert error.reason == ResultReason.OBJECT_NOT_FOUND


def test_names_are_unique_per_object_type(kms: Kms) -> None:
    first = kms.create_key((Tag.NAME, name("taken")))
    second = kms.create_key()
    error = kms.fail(Operation.ADD_ATTRIBUTE, add(second, Tag.NAME, name("taken")))
    assert error.reason == ResultReason.NON_UNIQUE_NAME_ATTRIBUTE
    assert kms.fail(Operation.ADD_ATTRIBUTE, add(first, Tag.NAME, name("taken"))).reason == (
        ResultReason.NON_UNIQUE_NAME_ATTRIBUTE
    )
    kms.run(Operation.ADD_ATTRIBUTE, add(second, Tag.NAME, name("free")))
    assert kms.attributes(second).get_all(Tag.NAME) == [name("free")]


def test_activation_date_is_modifiable_only_while_pre_active(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.ADD_ATTRIBUTE, add(uid, Tag.ACTIVATION_DATE, NOW + 100))
    assert kms.attribute(uid, Tag.STATE) == State.PRE_ACTIVE
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    error = kms.fail(Operation.SET_ATTRIBUTE, set_(uid, Tag.ACTIVATION_DATE, NOW + 200))
    assert error.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE


def test_an_activation_date_in_the_past_activates_the_object(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.ADD_ATTRIBUTE, add(uid, Tag.ACTIVATION_DATE, NOW))
    assert kms.attribute(uid, Tag.STATE) == State.ACTIVE


def test_cosmian_tags_are_added_set_and_deleted(kms: Kms) -> None:
    uid = kms.create_key((Tag.ATTRIBUTE, tag_attribute("a")))
    kms.run(Operation.ADD_ATTRIBUTE, add(uid, Tag.ATTRIBUTE, tag_attribute("b", "a")))
    assert sorted(kms.tags(uid)) == ["_kk", "a", "b"]
    kms.run(Operation.SET_ATTRIBUTE, set_(uid, Tag.ATTRIBUTE, tag_attribute("c")))
    assert sorted(kms.tags(uid)) == ["_kk", "c"]
    located = kms.run(Operation.LOCATE, S.LocateRequest(attributes=Attributes([(Tag.ATTRIBUTE, tag_attribute("c"))])))
    assert located.unique_identifier == [uid]
    kms.run(Operation.ADD_ATTRIBUTE, add(uid, Tag.ATTRIBUTE, tag_attribute("d")))
    kms.run(Operation.DELETE_ATTRIBUTE, delete(uid, current=(Tag.ATTRIBUTE, tag_attribute("d"))))
    assert sorted(kms.tags(uid)) == ["_kk", "c"]
    reference = S.AttributeReference(vendor_identification="cosmian", attribute_name="tag")
    kms.run(Operation.DELETE_ATTRIBUTE, delete(uid, reference))
    assert kms.tags(uid) == ["_kk"]  # the system tag is the server's, not the client's
    assert kms.fail(Operation.DELETE_ATTRIBUTE, delete(uid, reference)).reason == ResultReason.ATTRIBUTE_NOT_FOUND


def test_cosmian_tags_must_be_a_json_array(kms: Kms) -> None:
    uid = kms.create_key()
    bad = S.VendorAttribute(
        vendor_identification="cosmian",
        attribute_name="tag",
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, "not json"),
    )
    assert (
        kms.fail(Operation.ADD_ATTRIBUTE, add(uid, Tag.ATTRIBUTE, bad)).reason == ResultReason.INVALID_ATTRIBUTE_VALUE
    )


def test_vendor_attributes_are_the_clients(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.ADD_ATTRIBUTE, add(uid, Tag.ATTRIBUTE, vendor("colour", "red")))
    kms.run(Operation.SET_ATTRIBUTE, set_(uid, Tag.ATTRIBUTE, vendor("colour", "blue")))
    kms.run(Operation.ADD_ATTRIBUTE, add(uid, Tag.ATTRIBUTE, vendor("size", "L")))
    assert kms.attributes(uid).get_all(Tag.ATTRIBUTE) == [vendor("colour", "blue"), vendor("size", "L")]
    reference = S.AttributeReference(vendor_identification="acme", attribute_name="colour")
    kms.run(Operation.DELETE_ATTRIBUTE, delete(uid, reference))
    assert kms.attributes(uid).get_all(Tag.ATTRIBUTE) == [vendor("size", "L")]


# -- Set Attribute ---------------------------------------------------------------------------------------------


def test_set_attribute_creates_then_replaces(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.SET_ATTRIBUTE, set_(uid, Tag.DESCRIPTION, "first"))
    kms.run(Operation.SET_ATTRIBUTE, set_(uid, Tag.DESCRIPTION, "second"))
    assert kms.attributes(uid).get_all(Tag.DESCRIPTION) == ["second"]


def test_set_attribute_refuses_several_instances(kms: Kms) -> None:
    uid = kms.create_key((Tag.NAME, name("n1")), (Tag.NAME, name("n2")))
    error = kms.fail(Operation.SET_ATTRIBUTE, set_(uid, Tag.NAME, name("n3")))
    assert error.reason == ResultReason.MULTI_VALUED_ATTRIBUTE


def test_set_attribute_replaces_a_single_name(kms: Kms) -> None:
    uid = kms.create_key((Tag.NAME, name("n1")))
    kms.run(Operation.SET_ATTRIBUTE, set_(uid, Tag.NAME, name("n2")))
    assert kms.attributes(uid).get_all(Tag.NAME) == [name("n2")]
    other = kms.create_key()
    kms.run(Operation.SET_ATTRIBUTE, set_(other, Tag.NAME, name("n1")))  # n1 was freed


@pytest.mark.parametrize("tag", [Tag.STATE, Tag.INITIAL_DATE, Tag.OBJECT_TYPE, Tag.CRYPTOGRAPHIC_LENGTH])
def test_set_attribute_refuses_read_only_attributes(kms: Kms, tag: int) -> None:
    uid = kms.create_key()
    value = kms.attribute(uid, tag)
    assert kms.fail(Operation.SET_ATTRIBUTE, set_(uid, tag, value)).reason == ResultReason.READ_ONLY_ATTRIBUTE


def test_deactivation_date_in_the_past_deactivates(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    kms.run(Operation.SET_ATTRIBUTE, set_(uid, Tag.DEACTIVATION_DATE, NOW))
    assert kms.attribute(uid, Tag.STATE) == State.DEACTIVATED
    error = kms.fail(Operation.SET_ATTRIBUTE, set_(uid, Tag.DEACTIVATION_DATE, NOW + 5))
    assert error.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE


# -- Modify Attribute ------------------------------------------------------------------------------------------


def test_modify_attribute_changes_an_existing_value(kms: Kms) -> None:
    uid = kms.create_key((Tag.CONTACT_INFORMATION, "old"))
    kms.run(Operation.MODIFY_ATTRIBUTE, modify(uid, Tag.CONTACT_INFORMATION, "new"))
    assert kms.attribute(uid, Tag.CONTACT_INFORMATION) == "new"


def test_modify_attribute_of_a_missing_attribute(kms: Kms) -> None:
    uid = kms.create_key()
    error = kms.fail(Operation.MODIFY_ATTRIBUTE, modify(uid, Tag.CONTACT_INFORMATION, "new"))
    assert error.reason == ResultReason.ATTRIBUTE_NOT_FOUND


def test_modify_attribute_picks_the_current_instance(kms: Kms) -> None:
    uid = kms.create_key((Tag.OBJECT_GROUP, "a"), (Tag.OBJECT_GROUP, "b"))
    kms.run(Operation.MODIFY_ATTRIBUTE, modify(uid, Tag.OBJECT_GROUP, "c", current="b"))
    assert kms.attributes(uid).get_all(Tag.OBJECT_GROUP) == ["a", "c"]
    kms.run(Operation.MODIFY_ATTRIBUTE, modify(uid, Tag.OBJECT_GROUP, "z"))  # no Current: the first instance
    assert kms.attributes(uid).get_all(Tag.OBJECT_GROUP) == ["z", "c"]
    error = kms.fail(Operation.MODIFY_ATTRIBUTE, modify(uid, Tag.OBJECT_GROUP, "d", current="missing"))
    assert error.reason == ResultReason.ATTRIBUTE_INSTANCE_NOT_FOUND


def test_modify_attribute_current_and_new_must_be_the_same_attribute(kms: Kms) -> None:
    uid = kms.create_key((Tag.COMMENT, "x"))
    request = S.ModifyAttributeRequest(
        unique_identifier=uid, current_attribute=one(Tag.COMMENT, "x"), new_attribute=one(Tag.DESCRIPTION, "y")
    )
    assert kms.fail(Operation.MODIFY_ATTRIBUTE, request).reason == ResultReason.INVALID_FIELD


@pytest.mark.parametrize("tag", [Tag.CRYPTOGRAPHIC_USAGE_MASK, Tag.STATE, Tag.UNIQUE_IDENTIFIER])
def test_modify_attribute_refuses_read_only_attributes(kms: Kms, tag: int) -> None:
    uid = kms.create_key()
    value = kms.attribute(uid, tag)
    assert kms.fail(Operation.MODIFY_ATTRIBUTE, modify(uid, tag, value)).reason == ResultReason.ATTRIBUTE_READ_ONLY


def test_modify_attribute_keeps_names_unique(kms: Kms) -> None:
    kms.create_key((Tag.NAME, name("a")))
    uid = kms.create_key((Tag.NAME, name("b")))
    error = kms.fail(Operation.MODIFY_ATTRIBUTE, modify(uid, Tag.NAME, name("a")))
    assert error.reason == ResultReason.NON_UNIQUE_NAME_ATTRIBUTE
    assert kms.attributes(uid).get_all(Tag.NAME) == [name("b")]


def test_modify_links(kms: Kms) -> None:
    target = kms.create_key()
    other = kms.create_key()
    uid = kms.create_key((Tag.LINK, S.Link(link_type=LinkType.PARENT_LINK, linked_object_identifier=target)))
    new = S.Link(link_type=LinkType.PARENT_LINK, linked_object_identifier=other)
    kms.run(Operation.MODIFY_ATTRIBUTE, modify(uid, Tag.LINK, new))
    located = kms.run(Operation.LOCATE, S.LocateRequest(attributes=Attributes([(Tag.LINK, new)])))
    assert located.unique_identifier == [uid]


# -- Delete Attribute ------------------------------------------------------------------------------------------


def test_delete_attribute_by_reference_removes_every_instance(kms: Kms) -> None:
    uid = kms.create_key((Tag.OBJECT_GROUP, "a"), (Tag.OBJECT_GROUP, "b"), (Tag.COMMENT, "c"))
    kms.run(Operation.DELETE_ATTRIBUTE, delete(uid, Tag.OBJECT_GROUP))
    attrs = kms.attributes(uid)
    assert attrs.get_all(Tag.OBJECT_GROUP) == []
    assert attrs.get(Tag.COMMENT) == "c"


def test_delete_attribute_by_current_removes_that_instance(kms: Kms) -> None:
    uid = kms.create_key((Tag.NAME, name("a")), (Tag.NAME, name("b")))
    kms.run(Operation.DELETE_ATTRIBUTE, delete(uid, current=(Tag.NAME, name("a"))))
    assert kms.attributes(uid).get_all(Tag.NAME) == [name("b")]
    error = kms.fail(Operation.DELETE_ATTRIBUTE, delete(uid, current=(Tag.NAME, name("a"))))
    assert error.reason == ResultReason.ATTRIBUTE_INSTANCE_NOT_FOUND
    kms.create_key((Tag.NAME, name("a")))  # the deleted name is free again


def test_delete_attribute_of_a_missing_attribute(kms: Kms) -> None:
    uid = kms.create_key()
    assert kms.fail(Operation.DELETE_ATTRIBUTE, delete(uid, Tag.COMMENT)).reason == ResultReason.ATTRIBUTE_NOT_FOUND


@pytest.mark.parametrize(
    "tag",
    [Tag.STATE, Tag.UNIQUE_IDENTIFIER, Tag.CRYPTOGRAPHIC_ALGORITHM, Tag.INITIAL_DATE, Tag.ACTIVATION_DATE],
)
def test_delete_attribute_refuses_attributes_a_client_may_not_delete(kms: Kms, tag: int) -> None:
    uid = kms.create_key((Tag.ACTIVATION_DATE, NOW + 100))
    assert kms.fail(Operation.DELETE_ATTRIBUTE, delete(uid, tag)).reason == ResultReason.ATTRIBUTE_READ_ONLY


def test_delete_attribute_needs_a_reference_or_current(kms: Kms) -> None:
    uid = kms.create_key()
    assert kms.fail(Operation.DELETE_ATTRIBUTE, delete(uid)).reason == ResultReason.INVALID_FIELD


# -- Adjust Attribute ------------------------------------------------------------------------------------------


def adjust(uid: str, tag: int, adjustment: AdjustmentType, amount: int | None = None) -> S.AdjustAttributeRequest:
    value = None if amount is None else Item(Tag.ADJUSTMENT_VALUE, ItemType.INTERVAL, amount)
    return S.AdjustAttributeRequest(
        unique_identifier=uid, attribute_reference=Tag(tag), adjustment_type=adjustment, adjustment_value=value
    )


def test_adjust_attribute(kms: Kms) -> None:
    uid = kms.create_key((Tag.DEACTIVATION_DATE, NOW + 100), (Tag.EXTRACTABLE, True))
    kms.run(Operation.ADJUST_ATTRIBUTE, adjust(uid, Tag.DEACTIVATION_DATE, AdjustmentType.INCREMENT, 50))
    assert kms.attribute(uid, Tag.DEACTIVATION_DATE) == NOW + 150
    kms.run(Operation.ADJUST_ATTRIBUTE, adjust(uid, Tag.DEACTIVATION_DATE, AdjustmentType.DECREMENT))
    assert kms.attribute(uid, Tag.DEACTIVATION_DATE) == NOW + 149
    kms.run(Operation.ADJUST_ATTRIBUTE, adjust(uid, Tag.EXTRACTABLE, AdjustmentType.NEGATE))
    assert kms.attribute(uid, Tag.EXTRACTABLE) is False
    cases = [
        (adjust(uid, Tag.DEACTIVATION_DATE, AdjustmentType.NEGATE), ResultReason.NUMERIC_RANGE),
        (adjust(uid, Tag.EXTRACTABLE, AdjustmentType.INCREMENT), ResultReason.INVALID_DATA_TYPE),
        (adjust(uid, Tag.COMMENT, AdjustmentType.INCREMENT), ResultReason.ITEM_NOT_FOUND),
        (adjust(uid, Tag.OBJECT_GROUP, AdjustmentType.INCREMENT), ResultReason.MULTI_VALUED_ATTRIBUTE),
        (adjust(uid, Tag.CRYPTOGRAPHIC_LENGTH, AdjustmentType.INCREMENT), ResultReason.READ_ONLY_ATTRIBUTE),
    ]
    for request, reason in cases:
        assert kms.fail(Operation.ADJUST_ATTRIBUTE, request).reason == reason


# -- Archive / Recover -----------------------------------------------------------------------------------------


def test_archive_and_recover(kms: Kms) -> None:
    uid = kms.create_key()
    kms.clock.advance(5)
    kms.run(Operation.ARCHIVE, S.ArchiveRequest(unique_identifier=uid))
    assert kms.storage_status(uid) == 2
    assert kms.attribute(uid, Tag.ARCHIVE_DATE) == NOW + 5
    located = kms.run(Operation.LOCATE, S.LocateRequest())
    assert uid not in located.unique_identifier  # on-line objects only by default
    archived = kms.run(Operation.LOCATE, S.LocateRequest(storage_status_mask=2))
    assert archived.unique_identifier == [uid]
    assert kms.fail(Operation.ARCHIVE, S.ArchiveRequest(unique_identifier=uid)).reason == ResultReason.OBJECT_ARCHIVED
    error = kms.fail(Operation.ADJUST_ATTRIBUTE, adjust(uid, Tag.ACTIVATION_DATE, AdjustmentType.INCREMENT))
    assert error.reason == ResultReason.OBJECT_ARCHIVED
    kms.run(Operation.RECOVER, S.RecoverRequest(unique_identifier=uid))
    assert kms.storage_status(uid) == 1
    assert kms.attribute(uid, Tag.ARCHIVE_DATE) is None
    assert uid in kms.run(Operation.LOCATE, S.LocateRequest()).unique_identifier
    kms.run(Operation.RECOVER, S.RecoverRequest(unique_identifier=uid))  # on-line already: nothing to do


def test_recover_of_a_destroyed_object_keeps_it_destroyed(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
    kms.run(Operation.ARCHIVE, S.ArchiveRequest(unique_identifier=uid))
    kms.run(Operation.RECOVER, S.RecoverRequest(unique_identifier=uid))
    assert kms.storage_status(uid) == 4


# -- Check -----------------------------------------------------------------------------------------------------


def test_check_usage_mask(kms: Kms) -> None:
    uid = kms.create_key((Tag.CRYPTOGRAPHIC_USAGE_MASK, U.ENCRYPT | U.DECRYPT))
    response = kms.run(Operation.CHECK, S.CheckRequest(unique_identifier=uid, cryptographic_usage_mask=U.ENCRYPT))
    assert response.unique_identifier == uid
    error = kms.fail(Operation.CHECK, S.CheckRequest(unique_identifier=uid, cryptographic_usage_mask=U.SIGN))
    assert error.reason == ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK


def test_check_usage_limits(kms: Kms) -> None:
    limits = S.UsageLimits(usage_limits_total=10, usage_limits_unit=UsageLimitsUnit.OBJECT)
    uid = kms.create_key()
    kms.run(Operation.ADD_ATTRIBUTE, add(uid, Tag.USAGE_LIMITS, limits))
    kms.run(Operation.CHECK, S.CheckRequest(unique_identifier=uid, usage_limits_count=10))
    error = kms.fail(Operation.CHECK, S.CheckRequest(unique_identifier=uid, usage_limits_count=11))
    assert error.reason == ResultReason.USAGE_LIMIT_EXCEEDED
    unlimited = kms.create_key()
    kms.run(Operation.CHECK, S.CheckRequest(unique_identifier=unlimited, usage_limits_count=10**6))


def test_check_object_without_usage_mask(kms: Kms) -> None:
    opaque = kms.run(
        Operation.REGISTER,
        S.RegisterRequest(
            object_type=ObjectType.OPAQUE_OBJECT,
            attributes=Attributes(),
            managed_object=S.OpaqueObject(opaque_data_type=OpaqueDataType.UNKNOWN, opaque_data_value=b"blob"),
        ),
    ).unique_identifier
    error = kms.fail(Operation.CHECK, S.CheckRequest(unique_identifier=opaque, cryptographic_usage_mask=U.ENCRYPT))
    assert error.reason == ResultReason.ILLEGAL_OBJECT_TYPE


def test_check_then_get_in_one_batch(kms: Kms) -> None:
    uid = kms.create_key((Tag.CRYPTOGRAPHIC_USAGE_MASK, U.ENCRYPT))
    response = kms.batch(
        (Operation.CHECK, S.CheckRequest(unique_identifier=uid, cryptographic_usage_mask=U.ENCRYPT)),
        (Operation.GET, S.GetRequest()),
    )
    assert [i.result_status for i in response.batch_item] == [0, 0]
    assert response.batch_item[1].response_payload.unique_identifier == uid


@pytest.mark.parametrize("version", [(1, 4), (2, 0), (2, 1)])
def test_short_unique_identifier_and_protection_storage_mask_are_derived(kms: Kms, version: tuple[int, int]) -> None:
    """KMIP 2.0+ Short Unique Identifier (SHA-256 of the Unique Identifier) and Protection Storage Mask are
    returned by Get Attributes and listed by Get Attribute List; a 1.x request sees neither (1.4 defines
    neither)."""
    uid = kms.run(Operation.CREATE, create_request()).unique_identifier
    if version[0] >= 2:
        request = S.GetAttributesRequest(
            unique_identifier=uid, attribute_reference=[Tag.SHORT_UNIQUE_IDENTIFIER, Tag.PROTECTION_STORAGE_MASK]
        )
        attrs = kms.batch((Operation.GET_ATTRIBUTES, request), version=version).batch_item[0].response_payload
        assert attrs.attributes.get(Tag.SHORT_UNIQUE_IDENTIFIER) == hashlib.sha256(uid.encode()).digest()
        assert attrs.attributes.get(Tag.PROTECTION_STORAGE_MASK) == ProtectionStorageMask.SOFTWARE
    listed = kms.batch(
        (Operation.GET_ATTRIBUTE_LIST, S.GetAttributeListRequest(unique_identifier=uid)), version=version
    ).batch_item[0]
    names = listed.response_payload.attribute_name if version[0] < 2 else listed.response_payload.attribute_reference
    derived = [Tag.SHORT_UNIQUE_IDENTIFIER, Tag.PROTECTION_STORAGE_MASK]
    if version[0] < 2:
        assert "Unique Identifier" in names
        assert not {"Short Unique Identifier", "Protection Storage Mask"} & set(names)
    else:
        assert set(derived) <= set(names)
