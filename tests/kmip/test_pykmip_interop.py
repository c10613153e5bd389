"""Interoperability of our KMIP binary encoding with PyKMIP 0.11, an independent implementation.

For twelve operations, in KMIP 1.2 and KMIP 2.0, request and response payloads travel both ways:

* PyKMIP's bytes -> ``binary_codec.decode`` -> ``messages.decode_request``/``decode_response`` give exactly the
  typed message we expect (the 1.x ``...V1`` forms for 1.2, which ``translate.to_v2`` turns into the 2.1 form);
* our typed message -> ``messages.encode`` -> ``binary_codec.encode`` is read back by PyKMIP with the same values;
* both encoders produce the same bytes (all 48 messages: same field order, padding and lengths).

The last tests pin down where PyKMIP 0.11 departs from KMIP 2.0 (Extension Type's item type, Locate without
Attributes); the cases avoid those corners so that everything else is compared.

Each ``Case`` declares the payload three times: as PyKMIP builds it, in our 2.1 form, and (where attributes or
a managed object make it differ in more than the class) in our 1.x form; otherwise the 1.x form is
``translate.to_v1`` of the 2.1 one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import binary_codec, messages, translate
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    ItemType,
    KeyFormatType,
    NameType,
    ObjectGroupMember,
    ObjectType,
    Operation,
    PaddingMethod,
    QueryFunction,
    ResultStatus,
    RevocationReasonCode,
    State,
    Tag,
)
from kms_backend.kmip.schema import Attributes, Struct
from kms_backend.kmip.ttlv import Item

from . import pykmip_messages as pk
from .pykmip_messages import enums as pk_enums

Version = tuple[int, int]
V1_2: Version = (1, 2)
V2_0: Version = (2, 0)
VERSIONS = [pytest.param(V1_2, id="1.2"), pytest.param(V2_0, id="2.0")]

UID = "fc8833de-70d2-4ece-b063-fede3a3c59fe"
UID_2 = "1f165d65-cbbd-4bd6-9867-80e0b390acf9"
KEY = bytes(range(32))
NAME = "interop-key"
PLAINTEXT = b"Keystead meets PyKMIP"
CIPHERTEXT = bytes.fromhex("9f2a6c0e41b7d35a88e1c4f07b2d93a6e5147c08d2b6f3a19c4e7d0852a1b6f3")
IV = bytes(range(16))
NONCE = bytes(range(12))
AAD = b"header"
AUTH_TAG = bytes(range(100, 116))
TIME = 1_700_000_000
COMPROMISE_TIME = 1_690_000_000
BATCH_ITEM_ID = b"\x00\x01"
EXTENSION_TAG = 0x54AA01
ENCRYPT_DECRYPT = CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT


# -- our typed messages ------------------------------------------------------------------------------------------


def our_request(version: Version, operation: Operation, payload: Struct) -> messages.RequestMessage:
    """The typed Request Message ``pk.encode_request`` describes, in the form ``decode_request`` gives."""
    protocol = S.ProtocolVersion(protocol_version_major=version[0], protocol_version_minor=version[1])
    if version[0] < 2:
        return S.RequestMessageV1(
            request_header=S.RequestHeaderV1(protocol_version=protocol, maximum_response_size=1_048_576, batch_count=1),
            batch_item=[
                S.RequestBatchItemV1(operation=operation, unique_batch_item_id=BATCH_ITEM_ID, request_payload=payload)
            ],
        )
    return S.RequestMessage(
        request_header=S.RequestHeader(protocol_version=protocol, maximum_response_size=1_048_576, batch_count=1),
        batch_item=[
            S.RequestBatchItem(operation=operation, unique_batch_item_id=BATCH_ITEM_ID, request_payload=payload)
        ],
    )


def our_response(version: Version, operation: Operation, payload: Struct) -> messages.ResponseMessage:
    """The typed Response Message ``pk.encode_response`` describes, in the form ``decode_response`` gives."""
    protocol = S.ProtocolVersion(protocol_version_major=version[0], protocol_version_minor=version[1])
    if version[0] < 2:
        return S.ResponseMessageV1(
            response_header=S.ResponseHeaderV1(protocol_version=protocol, time_stamp=TIME, batch_count=1),
            batch_item=[
                S.ResponseBatchItemV1(operation=operation, result_status=ResultStatus.SUCCESS, response_payload=payload)
            ],
        )
    return S.ResponseMessage(
        response_header=S.ResponseHeader(protocol_version=protocol, time_stamp=TIME, batch_count=1),
        batch_item=[
            S.ResponseBatchItem(operation=operation, result_status=ResultStatus.SUCCESS, response_payload=payload)
        ],
    )


def v1_attribute(name: str, item_type: ItemType, value: Any) -> S.AttributeV1:
    """A 1.x Attribute as ``decode_request`` gives it: the value stays a raw Attribute Value item."""
    return S.AttributeV1(attribute_name=name, attribute_value=Item(Tag.ATTRIBUTE_VALUE, item_type, value))


def v1_name(name: str) -> S.AttributeV1:
    return v1_attribute(
        "Name",
        ItemType.STRUCTURE,
        [
            Item(Tag.NAME_VALUE, ItemType.TEXT_STRING, name),
            Item(Tag.NAME_TYPE, ItemType.ENUMERATION, NameType.UNINTERPRETED_TEXT_STRING),
        ],
    )


def v2_name(name: str) -> S.Name:
    return S.Name(name_value=name, name_type=NameType.UNINTERPRETED_TEXT_STRING)


# The key attributes of the Create and Register requests: AES, 256 bits, Encrypt|Decrypt.
def key_attributes() -> list[tuple[int, Any]]:
    return [
        (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES),
        (Tag.CRYPTOGRAPHIC_LENGTH, 256),
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, ENCRYPT_DECRYPT),
    ]


def key_attributes_v1() -> list[S.AttributeV1]:
    return [
        v1_attribute("Cryptographic Algorithm", ItemType.ENUMERATION, CryptographicAlgorithm.AES),
        v1_attribute("Cryptographic Length", ItemType.INTEGER, 256),
        v1_attribute("Cryptographic Usage Mask", ItemType.INTEGER, ENCRYPT_DECRYPT),
    ]


def pk_key_attributes() -> list[Any]:
    return [
        pk.attribute(pk_enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, pk_enums.CryptographicAlgorithm.AES),
        pk.attribute(pk_enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
        pk.attribute(
            pk_enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
            [pk_enums.CryptographicUsageMask.ENCRYPT, pk_enums.CryptographicUsageMask.DECRYPT],
        ),
    ]


def our_symmetric_key() -> S.SymmetricKey:
    return S.SymmetricKey(
        key_block=S.KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=S.KeyValue(key_material=KEY),
            cryptographic_algorithm=CryptographicAlgorithm.AES,
            cryptographic_length=256,
        )
    )


def our_symmetric_key_v1() -> S.SymmetricKeyV1:
    return S.SymmetricKeyV1(
        key_block=S.KeyBlockV1(
            key_format_type=KeyFormatType.RAW,
            key_value=S.KeyValueV1(key_material=KEY),
            cryptographic_algorithm=CryptographicAlgorithm.AES,
            cryptographic_length=256,
        )
    )


def pk_uid(uid: str) -> Any:
    return pk.attributes.UniqueIdentifier(uid)


def our_extension_information() -> S.ExtensionInformation:
    return S.ExtensionInformation(
        extension_name="Keystead Extension", extension_tag=EXTENSION_TAG, extension_type=ItemType.TEXT_STRING
    )


# PyKMIP 0.11 encodes Extension Type as an Integer (its 1.x type) in every version, and its reader insists on one;
# KMIP 2.0 made it an Enumeration of Item Type. So Query's Extension Information is only exchanged in 1.2 by the
# cases; test_extension_type_differs_in_2_0 pins down the 2.0 difference.
def pk_extension_information() -> Any:
    return pk.objects.ExtensionInformation(
        extension_name=pk.objects.ExtensionName("Keystead Extension"),
        extension_tag=pk.objects.ExtensionTag(EXTENSION_TAG),
        extension_type=pk.objects.ExtensionType(pk_enums.Types.TEXT_STRING.value),
    )


def pk_extension_view(info: Any) -> tuple[str, int, int]:
    return (info.extension_name.value, info.extension_tag.value, info.extension_type.value)


def aead(version: Version) -> bool:
    """PyKMIP encodes the AEAD fields of Encrypt/Decrypt (added in KMIP 1.4) only for 1.4 and later."""
    return version >= (1, 4)


# -- the cases ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One payload (request or response) of an operation, as PyKMIP and as we declare it."""

    #: A fresh PyKMIP payload (fresh because PyKMIP's 2.0 writer re-tags attribute values in place).
    pykmip: Callable[[Version], Any]
    #: Our payload in its 2.1 form.
    ours: Callable[[Version], Struct]
    #: PyKMIP payload -> plain values, to compare what PyKMIP decoded with what it was built from.
    view: Callable[[Any], Any]
    #: Our payload in its 1.x form, when it differs from ``translate.to_v1(ours(version))`` in more than the class.
    ours_v1: Callable[[Version], Struct] | None = None

    def ours_for(self, version: Version) -> Struct:
        """Our payload in the form ``messages.decode_*`` gives for ``version``."""
        if version[0] >= 2:
            return self.ours(version)
        if self.ours_v1 is not None:
            return self.ours_v1(version)
        return translate.to_v1(self.ours(version))


@dataclass(frozen=True)
class Case:
    operation: Operation
    request: Side
    response: Side


def _uid_view(payload: Any) -> Any:
    return pk.value_view(payload.unique_identifier)


CASES: dict[str, Case] = {
    "create": Case(
        Operation.CREATE,
        request=Side(
            pykmip=lambda v: pk.payloads.CreateRequestPayload(
                object_type=pk_enums.ObjectType.SYMMETRIC_KEY,
                template_attribute=pk.objects.TemplateAttribute(
                    attributes=[*pk_key_attributes(), pk.attribute(pk_enums.AttributeType.NAME, NAME)]
                ),
            ),
            ours=lambda v: S.CreateRequest(
                object_type=ObjectType.SYMMETRIC_KEY,
                attributes=Attributes([*key_attributes(), (Tag.NAME, v2_name(NAME))]),
            ),
            ours_v1=lambda v: S.CreateRequestV1(
                object_type=ObjectType.SYMMETRIC_KEY,
                template_attribute=S.TemplateAttributeV1(attribute=[*key_attributes_v1(), v1_name(NAME)]),
            ),
            view=lambda p: (p.object_type, pk.attributes_view(p.template_attribute.attributes)),
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.CreateResponsePayload(
                object_type=pk_enums.ObjectType.SYMMETRIC_KEY, unique_identifier=UID
            ),
            ours=lambda v: S.CreateResponse(object_type=ObjectType.SYMMETRIC_KEY, unique_identifier=UID),
            view=lambda p: (p.object_type, p.unique_identifier),
        ),
    ),
    "register": Case(
        Operation.REGISTER,
        request=Side(
            pykmip=lambda v: pk.payloads.RegisterRequestPayload(
                object_type=pk_enums.ObjectType.SYMMETRIC_KEY,
                template_attribute=pk.objects.TemplateAttribute(attributes=pk_key_attributes()),
                managed_object=pk.symmetric_key(KEY, pk_enums.CryptographicAlgorithm.AES, 256),
            ),
            ours=lambda v: S.RegisterRequest(
                object_type=ObjectType.SYMMETRIC_KEY,
                attributes=Attributes(key_attributes()),
                managed_object=our_symmetric_key(),
            ),
            ours_v1=lambda v: S.RegisterRequestV1(
                object_type=ObjectType.SYMMETRIC_KEY,
                template_attribute=S.TemplateAttributeV1(attribute=key_attributes_v1()),
                managed_object=our_symmetric_key_v1(),
            ),
            view=lambda p: (
                p.object_type,
                pk.attributes_view(p.template_attribute.attributes),
                pk.symmetric_key_view(p.managed_object),
            ),
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.RegisterResponsePayload(unique_identifier=UID),
            ours=lambda v: S.RegisterResponse(unique_identifier=UID),
            view=lambda p: p.unique_identifier,
        ),
    ),
    "get": Case(
        Operation.GET,
        request=Side(
            pykmip=lambda v: pk.payloads.GetRequestPayload(
                unique_identifier=UID, key_format_type=pk_enums.KeyFormatType.RAW
            ),
            ours=lambda v: S.GetRequest(unique_identifier=UID, key_format_type=KeyFormatType.RAW),
            view=lambda p: (p.unique_identifier, p.key_format_type),
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.GetResponsePayload(
                object_type=pk_enums.ObjectType.SYMMETRIC_KEY,
                unique_identifier=UID,
                secret=pk.symmetric_key(KEY, pk_enums.CryptographicAlgorithm.AES, 256),
            ),
            ours=lambda v: S.GetResponse(
                object_type=ObjectType.SYMMETRIC_KEY, unique_identifier=UID, managed_object=our_symmetric_key()
            ),
            ours_v1=lambda v: S.GetResponseV1(
                object_type=ObjectType.SYMMETRIC_KEY, unique_identifier=UID, managed_object=our_symmetric_key_v1()
            ),
            view=lambda p: (p.object_type, p.unique_identifier, pk.symmetric_key_view(p.secret)),
        ),
    ),
    "locate": Case(
        Operation.LOCATE,
        request=Side(
            pykmip=lambda v: pk.payloads.LocateRequestPayload(
                maximum_items=10,
                offset_items=5,
                storage_status_mask=pk_enums.StorageStatusMask.ONLINE_STORAGE.value,
                object_group_member=pk_enums.ObjectGroupMember.GROUP_MEMBER_DEFAULT,
                attributes=[
                    pk.attribute(pk_enums.AttributeType.OBJECT_TYPE, pk_enums.ObjectType.SYMMETRIC_KEY),
                    pk.attribute(pk_enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, pk_enums.CryptographicAlgorithm.AES),
                    pk.attribute(pk_enums.AttributeType.NAME, NAME),
                ],
            ),
            ours=lambda v: S.LocateRequest(
                maximum_items=10,
                offset_items=5,
                storage_status_mask=1,
                object_group_member=ObjectGroupMember.GROUP_MEMBER_DEFAULT,
                attributes=Attributes(
                    [
                        (Tag.OBJECT_TYPE, ObjectType.SYMMETRIC_KEY),
                        (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES),
                        (Tag.NAME, v2_name(NAME)),
                    ]
                ),
            ),
            ours_v1=lambda v: S.LocateRequestV1(
                maximum_items=10,
                offset_items=5,
                storage_status_mask=1,
                object_group_member=ObjectGroupMember.GROUP_MEMBER_DEFAULT,
                attribute=[
                    v1_attribute("Object Type", ItemType.ENUMERATION, ObjectType.SYMMETRIC_KEY),
                    v1_attribute("Cryptographic Algorithm", ItemType.ENUMERATION, CryptographicAlgorithm.AES),
                    v1_name(NAME),
                ],
            ),
            view=lambda p: (
                p.maximum_items,
                p.offset_items,
                p.storage_status_mask,
                p.object_group_member,
                pk.attributes_view(p.attributes),
            ),
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.LocateResponsePayload(located_items=2, unique_identifiers=[UID, UID_2]),
            ours=lambda v: S.LocateResponse(located_items=2, unique_identifier=[UID, UID_2]),
            view=lambda p: (p.located_items, p.unique_identifiers),
        ),
    ),
    "get_attributes": Case(
        Operation.GET_ATTRIBUTES,
        request=Side(
            pykmip=lambda v: pk.payloads.GetAttributesRequestPayload(
                unique_identifier=UID, attribute_names=["Cryptographic Algorithm", "Cryptographic Length", "State"]
            ),
            ours=lambda v: S.GetAttributesRequest(
                unique_identifier=UID,
                attribute_reference=[Tag.CRYPTOGRAPHIC_ALGORITHM, Tag.CRYPTOGRAPHIC_LENGTH, Tag.STATE],
            ),
            ours_v1=lambda v: S.GetAttributesRequestV1(
                unique_identifier=UID, attribute_name=["Cryptographic Algorithm", "Cryptographic Length", "State"]
            ),
            view=lambda p: (p.unique_identifier, p.attribute_names),
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.GetAttributesResponsePayload(
                unique_identifier=UID,
                attributes=[
                    pk.attribute(pk_enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, pk_enums.CryptographicAlgorithm.AES),
                    pk.attribute(pk_enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
                    pk.attribute(pk_enums.AttributeType.STATE, pk_enums.State.ACTIVE),
                ],
            ),
            ours=lambda v: S.GetAttributesResponse(
                unique_identifier=UID,
                attributes=Attributes(
                    [
                        (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES),
                        (Tag.CRYPTOGRAPHIC_LENGTH, 256),
                        (Tag.STATE, State.ACTIVE),
                    ]
                ),
            ),
            ours_v1=lambda v: S.GetAttributesResponseV1(
                unique_identifier=UID,
                attribute=[
                    v1_attribute("Cryptographic Algorithm", ItemType.ENUMERATION, CryptographicAlgorithm.AES),
                    v1_attribute("Cryptographic Length", ItemType.INTEGER, 256),
                    v1_attribute("State", ItemType.ENUMERATION, State.ACTIVE),
                ],
            ),
            view=lambda p: (p.unique_identifier, pk.attributes_view(p.attributes)),
        ),
    ),
    "activate": Case(
        Operation.ACTIVATE,
        request=Side(
            pykmip=lambda v: pk.payloads.ActivateRequestPayload(unique_identifier=pk_uid(UID)),
            ours=lambda v: S.ActivateRequest(unique_identifier=UID),
            view=_uid_view,
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.ActivateResponsePayload(unique_identifier=pk_uid(UID)),
            ours=lambda v: S.ActivateResponse(unique_identifier=UID),
            view=_uid_view,
        ),
    ),
    "revoke": Case(
        Operation.REVOKE,
        request=Side(
            pykmip=lambda v: pk.payloads.RevokeRequestPayload(
                unique_identifier=pk_uid(UID),
                revocation_reason=pk.objects.RevocationReason(
                    code=pk_enums.RevocationReasonCode.KEY_COMPROMISE, message="laptop stolen"
                ),
                compromise_occurrence_date=pk.primitives.DateTime(
                    COMPROMISE_TIME, tag=pk_enums.Tags.COMPROMISE_OCCURRENCE_DATE
                ),
            ),
            ours=lambda v: S.RevokeRequest(
                unique_identifier=UID,
                revocation_reason=S.RevocationReason(
                    revocation_reason_code=RevocationReasonCode.KEY_COMPROMISE, revocation_message="laptop stolen"
                ),
                compromise_occurrence_date=COMPROMISE_TIME,
            ),
            view=lambda p: (
                pk.value_view(p.unique_identifier),
                pk.value_view(p.revocation_reason),
                pk.value_view(p.compromise_occurrence_date),
            ),
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.RevokeResponsePayload(unique_identifier=pk_uid(UID)),
            ours=lambda v: S.RevokeResponse(unique_identifier=UID),
            view=_uid_view,
        ),
    ),
    "destroy": Case(
        Operation.DESTROY,
        request=Side(
            pykmip=lambda v: pk.payloads.DestroyRequestPayload(unique_identifier=pk_uid(UID)),
            ours=lambda v: S.DestroyRequest(unique_identifier=UID),
            view=_uid_view,
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.DestroyResponsePayload(unique_identifier=pk_uid(UID)),
            ours=lambda v: S.DestroyResponse(unique_identifier=UID),
            view=_uid_view,
        ),
    ),
    "encrypt": Case(
        Operation.ENCRYPT,
        request=Side(
            pykmip=lambda v: pk.payloads.EncryptRequestPayload(
                unique_identifier=UID,
                cryptographic_parameters=pk.attributes.CryptographicParameters(
                    block_cipher_mode=pk_enums.BlockCipherMode.CBC,
                    padding_method=pk_enums.PaddingMethod.PKCS5,
                    cryptographic_algorithm=pk_enums.CryptographicAlgorithm.AES,
                ),
                data=PLAINTEXT,
                iv_counter_nonce=IV,
            ),
            ours=lambda v: S.EncryptRequest(
                unique_identifier=UID,
                cryptographic_parameters=S.CryptographicParameters(
                    block_cipher_mode=BlockCipherMode.CBC,
                    padding_method=PaddingMethod.PKCS5,
                    cryptographic_algorithm=CryptographicAlgorithm.AES,
                ),
                data=PLAINTEXT,
                iv_counter_nonce=IV,
            ),
            view=lambda p: (
                p.unique_identifier,
                p.cryptographic_parameters.block_cipher_mode,
                p.cryptographic_parameters.padding_method,
                p.cryptographic_parameters.cryptographic_algorithm,
                p.data,
                p.iv_counter_nonce,
            ),
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.EncryptResponsePayload(
                unique_identifier=UID, data=CIPHERTEXT, iv_counter_nonce=IV
            ),
            ours=lambda v: S.EncryptResponse(unique_identifier=UID, data=CIPHERTEXT, iv_counter_nonce=IV),
            view=lambda p: (p.unique_identifier, p.data, p.iv_counter_nonce),
        ),
    ),
    "decrypt": Case(
        Operation.DECRYPT,
        request=Side(
            pykmip=lambda v: pk.payloads.DecryptRequestPayload(
                unique_identifier=UID,
                cryptographic_parameters=pk.attributes.CryptographicParameters(
                    block_cipher_mode=pk_enums.BlockCipherMode.GCM,
                    cryptographic_algorithm=pk_enums.CryptographicAlgorithm.AES,
                    tag_length=16,
                ),
                data=CIPHERTEXT,
                iv_counter_nonce=NONCE,
                auth_additional_data=AAD if aead(v) else None,
                auth_tag=AUTH_TAG if aead(v) else None,
            ),
            ours=lambda v: S.DecryptRequest(
                unique_identifier=UID,
                cryptographic_parameters=S.CryptographicParameters(
                    block_cipher_mode=BlockCipherMode.GCM,
                    cryptographic_algorithm=CryptographicAlgorithm.AES,
                    tag_length=16,
                ),
                data=CIPHERTEXT,
                iv_counter_nonce=NONCE,
                authenticated_encryption_additional_data=AAD if aead(v) else None,
                authenticated_encryption_tag=AUTH_TAG if aead(v) else None,
            ),
            view=lambda p: (
                p.unique_identifier,
                p.cryptographic_parameters.block_cipher_mode,
                p.cryptographic_parameters.cryptographic_algorithm,
                p.cryptographic_parameters.tag_length,
                p.data,
                p.iv_counter_nonce,
                p.auth_additional_data,
                p.auth_tag,
            ),
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.DecryptResponsePayload(unique_identifier=UID, data=PLAINTEXT),
            ours=lambda v: S.DecryptResponse(unique_identifier=UID, data=PLAINTEXT),
            view=lambda p: (p.unique_identifier, p.data),
        ),
    ),
    "query": Case(
        Operation.QUERY,
        request=Side(
            pykmip=lambda v: pk.payloads.QueryRequestPayload(
                query_functions=[
                    pk_enums.QueryFunction.QUERY_OPERATIONS,
                    pk_enums.QueryFunction.QUERY_OBJECTS,
                    pk_enums.QueryFunction.QUERY_SERVER_INFORMATION,
                    pk_enums.QueryFunction.QUERY_EXTENSION_MAP,
                ]
            ),
            ours=lambda v: S.QueryRequest(
                query_function=[
                    QueryFunction.QUERY_OPERATIONS,
                    QueryFunction.QUERY_OBJECTS,
                    QueryFunction.QUERY_SERVER_INFORMATION,
                    QueryFunction.QUERY_EXTENSION_MAP,
                ]
            ),
            view=lambda p: p.query_functions,
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.QueryResponsePayload(
                operations=[pk_enums.Operation.CREATE, pk_enums.Operation.GET, pk_enums.Operation.QUERY],
                object_types=[pk_enums.ObjectType.SYMMETRIC_KEY, pk_enums.ObjectType.SECRET_DATA],
                vendor_identification="Keystead",
                application_namespaces=["keystead"],
                extension_information=[pk_extension_information()] if v < V2_0 else None,
            ),
            ours=lambda v: S.QueryResponse(
                operation=[Operation.CREATE, Operation.GET, Operation.QUERY],
                object_type=[ObjectType.SYMMETRIC_KEY, ObjectType.SECRET_DATA],
                vendor_identification="Keystead",
                application_namespace=["keystead"],
                extension_information=[our_extension_information()] if v < V2_0 else [],
            ),
            view=lambda p: (
                p.operations,
                p.object_types,
                p.vendor_identification,
                p.application_namespaces,
                [pk_extension_view(e) for e in p.extension_information or []],
            ),
        ),
    ),
    "discover_versions": Case(
        Operation.DISCOVER_VERSIONS,
        request=Side(
            pykmip=lambda v: pk.payloads.DiscoverVersionsRequestPayload(
                protocol_versions=[pk.contents.ProtocolVersion(*p) for p in ((2, 0), (1, 4), (1, 2))]
            ),
            ours=lambda v: S.DiscoverVersionsRequest(
                protocol_version=[
                    S.ProtocolVersion(protocol_version_major=major, protocol_version_minor=minor)
                    for major, minor in ((2, 0), (1, 4), (1, 2))
                ]
            ),
            view=lambda p: pk.value_view(p.protocol_versions),
        ),
        response=Side(
            pykmip=lambda v: pk.payloads.DiscoverVersionsResponsePayload(
                protocol_versions=[pk.contents.ProtocolVersion(*p) for p in ((2, 0), (1, 4), (1, 2))]
            ),
            ours=lambda v: S.DiscoverVersionsResponse(
                protocol_version=[
                    S.ProtocolVersion(protocol_version_major=major, protocol_version_minor=minor)
                    for major, minor in ((2, 0), (1, 4), (1, 2))
                ]
            ),
            view=lambda p: pk.value_view(p.protocol_versions),
        ),
    ),
}

OPERATIONS = list(CASES)


def pykmip_bytes(name: str, role: str, version: Version) -> bytes:
    case = CASES[name]
    pk_operation = pk_enums.Operation(int(case.operation))
    if role == "request":
        return pk.encode_request(version, pk_operation, case.request.pykmip(version), batch_item_id=BATCH_ITEM_ID)
    return pk.encode_response(version, pk_operation, case.response.pykmip(version), time_stamp=TIME)


def our_message(name: str, role: str, version: Version) -> messages.RequestMessage | messages.ResponseMessage:
    case = CASES[name]
    if role == "request":
        return our_request(version, case.operation, case.request.ours_for(version))
    return our_response(version, case.operation, case.response.ours_for(version))


def our_bytes(name: str, role: str, version: Version) -> bytes:
    return binary_codec.encode(messages.encode(our_message(name, role, version)))


def decode_ours(data: bytes, role: str) -> messages.RequestMessage | messages.ResponseMessage:
    tree = binary_codec.decode(data)
    return messages.decode_request(tree) if role == "request" else messages.decode_response(tree)


def side(name: str, role: str) -> Side:
    return CASES[name].request if role == "request" else CASES[name].response


# -- the tests ---------------------------------------------------------------------------------------------------

EACH_OPERATION = pytest.mark.parametrize("name", OPERATIONS)
EACH_ROLE = pytest.mark.parametrize("role", ["request", "response"])
EACH_VERSION = pytest.mark.parametrize("version", VERSIONS)


def payload_of(message: messages.RequestMessage | messages.ResponseMessage) -> Any:
    item = message.batch_item[0]
    return (
        item.request_payload if isinstance(item, S.RequestBatchItem | S.RequestBatchItemV1) else item.response_payload
    )


@EACH_OPERATION
@EACH_ROLE
@EACH_VERSION
def test_pykmip_encoding_decodes_to_our_typed_message(name: str, role: str, version: Version) -> None:
    decoded = decode_ours(pykmip_bytes(name, role, version), role)

    assert decoded == our_message(name, role, version)
    assert type(payload_of(decoded)).__name__.endswith("V1") == (version[0] < 2)


@EACH_OPERATION
@EACH_ROLE
def test_pykmip_1_2_payload_translates_to_our_2_1_form(name: str, role: str) -> None:
    decoded = decode_ours(pykmip_bytes(name, role, V1_2), role)

    assert translate.to_v2(payload_of(decoded)) == side(name, role).ours(V1_2)


@EACH_OPERATION
@EACH_ROLE
@EACH_VERSION
def test_our_encoding_decodes_in_pykmip_to_the_same_values(name: str, role: str, version: Version) -> None:
    data = our_bytes(name, role, version)
    expected = side(name, role).pykmip(version)

    if role == "request":
        message = pk.read_request(data, version)
        header, item = message.request_header, message.batch_items[0]
        assert header.maximum_response_size.value == 1_048_576
        assert item.unique_batch_item_id.value == BATCH_ITEM_ID
        payload = item.request_payload
    else:
        message = pk.read_response(data, version)
        header, item = message.response_header, message.batch_items[0]
        assert header.time_stamp.value == TIME
        assert item.result_status.value == pk_enums.ResultStatus.SUCCESS
        payload = item.response_payload
    assert pk.value_view(header.protocol_version) == version
    assert header.batch_count.value == 1
    assert item.operation.value == pk_enums.Operation(int(CASES[name].operation))
    assert type(payload) is type(expected)
    assert side(name, role).view(payload) == side(name, role).view(expected)


@EACH_OPERATION
@EACH_ROLE
@EACH_VERSION
def test_our_encoding_is_byte_identical_to_pykmip(name: str, role: str, version: Version) -> None:
    assert our_bytes(name, role, version).hex() == pykmip_bytes(name, role, version).hex()


# -- the same facts, spelled out for the two payloads every key-management client relies on ----------------------


@EACH_VERSION
def test_pykmip_create_request_asks_for_an_aes_256_encrypt_decrypt_key(version: Version) -> None:
    payload = payload_of(decode_ours(pykmip_bytes("create", "request", version), "request"))

    if version[0] < 2:
        assert isinstance(payload, S.CreateRequestV1)
        names = [a.attribute_name for a in payload.template_attribute.attribute]
        assert names == ["Cryptographic Algorithm", "Cryptographic Length", "Cryptographic Usage Mask", "Name"]
        payload = translate.to_v2(payload)
    assert isinstance(payload, S.CreateRequest)
    assert payload.object_type is ObjectType.SYMMETRIC_KEY
    attrs = payload.attributes
    assert attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM) is CryptographicAlgorithm.AES
    assert attrs.get(Tag.CRYPTOGRAPHIC_LENGTH) == 256
    assert CryptographicUsageMask(attrs.get(Tag.CRYPTOGRAPHIC_USAGE_MASK)) == ENCRYPT_DECRYPT
    assert attrs.get(Tag.NAME) == v2_name(NAME)


@EACH_VERSION
def test_pykmip_get_response_carries_the_raw_key(version: Version) -> None:
    payload = translate.to_v2(payload_of(decode_ours(pykmip_bytes("get", "response", version), "response")))

    assert isinstance(payload, S.GetResponse)
    assert isinstance(payload.managed_object, S.SymmetricKey)
    key_block = payload.managed_object.key_block
    assert key_block.key_format_type is KeyFormatType.RAW
    assert isinstance(key_block.key_value, S.KeyValue)
    assert key_block.key_value.key_material == KEY
    assert (key_block.cryptographic_algorithm, key_block.cryptographic_length) == (CryptographicAlgorithm.AES, 256)


# -- where PyKMIP 0.11 departs from KMIP 2.0 -------------------------------------------------------------------


def _extension_type_item(data: bytes) -> Item:
    return next(item for item in binary_codec.decode(data).walk() if item.tag == Tag.EXTENSION_TYPE)


def test_extension_type_differs_in_2_0() -> None:
    """KMIP 2.0 made Extension Type an Enumeration (of Item Type); PyKMIP still writes and expects an Integer."""
    theirs = pk.encode_response(
        V2_0,
        pk_enums.Operation.QUERY,
        pk.payloads.QueryResponsePayload(extension_information=[pk_extension_information()]),
        time_stamp=TIME,
    )
    ours = binary_codec.encode(
        messages.encode(
            our_response(V2_0, Operation.QUERY, S.QueryResponse(extension_information=[our_extension_information()]))
        )
    )

    assert _extension_type_item(theirs).type == ItemType.INTEGER
    assert _extension_type_item(ours).type == ItemType.ENUMERATION
    # We read PyKMIP's Integer as the enumeration it stands for...
    assert decode_ours(theirs, "response") == decode_ours(ours, "response")
    # ...but PyKMIP cannot read the 2.0 form.
    with pytest.raises(pk.exceptions.ReadValueError):
        pk.read_response(ours, V2_0)


def test_pykmip_2_0_locate_without_filters_omits_the_required_attributes() -> None:
    """PyKMIP writes no Attributes structure for an unfiltered 2.0 Locate, though 2.0 requires one (empty).

    Real clients must work unchanged, so our schema relaxes that field: the request decodes with no Attributes.
    """
    theirs = pk.encode_request(V2_0, pk_enums.Operation.LOCATE, pk.payloads.LocateRequestPayload())
    payload = [item for item in binary_codec.decode(theirs).walk() if item.tag == Tag.REQUEST_PAYLOAD]
    assert [item.value for item in payload] == [[]]

    assert payload_of(decode_ours(theirs, "request")) == S.LocateRequest()

    v1 = pk.encode_request(V1_2, pk_enums.Operation.LOCATE, pk.payloads.LocateRequestPayload())
    assert payload_of(decode_ours(v1, "request")) == S.LocateRequestV1()
