"""The event-loop KMIP socket in-process: scheduling between the loop and the thread pool, order of answers on one
connection, pipelined messages, idle connections (``kmip_socket``). Behaviour over the wire with real clients is
in ``integration_tests/test_server_kmip_tls.py``."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kms_backend.engine import Engine, EngineConfig
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import binary_codec, messages
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    ObjectType,
    Operation,
    QueryFunction,
    ResultStatus,
    Tag,
)
from kms_backend.kmip.schema import Attributes, Struct
from kms_backend.server import certs
from kms_backend.server._messages import OFFLOADED_OPERATIONS
from kms_backend.server.kmip_socket import KmipSocketServer, cheap_message
from kms_backend.store.memory import MemoryStore


def _message(*items: tuple[Operation, Struct]) -> bytes:
    request = S.RequestMessage(
        request_header=S.RequestHeader(
            protocol_version=S.ProtocolVersion(protocol_version_major=2, protocol_version_minor=1),
            batch_count=len(items),
        ),
        batch_item=[S.RequestBatchItem(operation=op, request_payload=payload) for op, payload in items],
    )
    return binary_codec.encode(messages.encode(request))


CREATE_AES = S.CreateRequest(
    object_type=ObjectType.SYMMETRIC_KEY,
    attributes=Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 256)]),
)
QUERY = S.QueryRequest(query_function=[QueryFunction.QUERY_OPERATIONS])
CREATE_PAIR = S.CreateKeyPairRequest(
    common_attributes=Attributes(
        [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA), (Tag.CRYPTOGRAPHIC_LENGTH, 2048)]
    )
)


def test_cheap_messages_are_told_apart_by_their_operations() -> None:
    assert cheap_message(_message((Operation.GET, S.GetRequest(unique_identifier="k"))))
    assert cheap_message(_message((Operation.CREATE, CREATE_AES)))
    assert not cheap_message(_message((Operation.CREATE_KEY_PAIR, CREATE_PAIR)))
    assert not cheap_message(_message((Operation.GET, S.GetRequest()), (Operation.CREATE_KEY_PAIR, CREATE_PAIR)))
    assert not cheap_message(b"\x42\x00\x78\x01" + bytes(70_000))  # too large to answer in the loop


def test_with_a_remote_database_only_reads_are_cheap() -> None:
    get = (Operation.GET, S.GetRequest(unique_identifier="k"))
    assert cheap_message(_message(get), reads_only=True)
    assert not cheap_message(_message((Operation.CREATE, CREATE_AES)), reads_only=True)  # a write: its round trips
    assert not cheap_message(_message(get, (Operation.CREATE, CREATE_AES)), reads_only=True)
    assert Operation.GET not in OFFLOADED_OPERATIONS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    certs.init(directory)
    return directory


@pytest.fixture
def server(pki: Path) -> Iterator[KmipSocketServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    context.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
    context.verify_mode = ssl.CERT_REQUIRED
    engine = Engine(MemoryStore(), EngineConfig())
    executor = ThreadPoolExecutor(max_workers=2)
    kmip = KmipSocketServer(
        engine,
        context,
        host="127.0.0.1",
        port=0,
        max_message_size=1 << 20,
        idle_timeout=1.0,
        max_connections=4,
        executor=executor,
    )
    kmip.start()
    yield kmip
    kmip.stop()
    executor.shutdown(wait=True)


def _connect(server: KmipSocketServer, pki: Path) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return context.wrap_socket(raw, server_hostname="localhost")


def _read(conn: ssl.SSLSocket) -> messages.ResponseMessage | None:
    header = b""
    while len(header) < 8:
        chunk = conn.recv(8 - len(header))
        if not chunk:
            return None
        header += chunk
    body = b""
    size = struct.unpack(">I", header[4:])[0]
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            return None
        body += chunk
    return messages.decode_response(binary_codec.decode(header + body))


def test_pipelined_messages_are_answered_in_order_across_loop_and_pool(server: KmipSocketServer, pki: Path) -> None:
    """An offloaded request (a key pair) sent before cheap ones is still answered first."""
    with _connect(server, pki) as conn:
        conn.sendall(
            _message((Operation.CREATE_KEY_PAIR, CREATE_PAIR))
            + _message((Operation.CREATE, CREATE_AES))
            + _message((Operation.QUERY, QUERY))
        )
        answers = [_read(conn) for _ in range(3)]
    operations = [a.batch_item[0].operation for a in answers if a is not None]
    assert operations == [Operation.CREATE_KEY_PAIR, Operation.CREATE, Operation.QUERY]
    assert all(a is not None and a.batch_item[0].result_status == ResultStatus.SUCCESS for a in answers)


def test_a_slow_request_delays_only_its_own_connection(server: KmipSocketServer, pki: Path) -> None:
    """While a connection's offloaded request waits (here a handler that sleeps, releasing the GIL as a database
    round trip does), the event loop answers other connections: an Encrypt on a lane needs no store transaction,
    so not even the memory store's lock, which the sleeping request holds, delays it."""
    engine = server.engine
    with _connect(server, pki) as conn:
        conn.sendall(_message((Operation.CREATE, CREATE_AES)))
        created = _read(conn)
        assert created is not None
        uid = created.batch_item[0].response_payload.unique_identifier
        conn.sendall(_message((Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))))
        assert _read(conn) is not None
    encrypt = _message((Operation.ENCRYPT, S.EncryptRequest(unique_identifier=uid, data=b"x" * 32)))
    create_pair = engine.routes[Operation.CREATE_KEY_PAIR]

    released = threading.Event()

    def slow_create_pair(ctx: Any, request: Any) -> Any:
        released.wait(10)  # blocked, GIL released, until the other connection has had its answers
        return create_pair(ctx, request)

    engine.routes = {**engine.routes, Operation.CREATE_KEY_PAIR: slow_create_pair}
    with _connect(server, pki) as slow, _connect(server, pki) as fast:
        fast.sendall(encrypt)
        assert _read(fast) is not None  # the handler decides and opens the lane
        slow.sendall(_message((Operation.CREATE_KEY_PAIR, CREATE_PAIR)))
        try:
            time.sleep(0.05)  # the key pair is on the thread pool, waiting in its transaction
            for _ in range(5):  # answered while the key pair still waits (a blocked loop would hold them back)
                fast.sendall(encrypt)
                answer = _read(fast)
                assert answer is not None and answer.batch_item[0].result_status == ResultStatus.SUCCESS
            slow.setblocking(False)
            with pytest.raises(ssl.SSLWantReadError):
                slow.recv(1)  # and the key pair has not been answered: it was still waiting
        finally:
            released.set()
        slow.settimeout(30)
        answer = _read(slow)
        assert answer is not None and answer.batch_item[0].result_status == ResultStatus.SUCCESS


def test_an_idle_connection_is_closed(server: KmipSocketServer, pki: Path) -> None:
    with _connect(server, pki) as conn:
        conn.settimeout(10)
        assert conn.recv(1) == b""  # closed by the server after its 1-second idle timeout


def test_connections_beyond_the_cap_are_refused(server: KmipSocketServer, pki: Path) -> None:
    opened = [_connect(server, pki) for _ in range(4)]
    try:
        for conn in opened:
            conn.sendall(_message((Operation.QUERY, QUERY)))
            assert _read(conn) is not None
        extra = _connect(server, pki)
        extra.settimeout(10)
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            extra.sendall(_message((Operation.QUERY, QUERY)))
            if _read(extra) is None:
                raise ConnectionError("closed")
        extra.close()
    finally:
        for conn in opened:
            conn.close()
