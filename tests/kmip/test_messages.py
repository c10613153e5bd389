"""Typed messages (``kmip.messages``): a 1.x Template-Attribute inside a 2.x request is read as 2.x Attributes
(PyKMIP 0.11 sends its Re-key that way under KMIP 2.0)."""

from __future__ import annotations

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import messages, translate
from kms_backend.kmip._registry_data import Operation, Tag
from kms_backend.kmip.mapper import to_tree
from kms_backend.kmip.ttlv import Item, ItemType


def _request(payload_children: list[Item], operation: Operation) -> Item:
    header = to_tree(
        S.RequestHeader(
            protocol_version=S.ProtocolVersion(protocol_version_major=2, protocol_version_minor=0), batch_count=1
        )
    )
    batch_item = Item(
        Tag.BATCH_ITEM,
        ItemType.STRUCTURE,
        [
            Item(Tag.OPERATION, ItemType.ENUMERATION, int(operation)),
            Item(Tag.REQUEST_PAYLOAD, ItemType.STRUCTURE, payload_children),
        ],
    )
    return Item(Tag.REQUEST_MESSAGE, ItemType.STRUCTURE, [header, batch_item])


def test_a_template_attribute_in_a_2x_rekey_is_read_as_attributes() -> None:
    template = S.TemplateAttributeV1(attribute=[translate.attribute_to_v1(Tag.ACTIVATION_DATE, 1_700_000_000)])
    children = [Item(Tag.UNIQUE_IDENTIFIER, ItemType.TEXT_STRING, "k"), to_tree(template)]
    decoded = messages.decode_request(_request(children, Operation.RE_KEY))
    payload = decoded.batch_item[0].request_payload
    assert isinstance(payload, S.ReKeyRequest)
    assert payload.unique_identifier == "k"
    assert payload.attributes is not None and payload.attributes.get(Tag.ACTIVATION_DATE) == 1_700_000_000


def test_an_empty_template_attribute_and_requests_without_one() -> None:
    children = [Item(Tag.UNIQUE_IDENTIFIER, ItemType.TEXT_STRING, "k"), to_tree(S.TemplateAttributeV1())]
    payload = messages.decode_request(_request(children, Operation.RE_KEY)).batch_item[0].request_payload
    assert payload.attributes is not None and len(payload.attributes) == 0
    plain = _request([Item(Tag.UNIQUE_IDENTIFIER, ItemType.TEXT_STRING, "k")], Operation.GET)
    assert messages.decode_request(plain).batch_item[0].request_payload == S.GetRequest(unique_identifier="k")
