"""Looking into a message before (or instead of) decoding it: the Protocol Version of a binary request that failed
to decode, and the operations a binary request or the root tag of a JSON body names.

Transports use these as hints only (which version to answer an unreadable request in; whether a request is cheap
enough to answer on an event loop): the message is decoded properly afterwards, whatever they find. Framing itself is
``binary_codec.read_message_length``.
"""

from __future__ import annotations

import re
import struct

from ._registry_data import Tag
from .registry import ProtocolVersion

_WORD = struct.Struct(">II")
_INT = struct.Struct(">i")
# RequestMessage / RequestHeader / ProtocolVersion headers, then Major and Minor (KMIP 2.1 §9.1: 8-byte headers,
# 4-byte Integers padded to 8). Every client puts the Protocol Version first in the header.
_MAJOR_AT, _MINOR_AT = 24, 40
_MAJOR_WORD = (int(Tag.PROTOCOL_VERSION_MAJOR) << 8) | 0x02
_MINOR_WORD = (int(Tag.PROTOCOL_VERSION_MINOR) << 8) | 0x02
# An Operation item: tag, type Enumeration, length 4 (KMIP 2.1 §9.1.1), then the value and 4 bytes of padding.
_OPERATION_HEADER = struct.pack(">II", (int(Tag.OPERATION) << 8) | 0x05, 4)
_JSON_ROOT_TAG = re.compile(rb'\s*\{\s*"tag"\s*:\s*"([A-Za-z_]{1,40})"')


def binary_version(data: bytes) -> ProtocolVersion | None:
    """The Protocol Version at its usual place in a binary request that failed to decode, if it is there.

    Answering in the client's version matters: a KMIP 1.x client cannot read a 2.x error response.
    """
    if len(data) < _MINOR_AT + 16:
        return None
    word, length = _WORD.unpack_from(data, _MAJOR_AT)
    word2, length2 = _WORD.unpack_from(data, _MINOR_AT)
    if word != _MAJOR_WORD or word2 != _MINOR_WORD or length != 4 or length2 != 4:
        return None
    return _INT.unpack_from(data, _MAJOR_AT + 8)[0], _INT.unpack_from(data, _MINOR_AT + 8)[0]


def binary_operations(data: bytes) -> list[int] | None:
    """The Operation values a binary request names, in order; None when an Operation item is cut off."""
    found: list[int] = []
    at = data.find(_OPERATION_HEADER)
    while at >= 0:
        if at + 12 > len(data):
            return None
        found.append(_INT.unpack_from(data, at + 8)[0])
        at = data.find(_OPERATION_HEADER, at + 16)
    return found


def json_root_tag(body: bytes) -> str | None:
    """The tag of a JSON TTLV body's root object when it leads the body (within its first 128 bytes)."""
    match = _JSON_ROOT_TAG.match(body, 0, 128)
    return match.group(1).decode("ascii") if match is not None else None


__all__ = ["binary_operations", "binary_version", "json_root_tag"]
