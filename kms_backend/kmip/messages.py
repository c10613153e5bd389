"""Typed Request/Response Messages (KMIP 2.1 §8, 1.4 §7), picking the 1.x or 2.x form from the Protocol Version."""

from __future__ import annotations

from . import _schema_data as S
from ._registry_data import ItemType, ResultReason, Tag
from .errors import DecodeError
from .mapper import from_tree, to_tree
from .registry import ProtocolVersion
from .ttlv import Item

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
        if item.tag == Tag.PROTOCOL_VERSION and isinstance(item.value, list):
            numbers = {c.tag: c.value for c in item.value}
            major = numbers.get(Tag.PROTOCOL_VERSION_MAJOR)
            minor = numbers.get(Tag.PROTOCOL_VERSION_MINOR, 0)
            if isinstance(major, int) and isinstance(minor, int) and not isinstance(major, bool):
                return major, minor
    raise DecodeError("the message header has no valid Protocol Version", ResultReason.INVALID_MESSAGE)


def decode_request(message: Item) -> RequestMessage:
    """A Request Message tree as typed objects: ``RequestMessageV1`` for 1.x, ``RequestMessage`` for 2.x."""
    if message.tag != Tag.REQUEST_MESSAGE:
        raise DecodeError("not a Request Message")
    major, _ = protocol_version(message)
    if major < 2:
        return from_tree(message, S.RequestMessageV1)
    return from_tree(message, S.RequestMessage)


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
