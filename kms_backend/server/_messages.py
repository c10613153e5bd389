"""Whole KMIP messages in one encoding in, the response in the same encoding out: shared by ``POST /kmip`` and
the KMIP TLS socket, so both answer undecodable input the same way (a one-item Invalid Message response)."""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..engine.engine import Engine
from ..kmip import binary_codec, json_codec, xml_codec
from ..kmip._registry_data import Operation, Tag
from ..kmip.errors import KmipError
from ..kmip.mapper import to_tree
from ..kmip.registry import SUPPORTED_VERSIONS, ProtocolVersion
from ..kmip.ttlv import DecodeLimits, Item

#: Operations that may compute or read for long (asymmetric key generation, certificates, key derivation with many
#: iterations, PKCS#12 decryption on Register/Import, a Locate over many objects): never answered on an event
#: loop. With a local store every other small request is: SQLite serialises transactions anyway, so a write on the
#: loop holds up nobody who could have gone ahead, and skipping the hop to the thread pool saves a fifth of the
#: server's time per request.
OFFLOADED_OPERATIONS = frozenset(
    {
        Operation.CREATE_KEY_PAIR,
        Operation.RE_KEY_KEY_PAIR,
        Operation.CERTIFY,
        Operation.RE_CERTIFY,
        Operation.DERIVE_KEY,
        Operation.VALIDATE,
        Operation.LOCATE,
        Operation.REGISTER,
        Operation.IMPORT,
    }
)
#: Larger requests go to the thread pool whatever their operation.
INLINE_MAX_BYTES = 64 * 1024

_WORD = struct.Struct(">II")
_INT = struct.Struct(">i")
# RequestMessage / RequestHeader / ProtocolVersion headers, then Major and Minor (KMIP 2.1 §9.1: 8-byte headers,
# 4-byte Integers padded to 8). Every client puts the Protocol Version first in the header.
_MAJOR_AT, _MINOR_AT = 24, 40
_MAJOR_WORD = (int(Tag.PROTOCOL_VERSION_MAJOR) << 8) | 0x02
_MINOR_WORD = (int(Tag.PROTOCOL_VERSION_MINOR) << 8) | 0x02
DEFAULT_VERSION: ProtocolVersion = (2, 1)


def answer_version(version: ProtocolVersion | None) -> ProtocolVersion:
    """The version to answer an unreadable request in: the highest we speak not newer than the request's."""
    if version is None:
        return DEFAULT_VERSION
    return next((v for v in SUPPORTED_VERSIONS if v <= version), SUPPORTED_VERSIONS[-1])


def guess_binary_version(data: bytes) -> ProtocolVersion | None:
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


def error_tree(engine: Engine, exc: KmipError, version: ProtocolVersion | None = None) -> Item:
    """A one-item failure Response Message tree for a request that could not be decoded."""
    return to_tree(engine.error_response(answer_version(version), exc))


Observer = Callable[[Item], None]


def process_binary(engine: Engine, data: bytes, user: str, limits: DecodeLimits) -> tuple[bytes, Item]:
    """Binary TTLV request in, binary TTLV response out (and the response tree, for metrics)."""
    try:
        request = binary_codec.decode(data, limits)
    except KmipError as exc:
        response = error_tree(engine, exc, guess_binary_version(data))
    else:
        response = engine.process_tree(request, user)
    return binary_codec.encode(response), response


def process_json(engine: Engine, data: bytes, user: str, limits: DecodeLimits) -> tuple[bytes, Item]:
    """JSON TTLV Request Message in, JSON TTLV Response Message out (Cosmian answers bad JSON this way too)."""
    try:
        request = json_codec.decode(data, limits)
    except KmipError as exc:
        response = error_tree(engine, exc)
    else:
        response = engine.process_tree(request, user)
    return json_codec.encode(response).encode(), response


def process_xml(engine: Engine, data: bytes, user: str, limits: DecodeLimits) -> tuple[bytes, Item]:
    """OASIS XML Request Message in, XML Response Message out."""
    try:
        request = xml_codec.decode(data, limits)
    except KmipError as exc:
        response = error_tree(engine, exc)
    else:
        response = engine.process_tree(request, user)
    return xml_codec.encode(response, indent=False).encode(), response


__all__ = [
    "DEFAULT_VERSION",
    "INLINE_MAX_BYTES",
    "OFFLOADED_OPERATIONS",
    "answer_version",
    "error_tree",
    "guess_binary_version",
    "process_binary",
    "process_json",
    "process_xml",
]
