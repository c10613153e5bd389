"""Typed Request/Response Messages (KMIP 2.1 §8, 1.4 §7), picking the 1.x or 2.x form from the Protocol Version."""

from __future__ import annotations

from . import _schema_data as S
from ._registry_data import ItemType, ResultReason, Tag
from .errors import DecodeError
from .mapper import attributes_to_tree, from_tree, to_tree
from .registry import ProtocolVersion
from .ttlv import Item

_PROTOCOL_VERSION = int(Tag.PROTOCOL_VERSION)
_MAJOR = int(Tag.PROTOCOL_VERSION_MAJOR)
_MINOR = int(Tag.PROTOCOL_VERSION_MINOR)

RequestMessage = S.RequestMessage | S.RequestMessageV1
ResponseMessage = S.ResponseMessage | S.ResponseMessageV1


def protocol_version(message: Item) -> ProtocolVersion:
    """The Protocol Version in the header of a Request or Response Message tree (DecodeError if absent)."""
    if message.type != ItemType.STRUCTURE or not isinstance(message.value, list) or not message.value:
        raise DecodeError("a KMIP message must be a non-empty Structure")
    header = message.value[0]
    if header.tag not in (Tag.REQUEST_HEADER, Tag.RESPONSE_HEADER) or not isinstance(header.value, list):
        raise DecodeError("the first item of a KMIP message must be its header")
    for item in header.value:
        if item.tag == _PROTOCOL_VERSION and isinstance(item.value, list):
            major = minor = None
            for part in item.value:  # the last of each wins, as a dict of the parts would keep it
                if part.tag == _MAJOR:
                    major = part.value
                elif part.tag == _MINOR:
                    minor = part.value
            # Both parts are REQUIRED Integers (KMIP 2.1 §7.1): no default for a missing Minor, no JSON booleans.
            if _version_number(major) and _version_number(minor):
                return major, minor  # type: ignore[return-value]
    raise DecodeError("the message header has no valid Protocol Version", ResultReason.INVALID_MESSAGE)


def _version_number(value: object) -> bool:
    return (value.__class__ is int or (isinstance(value, int) and not isinstance(value, bool))) and value >= 0


def decode_request(message: Item) -> RequestMessage:
    """A Request Message tree as typed objects: ``RequestMessageV1`` for 1.x, ``RequestMessage`` for 2.x."""
    if message.tag != Tag.REQUEST_MESSAGE:
        raise DecodeError("not a Request Message")
    major, _ = protocol_version(message)
    request: RequestMessage = (
        from_tree(message, S.RequestMessageV1)
        if major < 2
        else from_tree(_with_2x_attributes(message), S.RequestMessage)
    )
    count, items = request.request_header.batch_count, len(request.batch_item)
    if count != items:
        raise DecodeError(f"Batch Count {count} but {items} Batch Items", ResultReason.INVALID_MESSAGE)
    return request


#: 1.x Template-Attribute tags some 2.x clients still send, and the 2.x Attributes field each stands for.
_TEMPLATE_TAGS: dict[int, int] = {
    Tag.TEMPLATE_ATTRIBUTE: Tag.ATTRIBUTES,
    Tag.COMMON_TEMPLATE_ATTRIBUTE: Tag.COMMON_ATTRIBUTES,
    Tag.PRIVATE_KEY_TEMPLATE_ATTRIBUTE: Tag.PRIVATE_KEY_ATTRIBUTES,
    Tag.PUBLIC_KEY_TEMPLATE_ATTRIBUTE: Tag.PUBLIC_KEY_ATTRIBUTES,
}


def _with_2x_attributes(message: Item) -> Item:
    """A 2.x request whose payloads carry a 1.x Template-Attribute where 2.x has Attributes, read as those
    Attributes: PyKMIP 0.11 sends its Re-key attributes that way under KMIP 2.0. Messages without one are
    returned as they are."""
    items = message.value
    if not isinstance(items, list) or not any(
        isinstance(c.value, list) and any(p.tag == Tag.REQUEST_PAYLOAD and _has_template(p) for p in c.value)
        for c in items
    ):
        return message
    return Item(message.tag, message.type, [_batch_item_with_attributes(c) for c in items])


def _has_template(payload: Item) -> bool:
    return isinstance(payload.value, list) and any(c.tag in _TEMPLATE_TAGS for c in payload.value)


def _batch_item_with_attributes(item: Item) -> Item:
    if item.tag != Tag.BATCH_ITEM or not isinstance(item.value, list):
        return item
    children = [
        _payload_with_attributes(c) if c.tag == Tag.REQUEST_PAYLOAD and _has_template(c) else c for c in item.value
    ]
    return Item(item.tag, item.type, children)


def _payload_with_attributes(payload: Item) -> Item:
    from .translate import template_to_attributes

    children: list[Item] = []
    for child in payload.children():
        tag = _TEMPLATE_TAGS.get(child.tag)
        if tag is None:
            children.append(child)
            continue
        template = from_tree(Item(Tag.TEMPLATE_ATTRIBUTE, child.type, child.value), S.TemplateAttributeV1)
        children.append(attributes_to_tree(template_to_attributes(template), tag))
    return Item(payload.tag, payload.type, children)


def decode_response(message: Item) -> ResponseMessage:
    """A Response Message tree as typed objects (1.x or 2.x form by its Protocol Version)."""
    if message.tag != Tag.RESPONSE_MESSAGE:
        raise DecodeError("not a Response Message")
    major, _ = protocol_version(message)
    if major < 2:
        return from_tree(message, S.ResponseMessageV1)
    return from_tree(message, S.ResponseMessage)


def encode(message: RequestMessage | ResponseMessage) -> Item:
    """A typed message as a TTLV tree."""
    return to_tree(message)


__all__ = ["RequestMessage", "ResponseMessage", "decode_request", "decode_response", "encode", "protocol_version"]
