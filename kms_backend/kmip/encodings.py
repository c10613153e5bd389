"""The three KMIP encodings as one table: how each decodes a whole message, encodes one, and finds the Protocol
Version of a request that failed to decode (binary TTLV only: KMIP 2.1 §9.1; JSON TTLV in the Cosmian dialect;
the OASIS XML encoding of the KMIP test cases)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import binary_codec, json_codec, sniff, xml_codec
from .registry import ProtocolVersion
from .ttlv import DecodeLimits, Item


@dataclass(frozen=True, slots=True)
class Encoding:
    """One KMIP message encoding."""

    name: str
    #: the media type of its responses
    content_type: str
    #: the media types of requests in this encoding (besides any ``…+suffix`` type)
    request_types: tuple[str, ...]
    decode: Callable[[bytes, DecodeLimits], Item]
    encode: Callable[[Item], bytes]
    #: the Protocol Version of a request that failed to decode, when it can be found
    version_of_unreadable: Callable[[bytes], ProtocolVersion | None]
    #: a media-type suffix that also means this encoding (RFC 6839 ``+json``, ``+xml``)
    suffix: str | None = None

    def accepts(self, content_type: str) -> bool:
        return content_type in self.request_types or (self.suffix is not None and content_type.endswith(self.suffix))


def _unknown(_data: bytes) -> ProtocolVersion | None:
    return None


BINARY = Encoding(
    "binary",
    "application/octet-stream",
    ("application/octet-stream", "application/x-kmip", "application/kmip", "application/ttlv"),
    binary_codec.decode,
    binary_codec.encode,
    sniff.binary_version,
)
JSON = Encoding(
    "json",
    "application/json",
    ("application/json",),
    json_codec.decode,
    lambda item: json_codec.encode(item).encode(),
    _unknown,
    suffix="+json",
)
XML = Encoding(
    "xml",
    "application/xml",
    ("application/xml", "text/xml"),
    xml_codec.decode,
    lambda item: xml_codec.encode(item, indent=False).encode(),
    _unknown,
)
ENCODINGS: tuple[Encoding, ...] = (BINARY, JSON, XML)


def for_content_type(content_type: str) -> Encoding | None:
    """The encoding a request's media type names, or None."""
    return next((encoding for encoding in ENCODINGS if encoding.accepts(content_type)), None)


__all__ = ["BINARY", "ENCODINGS", "JSON", "XML", "Encoding", "for_content_type"]
