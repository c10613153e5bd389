"""KMIP over TLS (KMIP 2.1 §9.1 binary TTLV on port 5696; KMIP Profiles 2.1 §4: TLS 1.2+, mutual authentication).

An event loop (uvloop) on its own thread serves every connection: reading, framing and writing cost no thread switch,
and with a local store (SQLite, memory) or PostgreSQL (kept objects and Plans need no round trip there, thanks to its
change notices) small requests are answered right in the loop. Asymmetric key generation, certificates, key
derivation, Locate, Register and Import (``_messages.OFFLOADED_OPERATIONS``), large messages, and every request to
MySQL or Redis (unless their change stamp is polled, ``--change-stamp-lag``: then kept objects and Plans need no
round trip either) run on the server's thread pool while that connection stops reading, so a request that waits
delays only its own client. Two limits remain, as with threads: SQLite runs one transaction at a time
(requests needing one queue behind a long one; Encrypt/Decrypt/Sign and Get answered from a kept Plan need none),
and a C call that holds the GIL (RSA key generation) holds up the whole process. Measured against one thread per
blocking connection, this serves twice the requests at eight concurrent clients (the threads spent their time
handing the GIL to each other).

Each connection answers its messages in order, one at a time. Framing: each message is one TTLV item whose first 8 bytes
give its length (``binary_codec.read_message_length``); a read that brings exactly one whole message, the usual case
with a client that waits for each answer, is answered from those bytes without going through the buffer. A header that
does not frame a Request Message means the peer is not speaking KMIP: the connection is closed. A framed message that
does not decode is answered with a one-item Invalid Message response in the client's version (when its header shows it),
and the connection stays usable. The user is the client certificate's subject CN. Connections are capped
(``kmip_max_connections`` in all, ``max_connections_per_client`` per client address) and closed after ``idle_timeout``
seconds without a request, or ``message_timeout`` seconds after the first byte of a message that is still incomplete (a
client that stops half-way through a message is not waited for as long as one that is merely idle). Past ``rate_limit``
a message is answered with Server Limit Exceeded without running. With ``trusted_proxies`` connections are accepted by
``ProxiedListener``, which takes off the PROXY protocol header a load balancer puts before the TLS handshake: the client
address is then the one it names."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import Executor
from typing import Any, cast

import uvloop

from ..engine.engine import Engine
from ..kmip import binary_codec, encodings, sniff
from ..kmip._registry_data import ResultReason
from ..kmip.errors import DecodeError, KmipError
from ..kmip.ttlv import DecodeLimits, Item
from . import _messages
from ._messages import INLINE_MAX_BYTES, OFFLOADED_OPERATIONS, READ_OPERATIONS, AuditScope
from .audit import AuditLog
from .auth import subject_common_name
from .guard import ConnectionGuard, RateLimiter
from .metrics import Metrics
from .proxied_listener import ProxiedListener
from .proxies import TrustedProxies

log = logging.getLogger("keystead.server.kmip")

HANDSHAKE_TIMEOUT = 10.0


def cheap_message(data: bytes, reads_only: bool = False) -> bool:
    """Whether a binary request is small and names none of ``OFFLOADED_OPERATIONS`` (``reads_only``: only
    ``READ_OPERATIONS``); a scheduling hint only: the message is decoded properly later, whatever this finds."""
    if len(data) > INLINE_MAX_BYTES:
        return False
    operations = sniff.binary_operations(data)
    if operations is None:
        return False
    if reads_only:
        return READ_OPERATIONS.issuperset(operations)
    return OFFLOADED_OPERATIONS.isdisjoint(operations)


class KmipSocketServer:
    """The KMIP TLS listener. ``start()`` binds and serves on a background thread; ``stop()`` ends everything.

    ``executor``: where requests that are not answered in the loop run (None: every request runs in the loop);
    ``inline``: whether cheap requests may run in the loop (``ServerConfig.answers_inline``); ``reads_only``: only
    reads among them (``ServerConfig.inline_reads_only``)."""

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
        message_timeout: float = 10.0,
        guard: ConnectionGuard | None = None,
        rate_limiter: RateLimiter | None = None,
        audit: AuditLog | None = None,
        metrics: Metrics | None = None,
        executor: Executor | None = None,
        inline: bool = True,
        reads_only: bool = False,
        trusted_proxies: TrustedProxies | None = None,
    ) -> None:
        self.engine = engine
        self.context = context
        self.host = host
        self.requested_port = port
        self.limits = DecodeLimits(max_message_size=max_message_size)
        self.idle_timeout = idle_timeout
        self.message_timeout = min(message_timeout, idle_timeout)
        self.max_connections = max_connections
        self.guard = guard or ConnectionGuard(0)
        self.rate_limiter = rate_limiter or RateLimiter(0, 1)
        self.audit = audit or AuditLog(None)
        self.metrics = metrics or Metrics()
        self.executor = executor
        self.inline = inline
        self.reads_only = reads_only
        self.trusted_proxies = trusted_proxies or TrustedProxies(())
        self.listener: socket.socket | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: asyncio.AbstractServer | None = None
        self.thread: threading.Thread | None = None
        self.connections: set[_Connection] = set()
        #: Accepts instead of the loop when proxies are trusted (it takes their PROXY headers off).
        self.acceptor: ProxiedListener | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self.listener is None:
            return self.requested_port
        return int(self.listener.getsockname()[1])

    def start(self, listener: socket.socket | None = None) -> None:
        """Bind and start serving (raises OSError if the port is taken). ``listener``: a socket already bound and
        listening, shared with other worker processes (each accepts from it)."""
        if listener is None:
            listener = listen_tcp(self.host, self.requested_port, 128)
        listener.setblocking(False)
        self.listener = listener
        ready = threading.Event()
        failures: list[BaseException] = []
        self.thread = threading.Thread(
            target=self._run, args=(listener, ready, failures), name="keystead-kmip", daemon=True
        )
        self.thread.start()
        ready.wait()
        if failures:
            raise failures[0]

    def _run(self, listener: socket.socket, ready: threading.Event, failures: list[BaseException]) -> None:
        loop = uvloop.new_event_loop()
        loop.set_exception_handler(_log_loop_error)
        self.loop = loop
        try:
            if self.trusted_proxies:
                self.acceptor = ProxiedListener(
                    loop,
                    listener,
                    self.trusted_proxies,
                    self._connect,
                    header_timeout=HANDSHAKE_TIMEOUT,
                    max_pending=self.max_connections,
                    name="KMIP",
                )
                self.acceptor.start()
            else:
                self.server = loop.run_until_complete(
                    loop.create_server(
                        lambda: _Connection(self),
                        sock=listener,
                        ssl=self.context,
                        ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
                    )
                )
        except BaseException as exc:  # reported by start()
            failures.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))  # let closed connections report connection_lost
            loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection, wait for the loop's thread."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                loop.call_soon_threadsafe(self._shutdown)
        if self.thread is not None:
            self.thread.join(timeout)
        if self.listener is not None:
            self.listener.close()

    async def _connect(self, sock: socket.socket, client: tuple[str, int]) -> None:
        """A connection from ``acceptor``, its PROXY header (if any) taken off: TLS handshake, then served."""
        assert self.loop is not None
        await self.loop.connect_accepted_socket(
            lambda: _Connection(self, client[0]), sock, ssl=self.context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
        )

    def _shutdown(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.acceptor is not None:
            self.acceptor.close()
        for connection in list(self.connections):
            connection.close()
        assert self.loop is not None
        self.loop.stop()


class _Connection(asyncio.Protocol):
    """One client connection: frames messages out of the byte stream and answers them in order."""

    def __init__(self, server: KmipSocketServer, client: str | None = None) -> None:
        self.server = server
        #: the server's loop, kept: asyncio.get_running_loop() costs a getpid() system call on every call
        self.loop: asyncio.AbstractEventLoop = server.loop or asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.user = ""
        #: the client's address: the peer's, or the one a trusted proxy's PROXY header named
        self.address = client or ""
        self.admitted = False
        self.buffer = bytearray()
        #: loop time of the first byte of the message still incomplete in ``buffer`` (None: nothing pending)
        self.partial_since: float | None = None
        self.message_timer = False
        #: a request is running on the thread pool (reading is paused meanwhile)
        self.busy = False
        self.paused_writing = False
        self.closed = False
        self.last_activity = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None

    # -- connection lifecycle -------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's SSL transport: same interface
        server = self.server
        peer = transport.get_extra_info("peername") or ("?",)
        if not self.address:
            self.address = str(peer[0])
        if len(server.connections) >= server.max_connections or not server.guard.admit(self.address):
            log.warning("refusing a KMIP connection from %s: too many connections", self.address)
            server.metrics.observe_kmip_message("refused")
            self.closed = True
            transport.abort()
            return
        self.admitted = True
        user = subject_common_name(transport.get_extra_info("peercert"))
        if not user:
            log.info("refusing %s: the client certificate has no subject Common Name", self.address)
            self.closed = True
            self.admitted = False
            server.guard.release(self.address)
            transport.abort()
            return
        self.user = user
        server.connections.add(self)
        server.metrics.kmip_connections.inc()
        self.last_activity = self.loop.time()
        self.idle_timer = self.loop.call_later(server.idle_timeout, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.admitted:
            self.admitted = False
            self.server.guard.release(self.address)
        if self in self.server.connections:
            self.server.connections.discard(self)
            self.server.metrics.kmip_connections.dec()
        if self.idle_timer is not None:
            self.idle_timer.cancel()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
            # A peer that never answers the TLS close_notify would keep the connection (and its slot) for 30 s.
            self.loop.call_later(1.0, self.transport.abort)

    def _check_idle(self) -> None:
        self.message_timer = False
        if self.closed:
            return
        loop = self.loop
        now = loop.time()
        server = self.server
        if self.busy:
            wait = server.idle_timeout
        elif self.partial_since is not None:
            # A message begun and not finished: the shorter limit, counted from its first byte.
            late = now - self.partial_since
            if late >= server.message_timeout:
                log.info("closing the KMIP connection of %s: a message unfinished for %.0f s", self.user, late)
                server.metrics.observe_kmip_message("invalid")
                self.close()
                return
            wait = server.message_timeout - late
            self.message_timer = True
        else:
            idle = now - self.last_activity
            if idle >= server.idle_timeout:
                log.debug("closing an idle KMIP connection of %s", self.user)
                self.close()
                return
            wait = server.idle_timeout - idle
        self.idle_timer = loop.call_later(max(wait, 0.05), self._check_idle)

    # -- flow control -----------------------------------------------------------------------------------------------
    def pause_writing(self) -> None:
        """The client does not read its answers: stop reading its requests until it does."""
        self.paused_writing = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused_writing = False
        if self.transport is not None and not self.busy and not self.closed:
            self.transport.resume_reading()
            self._drain()

    # -- messages -----------------------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        loop = self.loop
        now = loop.time()
        if not self.buffer and not self.busy and not self.paused_writing and not self.closed and len(data) >= 8:
            # The usual case, a client that waits for each answer: one whole message and nothing after it, answered
            # from ``data`` as it came (no copy into the buffer and out again). Anything else takes the loop below.
            try:
                whole = binary_codec.read_message_length(data) == len(data)
            except DecodeError:
                whole = False
            if whole and len(data) <= self.server.limits.max_message_size:
                self.last_activity = now
                self.partial_since = None
                self._dispatch(data)
                return
        if not self.buffer:
            self.partial_since = now
        self.buffer += data
        self.last_activity = now
        if not self.busy and not self.paused_writing:
            self._drain()
        if self.buffer and not self.message_timer and not self.closed:
            # A message in progress: check again at its shorter deadline (messages that arrive whole, the usual
            # case, never get here).
            self.message_timer = True
            if self.idle_timer is not None:
                self.idle_timer.cancel()
            self.idle_timer = loop.call_later(self.server.message_timeout, self._check_idle)

    def _drain(self) -> None:
        """Answer every complete message in the buffer, in order (stopping at one sent to the thread pool)."""
        server = self.server
        buffer = self.buffer
        while not self.closed and not self.busy and len(buffer) >= 8:
            try:
                size = binary_codec.read_message_length(buffer)
            except DecodeError as exc:
                # Not KMIP (TLS'd HTTP, random bytes): nothing to resynchronise on, so hang up.
                log.info("closing a KMIP connection of %s: %s", self.user, exc.message)
                server.metrics.observe_kmip_message("invalid")
                self.close()
                return
            limit = server.limits.max_message_size
            if size > limit:
                # Answer, then hang up: skipping the body would mean reading it all.
                server.metrics.observe_kmip_message("invalid")
                error = KmipError(ResultReason.INVALID_MESSAGE, f"message of {size} bytes exceeds {limit} bytes")
                self._write(binary_codec.encode(_messages.error_tree(server.engine, error)))
                self.close()
                return
            if len(buffer) < size:
                return
            data = bytes(buffer[:size])
            del buffer[:size]
            self.partial_since = self.loop.time() if buffer else None
            self._dispatch(data)

    def _dispatch(self, data: bytes) -> None:
        """One framed message: refused past the rate limit, else answered in the loop or sent to the thread pool."""
        server = self.server
        if not server.rate_limiter.allow(self.address):
            server.metrics.observe_kmip_message("refused")
            error = KmipError(ResultReason.SERVER_LIMIT_EXCEEDED, "too many requests from this client: slow down")
            self._write(binary_codec.encode(_messages.error_tree(server.engine, error, sniff.binary_version(data))))
        elif server.executor is None or (server.inline and cheap_message(data, server.reads_only)):
            self._write(self._answer(data))
        else:
            self._offload(data)

    def _offload(self, data: bytes) -> None:
        assert self.transport is not None and self.server.executor is not None
        self.busy = True
        self.transport.pause_reading()
        future = self.loop.run_in_executor(self.server.executor, self._answer, data)
        future.add_done_callback(self._offloaded)

    def _offloaded(self, future: asyncio.Future[bytes]) -> None:
        self.busy = False
        if self.closed:
            return
        try:
            out = future.result()
        except Exception:  # _answer catches everything; this is a cancelled future at shutdown
            self.close()
            return
        self._write(out)
        self.last_activity = self.loop.time()
        if not self.paused_writing and self.transport is not None:
            self.transport.resume_reading()
            self._drain()

    def _answer(self, data: bytes) -> bytes:
        """The response to one framed message (runs in the loop or on the thread pool; never raises)."""
        server = self.server
        start = time.perf_counter()
        tree: Item | None
        try:
            audit = AuditScope(server.audit, "kmip", self.address) if server.audit.enabled else None
            out, tree = _messages.process(server.engine, encodings.BINARY, data, self.user, server.limits, audit=audit)
        except Exception:
            log.exception("internal error answering %s", self.user)
            error = KmipError(ResultReason.GENERAL_FAILURE, "internal server error")
            version = sniff.binary_version(data)
            out, tree = binary_codec.encode(_messages.error_tree(server.engine, error, version)), None
        elapsed = time.perf_counter() - start
        if tree is None:
            server.metrics.observe_kmip_message("error", elapsed)
        else:
            server.metrics.observe_kmip_message("ok", elapsed)
            server.metrics.observe_response("kmip", tree)
        return out

    def _write(self, out: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Failed handshakes and dropped connections are the clients' business (info); anything else is a bug."""
    exc = context.get("exception")
    if isinstance(exc, ssl.SSLError | ConnectionError | TimeoutError | asyncio.TimeoutError):
        log.info("KMIP connection failed: %s", exc)
        return
    message = context.get("message", "event loop error")
    log.error("KMIP server: %s", message, exc_info=exc if isinstance(exc, BaseException) else None)


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


__all__ = ["KmipSocketServer", "listen_tcp"]
