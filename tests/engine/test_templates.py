"""KMIP 1.x Templates (1.4 §2.2.6, §2.1.8): Register / Locate / Get / Destroy of Template objects and
Template-Attributes that name them."""

from __future__ import annotations

from typing import Any

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import translate
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    ObjectType,
    Operation,
    QueryFunction,
    ResultReason,
    ResultStatus,
    Tag,
)

from .conftest import Kms, name

V14 = (1, 4)


def v1(tag: int, value: Any) -> S.AttributeV1:
    return translate.attribute_to_v1(tag, value)


def ok(kms: Kms, operation: Operation, payload: Any, version: tuple[int, int] = V14) -> Any:
    item = kms.batch((operation, payload), version=version).batch_item[0]
    assert item.result_status == ResultStatus.SUCCESS, (item.result_reason, item.result_message)
    return item.response_payload


def register_template(kms: Kms, template_name: str, *attributes: S.AttributeV1) -> str:
    request = S.RegisterRequestV1(
        object_type=ObjectType.TEMPLATE,
        template_attribute=S.TemplateAttributeV1(attribute=[v1(Tag.NAME, name(template_name))]),
        managed_object=S.TemplateV1(attribute=list(attributes)),
    )
    return str(ok(kms, Operation.REGISTER, request).unique_identifier)


def test_template_register_locate_get_destroy(kms: Kms) -> None:
    algorithm = v1(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES)
    uid = register_template(kms, "aes-keys", algorithm, v1(Tag.CRYPTOGRAPHIC_LENGTH, 128))
    locate = S.LocateRequestV1(attribute=[v1(Tag.OBJECT_TYPE, ObjectType.TEMPLATE), v1(Tag.NAME, name("aes-keys"))])
    assert ok(kms, Operation.LOCATE, locate).unique_identifier == [uid]
    got = ok(kms, Operation.GET, S.GetRequestV1(unique_identifier=uid))
    assert got.object_type == ObjectType.TEMPLATE
    assert [a.attribute_name for a in got.managed_object.attribute] == [
        "Cryptographic Algorithm",
        "Cryptographic Length",
    ]
    ok(kms, Operation.DESTROY, S.DestroyRequestV1(unique_identifier=uid))
    assert ok(kms, Operation.LOCATE, locate).unique_identifier == []


def test_a_template_attribute_naming_a_template(kms: Kms) -> None:
    register_template(
        kms,
        "group-a",
        v1(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES),
        v1(Tag.CRYPTOGRAPHIC_LENGTH, 128),
        v1(Tag.OBJECT_GROUP, "from-template"),
    )
    explicit = [v1(Tag.CRYPTOGRAPHIC_LENGTH, 256), v1(Tag.OBJECT_GROUP, "explicit")]
    create = S.CreateRequestV1(
        object_type=ObjectType.SYMMETRIC_KEY,
        template_attribute=S.TemplateAttributeV1(name=[S.NameV1(**vars_of(name("group-a")))], attribute=explicit),
    )
    uid = ok(kms, Operation.CREATE, create).unique_identifier
    attrs = kms.attributes(uid)
    assert attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM) == CryptographicAlgorithm.AES  # from the template
    assert attrs.get(Tag.CRYPTOGRAPHIC_LENGTH) == 256  # the explicit value wins for a single-valued attribute
    assert sorted(attrs.get_all(Tag.OBJECT_GROUP)) == ["explicit", "from-template"]  # multi-valued: both
    missing = S.CreateRequestV1(
        object_type=ObjectType.SYMMETRIC_KEY,
        template_attribute=S.TemplateAttributeV1(name=[S.NameV1(**vars_of(name("nope")))]),
    )
    item = kms.batch((Operation.CREATE, missing), version=V14).batch_item[0]
    assert (item.result_status, item.result_reason) == (ResultStatus.OPERATION_FAILED, ResultReason.ITEM_NOT_FOUND)


def test_query_lists_templates_only_in_1x(kms: Kms) -> None:
    query = S.QueryRequest(query_function=[QueryFunction.QUERY_OBJECTS])
    assert ObjectType.TEMPLATE in ok(kms, Operation.QUERY, query).object_type
    assert ObjectType.TEMPLATE not in ok(kms, Operation.QUERY, query, (2, 1)).object_type


def vars_of(value: S.Name) -> dict[str, Any]:
    return {"name_value": value.name_value, "name_type": value.name_type}
