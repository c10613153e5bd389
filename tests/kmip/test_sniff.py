"""Hints read from a message before decoding it (``kmip.sniff``) and the encoding table (``kmip.encodings``)."""

from __future__ import annotations

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import binary_codec, encodings, json_codec, messages, sniff
from kms_backend.kmip._registry_data import Operation
from kms_backend.kmip.mapper import to_tree
from kms_backend.kmip.ttlv import DEFAULT_LIMITS


def _message(version: tuple[int, int], *operations: Operation) -> bytes:
    message = S.RequestMessage(
        request_header=S.RequestHeader(
            protocol_version=S.ProtocolVersion(protocol_version_major=version[0], protocol_version_minor=version[1]),
            batch_count=len(operations),
        ),
        batch_item=[
            S.RequestBatchItem(operation=op, request_payload=S.GetRequest(unique_identifier="k")) for op in operations
        ],
    )
    return binary_codec.encode(messages.encode(message))


def test_binary_version_and_operations() -> None:
    data = _message((1, 2), Operation.GET, Operation.LOCATE)
    assert sniff.binary_version(data) == (1, 2)
    assert sniff.binary_operations(data) == [Operation.GET, Operation.LOCATE]
    assert sniff.binary_version(data[:40]) is None  # too short to hold the version
    assert sniff.binary_version(b"\x00" * 64) is None
    cut = data.rindex(int(Operation.LOCATE).to_bytes(4, "big"))
    assert sniff.binary_operations(data[:cut]) is None  # the last Operation item is cut off


def test_json_root_tag() -> None:
    body = json_codec.encode(to_tree(S.GetRequest(unique_identifier="k"), 0x420079)).replace(
        '"RequestPayload"', '"Get"', 1
    )
    assert sniff.json_root_tag(body.encode()) == "Get"
    assert sniff.json_root_tag(b'  {"tag" : "RequestMessage", "value": []}') == "RequestMessage"
    assert sniff.json_root_tag(b"[1, 2]") is None


def test_encodings_by_media_type() -> None:
    assert encodings.for_content_type("application/octet-stream") is encodings.BINARY
    assert encodings.for_content_type("application/ttlv") is encodings.BINARY
    assert encodings.for_content_type("application/json") is encodings.JSON
    assert encodings.for_content_type("application/kmip+json") is encodings.JSON
    assert encodings.for_content_type("text/xml") is encodings.XML
    assert encodings.for_content_type("text/plain") is None
    data = _message((2, 1), Operation.GET)
    for encoding in encodings.ENCODINGS:
        tree = binary_codec.decode(data)
        assert encoding.decode(encoding.encode(tree), DEFAULT_LIMITS) == tree
    assert encodings.BINARY.version_of_unreadable(data) == (2, 1)
    assert encodings.JSON.version_of_unreadable(b"{") is None
