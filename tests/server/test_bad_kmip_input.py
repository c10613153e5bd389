"""Bad input is a KMIP error, never an internal one (issue 17): the same malformed requests on the KMIP TLS socket,
``POST /kmip`` (binary) and ``POST /kmip/2_1`` (JSON) get Invalid Message or Invalid Field (a 4xx for a bare JSON
operation), never General Failure or HTTP 500, and leave nothing behind."""

from __future__ import annotations

import json
import socket
import ssl
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kms_backend.engine import Engine, EngineConfig
from kms_backend.kmip import binary_codec, json_codec
from kms_backend.kmip._registry_data import ResultReason, ResultStatus, Tag
from kms_backend.kmip.ttlv import Item
from kms_backend.server import certs
from kms_backend.server.kmip_socket import KmipSocketServer
from kms_backend.store.memory import MemoryStore

from .conftest import Call

REFUSED = {ResultReason.INVALID_MESSAGE, ResultReason.INVALID_FIELD}
MINOR_4 = {"tag": "ProtocolVersionMinor", "type": "Integer", "value": 4}


def message(minor: dict[str, Any] | None, operation: Any, payload: list[Any], count: int = 1) -> dict[str, Any]:
    """A JSON TTLV 1.x Request Message with one batch item and a hand-made Protocol Version Minor."""
    version: list[Any] = [{"tag": "ProtocolVersionMajor", "type": "Integer", "value": 1}]
    if minor is not None:
        version.append(minor)
    header = {
        "tag": "RequestHeader",
        "value": [
            {"tag": "ProtocolVersion", "value": version},
            {"tag": "BatchCount", "type": "Integer", "value": count},
        ],
    }
    item = {
        "tag": "BatchItem",
        "value": [
            {"tag": "Operation", "type": "Enumeration", "value": operation},
            {"tag": "RequestPayload", "value": payload},
        ],
    }
    return {"tag": "RequestMessage", "value": [header, item]}


def create_of(object_type: int) -> list[Any]:
    return [
        {"tag": "ObjectType", "type": "Enumeration", "value": object_type},
        {
            "tag": "TemplateAttribute",
            "value": [
                {
                    "tag": "Attribute",
                    "value": [
                        {"tag": "AttributeName", "type": "TextString", "value": "Cryptographic Algorithm"},
                        {"tag": "AttributeValue", "type": "Enumeration", "value": 3},  # AES
                    ],
                }
            ],
        },
    ]


def register_aes(object_type: int | str, material: bytes) -> list[Any]:
    block = [
        {"tag": "KeyFormatType", "type": "Enumeration", "value": "Raw"},
        {"tag": "KeyValue", "value": [{"tag": "KeyMaterial", "type": "ByteString", "value": material.hex()}]},
        {"tag": "CryptographicAlgorithm", "type": "Enumeration", "value": "AES"},
        {"tag": "CryptographicLength", "type": "Integer", "value": len(material) * 8},
    ]
    return [
        {"tag": "ObjectType", "type": "Enumeration", "value": object_type},
        {"tag": "TemplateAttribute", "value": []},
        {"tag": "SymmetricKey", "value": [{"tag": "KeyBlock", "value": block}]},
    ]


DISCOVER: list[Any] = []
#: name -> the bad request (JSON TTLV); every one has a binary twin, the JSON-only ones are built by hand below.
CASES: dict[str, dict[str, Any]] = {
    "protocol version without minor": message(None, "DiscoverVersions", DISCOVER),
    "minor as an enumeration": message(
        {"tag": "ProtocolVersionMinor", "type": "Enumeration", "value": 4}, "DiscoverVersions", DISCOVER
    ),
    "minor as a long integer": message(
        {"tag": "ProtocolVersionMinor", "type": "LongInteger", "value": 4}, "DiscoverVersions", DISCOVER
    ),
    "minor as a boolean": message({"tag": "ProtocolVersionMinor", "type": "Integer", "value": True}, "Query", []),
    "negative operation": message(MINOR_4, -1, DISCOVER),
    "create object type 0": message(MINOR_4, "Create", create_of(0)),
    "create object type 0xFF02": message(MINOR_4, "Create", create_of(0xFF02)),
    "create object type 0x7FFFFFFF": message(MINOR_4, "Create", create_of(0x7FFFFFFF)),
    "register object type 0xFF02": message(MINOR_4, "Register", register_aes(0xFF02, bytes(32))),
    "register object type 0x7FFFFFFF": message(MINOR_4, "Register", register_aes(0x7FFFFFFF, bytes(32))),
    "batch count 2 for one item": message(MINOR_4, "DiscoverVersions", DISCOVER, count=2),
    "register a 17-byte AES key": message(MINOR_4, "Register", register_aes("SymmetricKey", bytes(17))),
}


def item(tag: int, item_type: int, value: bytes) -> bytes:
    return struct.pack(">IIi", (tag << 8) | item_type, len(value), 0)[:8] + value + bytes(-len(value) % 8)


def binary(name: str) -> bytes:
    """The binary twin of a case (JSON booleans and negative enumerations have none: their binary analogues are a
    Boolean item and an Enumeration of 0xFFFFFFFF, written by hand)."""
    if name == "minor as a boolean":
        version = item(Tag.PROTOCOL_VERSION_MAJOR, 0x02, struct.pack(">i", 1)) + item(
            Tag.PROTOCOL_VERSION_MINOR, 0x06, struct.pack(">q", 1)
        )
        return _wrap(version, struct.pack(">I", 0x1E))
    if name == "negative operation":
        version = item(Tag.PROTOCOL_VERSION_MAJOR, 0x02, struct.pack(">i", 1)) + item(
            Tag.PROTOCOL_VERSION_MINOR, 0x02, struct.pack(">i", 4)
        )
        return _wrap(version, struct.pack(">i", -1))
    return binary_codec.encode(json_codec.decode(json.dumps(CASES[name])))


def _wrap(version: bytes, operation: bytes) -> bytes:
    header = item(Tag.PROTOCOL_VERSION, 0x01, version) + item(Tag.BATCH_COUNT, 0x02, struct.pack(">i", 1))
    batch = item(Tag.OPERATION, 0x05, operation) + item(Tag.REQUEST_PAYLOAD, 0x01, b"")
    body = item(Tag.REQUEST_HEADER, 0x01, header) + item(Tag.BATCH_ITEM, 0x01, batch)
    return item(Tag.REQUEST_MESSAGE, 0x01, body)


def failure(response: Item) -> tuple[int, int]:
    """(Result Status, Result Reason) of a one-item Response Message tree."""
    (batch_item,) = [i for i in response.value if i.tag == Tag.BATCH_ITEM]  # type: ignore[union-attr]
    fields = {child.tag: child.value for child in batch_item.value}  # type: ignore[union-attr]
    return int(fields[Tag.RESULT_STATUS]), int(fields.get(Tag.RESULT_REASON, -1))


@pytest.mark.parametrize("name", sorted(CASES))
def test_http_json(call: Call, name: str) -> None:
    answer = call("POST", "/kmip/2_1", json=CASES[name])
    assert answer.status_code < 500, answer.text
    if answer.status_code == 200:
        assert failure(json_codec.decode(answer.text)) in {(ResultStatus.OPERATION_FAILED, r) for r in REFUSED}
    located = call("POST", "/kmip/2_1", json={"tag": "Locate", "value": []}).json()["value"]
    assert [v for v in located if v["tag"] == "UniqueIdentifier"] == []  # nothing stored


def refused(name: str) -> set[tuple[int, int]]:
    """The acceptable (Result Status, Result Reason) of a case in binary. Binary enumerations are unsigned: the
    binary "negative" Operation is 0xFFFFFFFF, in the vendor extension range, hence Operation Not Supported."""
    reasons = {ResultReason.OPERATION_NOT_SUPPORTED} if name == "negative operation" else REFUSED
    return {(ResultStatus.OPERATION_FAILED, reason) for reason in reasons}


@pytest.mark.parametrize("name", sorted(CASES))
def test_http_binary(call: Call, name: str) -> None:
    answer = call("POST", "/kmip", content=binary(name), headers={"content-type": "application/octet-stream"})
    assert answer.status_code == 200, answer.text
    assert failure(binary_codec.decode(answer.content)) in refused(name)


@pytest.fixture(scope="module")
def socket_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KmipSocketServer, Path]]:
    pki = tmp_path_factory.mktemp("pki")
    certs.init(pki)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    context.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
    context.verify_mode = ssl.CERT_REQUIRED
    executor = ThreadPoolExecutor(max_workers=2)
    kmip = KmipSocketServer(
        Engine(MemoryStore(), EngineConfig()),
        context,
        host="127.0.0.1",
        port=0,
        max_message_size=1 << 20,
        idle_timeout=10.0,
        max_connections=4,
        executor=executor,
    )
    kmip.start()
    yield kmip, pki
    kmip.stop()
    executor.shutdown(wait=True)


def test_kmip_socket(socket_server: tuple[KmipSocketServer, Path]) -> None:
    """Every case on one connection: each gets its KMIP error and the connection stays usable."""
    server, pki = socket_server
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        for name in sorted(CASES):
            conn.sendall(binary(name))
            head = _read(conn, 8)
            answer = binary_codec.decode(head + _read(conn, struct.unpack(">I", head[4:])[0]))
            assert failure(answer) in refused(name), name


def _read(conn: ssl.SSLSocket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data
