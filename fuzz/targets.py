"""Fuzz targets: each takes arbitrary bytes and checks the code under test handles them as documented. A target
returns normally when the input was accepted or refused the documented way (``KmipError`` from the codecs and the
mapper, an HTTP status below 500, ``CkError`` from the PKCS#11 marshalling); anything else — another exception, an
HTTP 5xx, a round trip that changes the tree — escapes as an exception, which is what the fuzzers report.

Shared by the coverage-guided runner (``fuzz.run_atheris``), the regression replay (``tests/fuzz``) and the
property-based harnesses (``tests/fuzz/test_properties.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from kms_backend.kmip import binary_codec, json_codec, messages, xml_codec
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.ttlv import DecodeLimits, Item

#: Small limits: the fuzzers look for crashes and hangs, not for how much memory a legal 16 MiB message takes.
LIMITS = DecodeLimits(max_message_size=64 * 1024, max_depth=32, max_items=4096, max_value_size=16 * 1024)


class FuzzFinding(AssertionError):
    """An input the code under test did not handle as documented."""


def _roundtrip(tree: Item, encode: Callable[[Item], Any], decode: Callable[[Any], Item], name: str) -> None:
    try:
        again = decode(encode(tree))
    except KmipError as exc:
        raise FuzzFinding(f"{name}: a decoded tree does not encode and decode again: {exc}") from exc
    if again != tree:
        raise FuzzFinding(f"{name}: decode(encode(tree)) differs from tree")


def binary(data: bytes) -> None:
    """Binary TTLV (KMIP 2.1 §9.1): refused with a KmipError, or decoded to a tree that round-trips."""
    try:
        tree = binary_codec.decode(data, LIMITS)
    except KmipError:
        return
    _roundtrip(tree, binary_codec.encode, lambda b: binary_codec.decode(b, LIMITS), "binary")


def json_ttlv(data: bytes) -> None:
    """JSON TTLV (Cosmian's encoding): refused with a KmipError, or decoded to a tree that round-trips."""
    try:
        tree = json_codec.decode(data, LIMITS)
    except KmipError:
        return
    _roundtrip(tree, json_codec.encode, lambda t: json_codec.decode(t, LIMITS), "json")


def xml(data: bytes) -> None:
    """OASIS XML TTLV: refused with a KmipError, or decoded to a tree that round-trips."""
    try:
        tree = xml_codec.decode(data, LIMITS)
    except KmipError:
        return
    _roundtrip(tree, xml_codec.encode, lambda t: xml_codec.decode(t, LIMITS), "xml")


def mapper(data: bytes) -> None:
    """The schema mapper on whatever binary TTLV decodes: a typed Request Message (that maps back to a tree) or a
    KmipError."""
    try:
        tree = binary_codec.decode(data, LIMITS)
        request = messages.decode_request(tree)
    except KmipError:
        return
    try:
        messages.encode(request)
    except KmipError as exc:
        raise FuzzFinding(f"mapper: a decoded request does not map back to a tree: {exc}") from exc


# -- the HTTP routes -------------------------------------------------------------------------------------------------


class _InternalErrors(logging.Handler):
    """The failures the server logs with their traceback ("internal error in Register"): an exception its code did not
    expect, answered as General Failure (an HTTP 500 for a bare operation, a failed batch item inside a 200)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@dataclass
class _HttpServer:
    """One server for every input: its ASGI app, its routes, its store and the event loop that runs the app (a
    new server or loop per input costs more than the request itself)."""

    app: Any
    routes: list[tuple[str, str]]
    store: Any
    loop: asyncio.AbstractEventLoop
    errors: _InternalErrors

    def forget_objects(self) -> None:
        """Delete what the last input created, so that each input meets an empty store: Locate scans every object,
        and a store that grows through a long pass slows every later input (and makes a finding depend on the
        inputs before it). A commit changes the store's change stamp, which drops the engine's cached decisions."""
        uids = list(self.store.all_uids())
        if uids:
            with self.store.transaction() as tx:
                for uid in uids:
                    tx.delete(uid)


@cache
def _http_server() -> _HttpServer:
    from kms_backend.server.config import load_config
    from kms_backend.server.serve import KeysteadServer
    from kms_backend.store.memory import MemoryStore

    store = MemoryStore()
    # threads 0: no thread pool, the app runs each request inline, so one step of the loop completes it.
    server = KeysteadServer(load_config({"database": "memory://", "threads": 0}), store=store)
    routes = [(r.method, r.path.replace("{id}", "x")) for r in server.app.router.routes]
    return _HttpServer(server.app, routes, store, asyncio.new_event_loop(), _InternalErrors())


_CONTENT_TYPES = (b"application/json", b"application/octet-stream", b"application/xml", b"text/plain", b"")


def http(data: bytes) -> None:
    """The HTTP API (every route, in-process over a memory store): byte 0 picks the route, byte 1 the content type,
    the rest is the body. Any answer below 500 is fine; a 5xx, an exception, or an internal error the server logged
    (an exception its code did not expect, answered as General Failure, even inside a 200) is a finding."""
    if len(data) < 2:
        return
    server = _http_server()
    method, path = server.routes[data[0] % len(server.routes)]
    content_type = _CONTENT_TYPES[data[1] % len(_CONTENT_TYPES)]
    body = data[2:]
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    server.errors.records.clear()
    logger = logging.getLogger("keystead")
    logger.addHandler(server.errors)  # for this input only: other code in the process (tests) keeps its logging
    try:
        server.loop.run_until_complete(server.app(scope, receive, send))
    finally:
        logger.removeHandler(server.errors)
        server.forget_objects()
    if server.errors.records:
        record = server.errors.records[0]
        assert record.exc_info is not None
        raise FuzzFinding(f"http: {method} {path}: {record.getMessage()}") from record.exc_info[1]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    if status >= 500:
        answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        raise FuzzFinding(f"http: {method} {path} answered {status}: {answer[:200]!r}")


# -- PKCS#11 argument marshalling ------------------------------------------------------------------------------------


def pkcs11_arguments(data: bytes) -> None:
    """What the C shim hands Python from a C_*Init or C_CreateObject call: a mechanism with a parameter structure
    whose pointers lead to arbitrary bytes, and a CK_ATTRIBUTE template of arbitrary types and values. Refused with
    a CkError, or accepted."""
    from provider.attributes import parse_template
    from provider.constants import MechanismFlag
    from provider.errors import CkError
    from provider.mechanisms import cipher_plan, lookup, signature_plan
    from provider.mechanisms._table import MECHANISMS, PARAMETER_LAYOUTS

    if len(data) < 4:
        return
    mechanisms = sorted(MECHANISMS)
    kind = mechanisms[int.from_bytes(data[:2], "big") % len(mechanisms)]
    flag = (MechanismFlag.ENCRYPT, MechanismFlag.DECRYPT, MechanismFlag.SIGN, MechanismFlag.VERIFY)[data[2] % 4]
    rest = data[4:]
    layouts = list(PARAMETER_LAYOUTS.get(int(kind), {}).values())
    parameter: Any = rest[: data[3]] or None
    if layouts:
        layout = layouts[data[3] % len(layouts)]
        raw = (rest + bytes(layout.size))[: layout.size]
        pool = rest[layout.size :]

        def deref(pointer: int, length: int) -> bytes:
            if pointer == 0:
                return b""
            return pool[: min(length, len(pool))]

        try:
            parameter = layout.read(raw, deref)
        except CkError:
            return
        rest = pool
    try:
        lookup(int(kind), flag)
        if flag in (MechanismFlag.ENCRYPT, MechanismFlag.DECRYPT):
            cipher_plan(kind, parameter)
        else:
            signature_plan(kind, parameter)
    except CkError:
        pass
    template: list[tuple[int, bytes]] = []
    view = memoryview(rest)
    while len(view) >= 5 and len(template) < 64:
        type_, length = struct.unpack(">IB", view[:5])
        template.append((type_ % 0x200 if type_ & 1 else type_, bytes(view[5 : 5 + length])))
        view = view[5 + length :]
    with contextlib.suppress(CkError):
        parse_template(template)


#: Every target by name (the corpus and regression folders use these names).
TARGETS: dict[str, Callable[[bytes], None]] = {
    "binary": binary,
    "json": json_ttlv,
    "xml": xml,
    "mapper": mapper,
    "http": http,
    "pkcs11": pkcs11_arguments,
}

__all__ = ["LIMITS", "TARGETS", "FuzzFinding"]
