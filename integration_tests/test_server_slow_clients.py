"""Slow and idle clients against a real ``keystead serve`` over HTTPS and the KMIP TLS port: each limit closes the
connection (idle after the handshake, a request head or body that stops half-way, a KMIP message that stops
half-way), the per-address cap refuses the extra connection, and SIGTERM does not wait for an idle keep-alive client.

Limits are set short here (1-2 s) so that the tests run quickly; what is checked is that the server hangs up well
before the old behaviour (never), not a tight timing."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _keystead_server import KeysteadProcess, read_message, request_message

#: Generous bound for "the server closed it": the limits are 1-2 s, the old behaviour was never.
CLOSED_WITHIN = 8.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    proc = KeysteadProcess.start(
        tmp_path_factory.mktemp("slow"),
        "--api-tokens", "secret-token:admin",
        "--http-idle-timeout", "1.5",
        "--http-header-timeout", "1.5",
        "--http-body-timeout", "1.5",
        "--kmip-message-timeout", "1.5",
        "--kmip-idle-timeout", "3",
        "--max-connections-per-client", "6",
    )  # fmt: skip
    yield proc
    proc.stop()


def _context(server: KeysteadProcess, with_cert: bool = False) -> ssl.SSLContext:
    assert server.certs is not None
    context = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    if with_cert:
        context.load_cert_chain(str(server.certs / "client.pem"), str(server.certs / "client.key"))
    return context


def _https(server: KeysteadProcess, with_cert: bool = False) -> ssl.SSLSocket:
    port = int(server.http_url.rsplit(":", 1)[1])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return _context(server, with_cert).wrap_socket(raw, server_hostname="127.0.0.1")


def _kmip(server: KeysteadProcess) -> ssl.SSLSocket:
    assert server.kmip_port is not None
    raw = socket.create_connection(("127.0.0.1", server.kmip_port), timeout=10)
    return _context(server, with_cert=True).wrap_socket(raw, server_hostname="127.0.0.1")


def _seconds_until_closed(sock: ssl.SSLSocket) -> tuple[float, bytes]:
    """Read until the server closes; how long that took and what it sent."""
    start = time.monotonic()
    sock.settimeout(CLOSED_WITHIN + 5)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        pass
    return time.monotonic() - start, received


def test_idle_after_handshake_is_closed(server: KeysteadProcess) -> None:
    with _https(server) as sock:
        elapsed, received = _seconds_until_closed(sock)
    assert elapsed < CLOSED_WITHIN
    assert received == b""


def test_half_sent_head_gets_408(server: KeysteadProcess) -> None:
    with _https(server) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        elapsed, received = _seconds_until_closed(sock)
    assert elapsed < CLOSED_WITHIN
    assert received.startswith(b"HTTP/1.1 408 ")


def test_half_sent_body_gets_408(server: KeysteadProcess) -> None:
    with _https(server) as sock:
        sock.sendall(
            b"POST /kmip/2_1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret-token\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        elapsed, received = _seconds_until_closed(sock)
    assert elapsed < CLOSED_WITHIN
    assert received.startswith(b"HTTP/1.1 408 ")


def test_huge_head_gets_431(server: KeysteadProcess) -> None:
    with _https(server) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(200):
                sock.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            pass
        _, received = _seconds_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 431 ")


def test_keep_alive_connection_serves_then_idles_out(server: KeysteadProcess) -> None:
    with _https(server) as sock:
        for _ in range(3):
            sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
            response.begin()
            assert response.status == 200
            response.read()
            time.sleep(0.5)  # shorter than the idle limit: the connection stays usable
        elapsed, _ = _seconds_until_closed(sock)
    assert elapsed < CLOSED_WITHIN


def test_connections_per_address_are_capped(server: KeysteadProcess) -> None:
    held = [_https(server) for _ in range(6)]
    try:
        extra = _https(server)
        # The handshake completes; the server then resets the connection without reading from it.
        elapsed, received = _seconds_until_closed(extra)
        extra.close()
        assert received == b""
        assert elapsed < 1.0  # refused at once, not idled out
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.5)
    with _https(server) as sock:  # the slots are free again
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        _, received = _seconds_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200 ")


def test_kmip_half_sent_message_is_dropped_before_the_idle_limit(server: KeysteadProcess) -> None:
    with _kmip(server) as sock:
        # A Request Message header announcing 200 bytes, then nothing more.
        sock.sendall(bytes.fromhex("42007801") + struct.pack(">I", 200) + b"\x42\x00\x77")
        elapsed, received = _seconds_until_closed(sock)
    assert elapsed < 3.0 - 0.2  # the message limit (1.5 s), not the idle limit (3 s)
    assert received == b""


def test_kmip_idle_connection_is_closed(server: KeysteadProcess) -> None:
    with _kmip(server) as sock:
        elapsed, _ = _seconds_until_closed(sock)
    assert 2.0 < elapsed < CLOSED_WITHIN


def test_sigterm_does_not_wait_for_an_idle_keep_alive_client(tmp_path: Path) -> None:
    proc = KeysteadProcess.start(tmp_path)  # default limits: a 75 s idle keep-alive
    try:
        with _https(proc, with_cert=True) as sock:  # client certificates are required there
            sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
            response.begin()
            assert response.status == 200
            response.read()
            start = time.monotonic()
            assert proc.stop() == 0
            elapsed = time.monotonic() - start
    finally:
        proc.stop()
    assert elapsed < 10.0  # was 30 s (the TLS close_notify wait); about half a second without a client


def test_rate_limit_on_https_and_on_the_kmip_port(tmp_path: Path) -> None:
    from kms_backend.kmip import binary_codec, json_codec

    proc = KeysteadProcess.start(tmp_path, "--rate-limit", "1", "--rate-limit-burst", "4")
    try:
        with _https(proc, with_cert=True) as sock:
            statuses = []
            for _ in range(8):
                sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
                response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
                response.begin()
                response.read()
                statuses.append(response.status)
        assert statuses[:4] == [200] * 4
        assert statuses.count(429) >= 3
        query = request_message(("DiscoverVersions", []))
        message = binary_codec.encode(json_codec.decode_obj(query))
        reasons = []
        with _kmip(proc) as sock:
            for _ in range(8):
                sock.sendall(message)
                text = json.dumps(read_message(sock))
                reasons.append("Server_Limit_Exceeded" in text or "ServerLimitExceeded" in text)
        # The HTTP requests above used up the address's bucket too (one limit per client address).
        assert sum(reasons) >= 4
    finally:
        proc.stop()
