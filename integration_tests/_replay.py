"""Replaying a product's KMIP requests from the vector files in ``kmip_vectors/`` over mutual TLS.

A vector file is one request as annotated hex (``kmip_vectors/write_vectors.py`` documents the format): the bytes
are sent exactly as written, with each ``{name:N}`` filled in with N bytes taken from an earlier response. The
response is decoded with our codec only to look into it; what the tests check is what a strict client of the
request's version would see (``undefined_tags``).
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
from pathlib import Path
from typing import Any

from kms_backend.kmip import binary_codec
from kms_backend.kmip._registry_data import ItemType, ResultStatus, Tag
from kms_backend.kmip.registry import ProtocolVersion, tag_info
from kms_backend.kmip.ttlv import Item

VECTORS = Path(__file__).resolve().parent / "kmip_vectors"
_SLOT = re.compile(r"\{(\w+):(\d+)\}")


def load_vector(path: Path, values: dict[str, bytes]) -> bytes:
    """The request bytes of one vector file, every ``{name:N}`` replaced by ``values[name]`` (N bytes)."""
    out = bytearray()
    for raw_line in path.read_text().splitlines():
        line = raw_line.split("#", 1)[0]
        for at, part in enumerate(_SLOT.split(line)):
            if at % 3 == 0:
                out += bytes.fromhex("".join(part.split()))
            elif at % 3 == 1:
                name = part
            else:
                value = values[name]
                assert len(value) == int(part), f"{path.name}: {name} is {len(value)} bytes, the vector says {part}"
                out += value
    return bytes(out)


def vectors(product: str) -> list[Path]:
    """The vector files of one product, in the order it sends them."""
    found = sorted((VECTORS / product).glob("*.hex"))
    assert found, f"no vectors under {VECTORS / product}"
    return found


def client_context(ca: Path, cert: Path, key: Path, *, check_hostname: bool) -> ssl.SSLContext:
    """A TLS client context presenting ``cert``/``key``; ``check_hostname`` as mongod (strict) or as libkmip
    (no verification at all: pg_tde and Percona's keyring load the CA but never ask OpenSSL to verify)."""
    context = ssl.create_default_context(cafile=str(ca))
    if not check_hostname:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(str(cert), str(key))
    return context


class Connection:
    """One TLS connection to the KMIP port: send a request, read one framed response."""

    def __init__(self, context: ssl.SSLContext, host: str, port: int, server_name: str) -> None:
        raw = socket.create_connection((host, port), timeout=30)
        self.sock = context.wrap_socket(raw, server_hostname=server_name)

    def exchange(self, request: bytes) -> bytes:
        self.sock.sendall(request)
        head = self._read(8)
        assert head[:3] == bytes.fromhex("42007B") and head[3] == ItemType.STRUCTURE, head.hex()
        (length,) = struct.unpack(">I", head[4:])
        return head + self._read(length)

    def _read(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("the KMIP server closed the connection")
            data += chunk
        return bytes(data)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Response:
    """A one-item Response Message, decoded for inspection."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.tree = binary_codec.decode(data)
        header = self.tree.value[0]
        assert isinstance(header.value, list)
        version = _child(header, Tag.PROTOCOL_VERSION)
        self.version: ProtocolVersion = (
            int(_child(version, Tag.PROTOCOL_VERSION_MAJOR).value),  # type: ignore[arg-type]
            int(_child(version, Tag.PROTOCOL_VERSION_MINOR).value),  # type: ignore[arg-type]
        )
        items = [i for i in self.tree.value if i.tag == Tag.BATCH_ITEM]  # type: ignore[union-attr]
        assert len(items) == 1, items
        self.item = items[0]
        self.status = int(_child(self.item, Tag.RESULT_STATUS).value)  # type: ignore[arg-type]
        reason = find(self.item, Tag.RESULT_REASON)
        self.reason = None if reason is None else int(reason.value)  # type: ignore[arg-type]
        message = find(self.item, Tag.RESULT_MESSAGE)
        self.message = None if message is None else str(message.value)
        self.payload = find(self.item, Tag.RESPONSE_PAYLOAD)

    @property
    def ok(self) -> bool:
        return self.status == ResultStatus.SUCCESS

    def value(self, tag: int) -> Any:
        """The value of the first item with ``tag`` anywhere in the payload."""
        assert self.payload is not None, (self.reason, self.message)
        item = find(self.payload, tag)
        assert item is not None, f"no 0x{tag:06X} in the response payload"
        return item.value

    def values(self, tag: int) -> list[Any]:
        return [i.value for i in walk_all(self.payload, tag)]


def _child(item: Item, tag: int) -> Item:
    assert isinstance(item.value, list)
    for child in item.value:
        if child.tag == tag:
            return child
    raise AssertionError(f"no 0x{tag:06X} in 0x{item.tag:06X}")


def walk(item: Item | None) -> list[Item]:
    """``item`` and every item inside it, depth first."""
    if item is None:
        return []
    out = [item]
    if item.type == ItemType.STRUCTURE and isinstance(item.value, list):
        for child in item.value:
            out.extend(walk(child))
    return out


def walk_all(item: Item | None, tag: int) -> list[Item]:
    return [i for i in walk(item) if i.tag == tag]


def find(item: Item | None, tag: int) -> Item | None:
    found = walk_all(item, tag)
    return found[0] if found else None


def undefined_tags(response: Response, version: ProtocolVersion) -> list[str]:
    """The tags in ``response`` that KMIP ``version`` did not define (a strict client of that version rejects
    them: pg_tde's libkmip, PyKMIP, Synology...)."""
    bad = []
    for item in walk(response.tree):
        info = tag_info(item.tag)
        if info is None or not info.defined_in(version):
            bad.append(info.name if info else f"0x{item.tag:06X}")
    return bad


class Replay:
    """A product's request sequence: each step sends one vector file, values captured from responses fill the
    later ``{name:N}`` slots."""

    def __init__(self, product: str) -> None:
        self.product = product
        self.files = {p.stem: p for p in vectors(product)}
        self.values: dict[str, bytes] = {}
        #: (file stem, request bytes, response) of every step, in order.
        self.sent: list[tuple[str, bytes, Response]] = []

    def request(self, stem: str) -> bytes:
        return load_vector(self.files[stem], self.values)

    def step(self, connection: Connection, stem: str) -> Response:
        """Send one vector; the response must be in the request's protocol version."""
        request = self.request(stem)
        response = Response(connection.exchange(request))
        requested = (request[32:36], request[48:52])  # Major and Minor values: the first items of every header
        assert response.version == tuple(int.from_bytes(v, "big") for v in requested), (stem, response.version)
        self.sent.append((stem, request, response))
        return response

    def keep(self, name: str, value: str | bytes) -> None:
        self.values[name] = value.encode() if isinstance(value, str) else value


__all__ = [
    "Connection",
    "Replay",
    "Response",
    "client_context",
    "find",
    "load_vector",
    "undefined_tags",
    "vectors",
    "walk",
    "walk_all",
]
