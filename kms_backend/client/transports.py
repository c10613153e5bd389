"""How a Request Message reaches one server: JSON TTLV on ``POST /kmip/2_1``, binary TTLV on ``POST /kmip``, or
binary TTLV on the mutual-TLS KMIP port (KMIP 2.1 §9.1; the port's framing is the TTLV length itself).

Each transport keeps idle connections open between calls (keep-alive) in a small thread-safe pool, and reports a
broken exchange as ``Unreachable`` with ``delivered`` telling the caller whether the server may have received the
request: only undelivered requests are retried or sent to another server (``client.KmsClient``), so a Create is
never run twice. HTTP uses the standard library's ``http.client`` rather than httpx: it costs the client a
fraction of httpx's CPU per request, which is what bounds a busy single-threaded caller such as the PKCS#11
provider.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from ..kmip import binary_codec, json_codec
from ..kmip.errors import KmipError
from ..kmip.ttlv import DEFAULT_LIMITS, DecodeLimits, Item
from .config import ClientConfig
from .errors import KmsHttpError, KmsProtocolError

#: Idle connections kept per server; more concurrent callers open (and then drop) extra ones.
MAX_IDLE = 8
#: Responses may be larger than requests (an exported certificate chain, a big decrypted chunk).
RESPONSE_LIMITS = DecodeLimits(max_message_size=DEFAULT_LIMITS.max_message_size * 4, max_value_size=64 << 20)


class Unreachable(Exception):
    """The exchange with one server failed below KMIP. ``delivered`` is False only when the server cannot have
    received the request (connection refused, TLS handshake failed, a kept connection the server had closed)."""

    def __init__(self, url: str, message: str, *, delivered: bool) -> None:
        super().__init__(f"{url}: {message}")
        self.delivered = delivered


class Transport(Protocol):
    """One server, one encoding."""

    url: str

    def exchange(self, request: Item, token: str | None = None) -> Item:
        """Send a Request Message tree, return the Response Message tree (``Unreachable``, ``KmsHttpError``);
        ``token``, when given, is the bearer token for this request instead of the configured one."""
        ...

    def http(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """An HTTP request to a non-KMIP route (``/access/…``, ``/health``): status and body."""
        ...

    def close(self) -> None:
        """Close every kept connection."""
        ...


def ssl_context(config: ClientConfig) -> ssl.SSLContext:
    """The TLS context for ``https://`` and ``kmip://``: the configured CA (else the system's), the client
    certificate for mutual TLS, no verification only when asked for."""
    context = ssl.create_default_context(cafile=config.tls_ca) if config.tls_ca else ssl.create_default_context()
    if config.accept_invalid_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.tls_cert and config.tls_key:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


C = TypeVar("C")


class _Pool(Generic[C]):
    """Idle connections, newest first (the one most likely still open)."""

    def __init__(self, close: Callable[[C], None]) -> None:
        self._idle: list[C] = []
        self._lock = threading.Lock()
        self._close = close

    def take(self) -> C | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def give(self, connection: C) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(connection)
                return
        self._close(connection)

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            self._close(connection)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _NoDelayHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _NoDelayHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class HttpTransport:
    """``http(s)://host:port[/prefix]``: KMIP on ``/kmip/2_1`` (JSON) or ``/kmip`` (binary), keep-alive."""

    def __init__(self, url: str, config: ClientConfig, *, binary: bool = False) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        self.url = url
        self.binary = binary
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self._context = ssl_context(config) if parts.scheme == "https" else None
        self._timeout = config.timeout
        self._headers = {"Accept": "application/octet-stream" if binary else "application/json"}
        if config.token:
            self._headers["Authorization"] = f"Bearer {config.token}"
        self._pool: _Pool[http.client.HTTPConnection] = _Pool(lambda c: c.close())

    def _new(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._context is not None:
            connection = _NoDelayHTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._context)
        else:
            connection = _NoDelayHTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            connection.connect()
        except (OSError, ssl.SSLError) as exc:
            connection.close()
            raise Unreachable(self.url, _reason(exc), delivered=False) from None
        return connection

    def request(
        self, method: str, path: str, body: bytes | None, content_type: str | None, token: str | None = None
    ) -> tuple[int, bytes]:
        """One HTTP exchange on a kept connection (a fresh one if the kept one turns out closed)."""
        headers = dict(self._headers)
        if content_type:
            headers["Content-Type"] = content_type
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection = self._pool.take()
        reused = connection is not None
        while True:
            if connection is None:
                connection = self._new()
            answered = False
            try:
                connection.request(method, self._prefix + path, body=body, headers=headers)
                response = connection.getresponse()
                answered = True
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                # A kept connection the server closed while idle fails before any answer: the server never saw
                # the request, so one more try on a fresh connection is safe (what urllib3 does too).
                if reused and not answered:
                    connection, reused = None, False
                    continue
                raise Unreachable(self.url, _reason(exc), delivered=True) from None
            if response.will_close:
                connection.close()
            else:
                self._pool.give(connection)
            return response.status, data

    def exchange(self, request: Item, token: str | None = None) -> Item:
        if self.binary:
            body, path, kind = binary_codec.encode(request), "/kmip", "application/octet-stream"
        else:
            body, path, kind = json_codec.encode(request).encode(), "/kmip/2_1", "application/json"
        status, data = self.request("POST", path, body, kind, token)
        if status != 200:
            raise KmsHttpError(status, data.decode("utf-8", "replace"))
        try:
            if self.binary:
                return binary_codec.decode(data, RESPONSE_LIMITS)
            return json_codec.decode(data, RESPONSE_LIMITS)
        except KmipError as exc:
            raise KmsProtocolError(f"{self.url}: unreadable KMIP response: {exc.message}") from None

    def http(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        return self.request(method, path, body, "application/json" if body is not None else None)

    def close(self) -> None:
        self._pool.clear()


class KmipSocketTransport:
    """``kmip://host:port``: binary TTLV Request/Response Messages on one mutual-TLS connection per caller, kept
    open between calls (the server answers in order on each connection)."""

    def __init__(self, url: str, config: ClientConfig) -> None:
        parts = urlsplit(url)
        if parts.scheme != "kmip" or not parts.hostname:
            raise ValueError(f"{url!r} is not a kmip:// URL")
        self.url = url
        self._address = (parts.hostname, parts.port or 5696)
        self._context = ssl_context(config)
        self._timeout = config.timeout
        self._pool: _Pool[ssl.SSLSocket] = _Pool(lambda s: s.close())

    def _new(self) -> ssl.SSLSocket:
        try:
            raw = socket.create_connection(self._address, timeout=self._timeout)
        except OSError as exc:
            raise Unreachable(self.url, _reason(exc), delivered=False) from None
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return self._context.wrap_socket(raw, server_hostname=self._address[0])
        except (OSError, ssl.SSLError) as exc:
            raw.close()
            raise Unreachable(self.url, _reason(exc), delivered=False) from None

    def exchange(self, request: Item, token: str | None = None) -> Item:
        # The KMIP port authenticates by client certificate only: a bearer token has no place in TTLV here.
        data = binary_codec.encode(request)
        sock = self._pool.take()
        reused = sock is not None
        while True:
            if sock is None:
                sock = self._new()
            answered = False
            try:
                sock.sendall(data)
                header = _read_exactly(sock, 8)
                answered = True
                length = binary_codec.read_message_length(header)
                if length > RESPONSE_LIMITS.max_message_size:
                    raise KmsProtocolError(f"{self.url}: response of {length} bytes is too large")
                body = _read_exactly(sock, length - 8) if length > 8 else b""
            except (OSError, EOFError) as exc:
                sock.close()
                if reused and not answered:
                    sock, reused = None, False
                    continue
                raise Unreachable(self.url, _reason(exc), delivered=True) from None
            except KmipError:
                sock.close()
                raise
            self._pool.give(sock)
            try:
                return binary_codec.decode(header + body, RESPONSE_LIMITS)
            except KmipError as exc:
                raise KmsProtocolError(f"{self.url}: unreadable KMIP response: {exc.message}") from None

    def http(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        raise KmsProtocolError(f"{method} {path} needs an http(s):// URL; {self.url} speaks only KMIP")

    def close(self) -> None:
        self._pool.clear()


def _read_exactly(sock: ssl.SSLSocket, size: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = sock.recv(min(size - len(buffer), 1 << 20))
        if not chunk:
            raise EOFError("the server closed the connection")
        buffer += chunk
    return bytes(buffer)


def open_transport(url: str, config: ClientConfig) -> Transport:
    """The transport a URL's scheme (and, for HTTP, ``config.protocol``) names."""
    if url.startswith("kmip://"):
        return KmipSocketTransport(url, config)
    return HttpTransport(url, config, binary=config.protocol == "binary")


__all__ = ["HttpTransport", "KmipSocketTransport", "Transport", "Unreachable", "open_transport", "ssl_context"]
