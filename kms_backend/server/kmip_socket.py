"""KMIP over TLS (KMIP 2.1 §9.1 binary TTLV on port 5696; KMIP Profiles 2.1 §4: TLS 1.2+, mutual authentication).

One thread per connection, blocking I/O. A KMIP client keeps one connection and sends one message at a time, so
a dedicated thread answers with no hop between threads or event loop (the engine is synchronous anyway); measured
faster than asyncio + a thread pool for a persistent client. Connections are capped (``kmip_max_connections``).

Framing: each message is one TTLV item whose first 8 bytes give its length (``binary_codec.read_message_length``).
A header that does not frame a Request Message means the peer is not speaking KMIP: the connection is closed. A
framed message that does not decode is answered with a one-item Invalid Message response in the client's version
(when its header shows it), and the connection stays usable. The user is the client certificate's subject CN.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time

from ..engine.engine import Engine
from ..kmip import binary_codec
from ..kmip._registry_data import ResultReason
from ..kmip.errors import DecodeError, KmipError
from ..kmip.ttlv import DecodeLimits
from . import _messages
from .auth import subject_common_name
from .metrics import Metrics

log = logging.getLogger("keystead.server.kmip")

HANDSHAKE_TIMEOUT = 10.0
_ACCEPT_POLL = 0.25


class _Closed(Exception):
    """The peer closed the connection or stayed silent past the idle timeout."""


class KmipSocketServer:
    """The KMIP TLS listener. ``start()`` binds and serves in background threads; ``stop()`` ends everything."""

    def __init__(
        self,
        engine: Engine,
        context: ssl.SSLContext,
        *,
        host: str,
        port: int,
        max_message_size: int,
        idle_timeout: float,
        max_connections: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.context = context
        self.host = host
        self.requested_port = port
        self.limits = DecodeLimits(max_message_size=max_message_size)
        self.idle_timeout = idle_timeout
        self.slots = threading.BoundedSemaphore(max_connections)
        self.metrics = metrics or Metrics()
        self.listener: socket.socket | None = None
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.accept_thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self.listener is None:
            return self.requested_port
        return int(self.listener.getsockname()[1])

    def start(self, listener: socket.socket | None = None) -> None:
        """Bind and start accepting (raises OSError if the port is taken). ``listener``: a socket already bound and
        listening, shared with other worker processes (each accepts from it); this server closes its copy."""
        if listener is None:
            listener = listen_tcp(self.host, self.requested_port, 128)
        # Polling accept lets stop() end the loop without relying on close() waking a blocked accept().
        listener.settimeout(_ACCEPT_POLL)
        self.listener = listener
        self.accept_thread = threading.Thread(target=self._accept_loop, name="keystead-kmip-accept", daemon=True)
        self.accept_thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection, wait for the accept thread."""
        self.stopping.set()
        if self.accept_thread is not None:
            self.accept_thread.join(timeout)
        if self.listener is not None:
            self.listener.close()
        with self.lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def _accept_loop(self) -> None:
        assert self.listener is not None
        while not self.stopping.is_set():
            try:
                raw, address = self.listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self.stopping.is_set():
                    return
                log.warning("accept failed: %s", exc)
                time.sleep(0.05)  # e.g. out of file descriptors: do not spin
                continue
            if not self.slots.acquire(blocking=False):
                log.warning("refusing a KMIP connection from %s: too many connections", address[0])
                self.metrics.observe_kmip_message("refused")
                raw.close()
                continue
            thread = threading.Thread(
                target=self._connection, args=(raw, address), name=f"keystead-kmip-{address[0]}", daemon=True
            )
            thread.start()

    def _connection(self, raw: socket.socket, address: tuple[str, int]) -> None:
        with self.lock:
            self.connections.add(raw)
        self.metrics.kmip_connections.inc()
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small request/response pairs
            raw.settimeout(HANDSHAKE_TIMEOUT)
            try:
                conn = self.context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.info("TLS handshake with %s failed: %s", address[0], exc)
                return
            with conn:
                user = subject_common_name(conn.getpeercert())
                if not user:
                    log.info("refusing %s: the client certificate has no subject Common Name", address[0])
                    return
                conn.settimeout(self.idle_timeout)
                self._serve(conn, user)
        except Exception:  # a bug must cost one connection, never the server
            log.exception("KMIP connection from %s failed", address[0])
        finally:
            with self.lock:
                self.connections.discard(raw)
            self.metrics.kmip_connections.dec()
            with contextlib.suppress(OSError):
                raw.close()
            self.slots.release()

    def _serve(self, conn: ssl.SSLSocket, user: str) -> None:
        limit = self.limits.max_message_size
        while not self.stopping.is_set():
            try:
                header = _read_exactly(conn, 8)
            except _Closed:
                return
            try:
                size = binary_codec.read_message_length(header)
            except DecodeError as exc:
                # Not KMIP (TLS'd HTTP, random bytes): nothing to resynchronise on, so hang up.
                log.info("closing a KMIP connection of %s: %s", user, exc.message)
                self.metrics.observe_kmip_message("invalid")
                return
            if size > limit:
                # Answer, then hang up: skipping the body would mean reading it all.
                self.metrics.observe_kmip_message("invalid")
                error = KmipError(ResultReason.INVALID_MESSAGE, f"message of {size} bytes exceeds {limit} bytes")
                _send_quietly(conn, binary_codec.encode(_messages.error_tree(self.engine, error)))
                return
            try:
                data = header + _read_exactly(conn, size - 8)
            except _Closed:
                return
            start = time.perf_counter()
            try:
                out, tree = _messages.process_binary(self.engine, data, user, self.limits)
            except Exception:
                log.exception("internal error answering %s", user)
                error = KmipError(ResultReason.GENERAL_FAILURE, "internal server error")
                out = binary_codec.encode(
                    _messages.error_tree(self.engine, error, _messages.guess_binary_version(data))
                )
                self.metrics.observe_kmip_message("error", time.perf_counter() - start)
            else:
                self.metrics.observe_kmip_message("ok", time.perf_counter() - start)
                self.metrics.observe_response("kmip", tree)
            try:
                conn.sendall(out)
            except OSError:
                return


def listen_tcp(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv6 when ``host`` has a colon) and listening; OSError if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(backlog)
    except OSError:
        listener.close()
        raise
    return listener


def _read_exactly(conn: ssl.SSLSocket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        try:
            n = conn.recv_into(view[got:], size - got)
        except (TimeoutError, ssl.SSLError, OSError):
            raise _Closed from None
        if n == 0:
            raise _Closed
        got += n
    return bytes(buffer)


def _send_quietly(conn: ssl.SSLSocket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(data)


__all__ = ["KmipSocketServer", "listen_tcp"]
