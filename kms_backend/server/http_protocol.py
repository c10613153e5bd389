"""The HTTP connection: uvicorn's httptools protocol with what a server facing the network needs and uvicorn leaves
out — time limits on slow clients, a cap on connections per client address, a cap on the request head, quick
shutdown of idle keep-alive connections, the ASGI TLS extension and coalesced writes.

Time limits (each closes the connection, after a ``408 Request Timeout`` when the client is mid-request):

* idle: from the TLS handshake (or the end of a response) to the first byte of the next request
  (``http_idle_timeout``); uvicorn arms its keep-alive timer only after a response, so a client that completed the
  handshake and sent nothing stayed forever;
* head: from the first byte of a request to the end of its headers (``http_header_timeout``);
* body: from the end of the headers to the end of the body (``http_body_timeout``).

While the application works on a request no timer runs: a slow operation is the server's business, not the client's.
Connections closed by a timer, refused by the cap or idle at shutdown are aborted (TCP reset) rather than closed
with a TLS close_notify exchange, which waits up to 30 seconds for a peer that may never answer: that wait is what
made SIGTERM take 30 s while an idle HTTPS client was connected.

With ``--trusted-proxies``, ``ProxiedHttpServer`` accepts the connections instead of uvicorn, to take off the PROXY
protocol header a load balancer puts before the TLS handshake; the client it names becomes the ASGI scope's client.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, ClassVar, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .auth import subject_common_name
from .guard import ConnectionGuard
from .proxied_listener import ProxiedListener
from .proxies import TrustedProxies

log = logging.getLogger("keystead.server.http")

#: After a polite close (response written, FIN or close_notify sent), how long the peer gets before a reset.
CLOSE_GRACE_SECONDS = 1.0


class CoalescingTransport:
    """Sends everything written during one event-loop iteration in one ``write``.

    uvicorn writes a response's head and body separately: two syscalls and two TCP segments (the socket has
    TCP_NODELAY), so the client wakes up twice per response. Measured: coalescing saves about a tenth of the
    server's time per small request.
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._pending is None:
            self._pending = [bytes(data)]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(bytes(data))

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpLimits:
    """The limits one server's connections share (built from ``ServerConfig``)."""

    def __init__(
        self,
        *,
        guard: ConnectionGuard,
        header_timeout: float,
        body_timeout: float,
        idle_timeout: float,
        max_header_size: int,
    ) -> None:
        self.guard = guard
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        self.max_header_size = max_header_size


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the limits above; ``limits`` is set on a subclass per server
    (``protocol_class``), since uvicorn builds protocols from a class and its own arguments only."""

    limits: ClassVar[HttpLimits]
    #: The client a trusted proxy's PROXY header named (set by ``ProxiedHttpServer`` before the connection starts).
    proxied_client: tuple[str, int] | None = None
    _tls_extension: dict[object, object] | None = None
    _address = ""
    _admitted = False
    _timer: asyncio.TimerHandle | None = None
    #: "idle" (between requests), "head" (reading a request's head), "body" (reading its body), "busy"
    _phase = "idle"
    _head_bytes = 0
    _shutting_down = False

    # -- connection lifecycle ---------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        coalescing = CoalescingTransport(transport, loop)
        super().connection_made(cast(asyncio.Transport, coalescing))
        if self.proxied_client is not None:
            self.client = self.proxied_client  # the ASGI scope's "client": rate limit and audit log
        self._address = self.client[0] if self.client else "?"
        if not self.limits.guard.admit(self._address):
            log.warning("refusing an HTTP connection from %s: too many connections from this address", self._address)
            transport.abort()
            return
        self._admitted = True
        if transport.get_extra_info("sslcontext") is not None or transport.get_extra_info("ssl_object") is not None:
            peercert = transport.get_extra_info("peercert")
            self._tls_extension = {"client_cert_cn": subject_common_name(peercert), "client_cert_error": None}
        self._arm("idle", self.limits.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._admitted:
            self._admitted = False
            self.limits.guard.release(self._address)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """Server shutdown: a connection with no request running is reset at once (an unfinished request head
        would never be served anyway); one whose request runs finishes it first, then closes."""
        if self.cycle is None or self.cycle.response_complete:
            self._disarm()
            self.transport.abort()
            return
        self._shutting_down = True
        super().shutdown()

    # -- timers -------------------------------------------------------------------------------------------------------
    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._timer = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, phase: str) -> None:
        self._timer = None
        if self.transport.is_closing() or phase != self._phase:
            return
        if phase == "idle":
            log.debug("closing an idle HTTP connection from %s", self._address)
            self._close_then_abort()
        else:
            log.info("HTTP client %s too slow sending a request %s: closing", self._address, phase)
            self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` with ``Connection: close`` (unless a response has started) and hang up."""
        if self.cycle is None or not self.cycle.response_started:
            body = f"{reason}\n".encode()
            self.transport.write(
                f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + body
            )
        if self.cycle is not None:
            self.cycle.keep_alive = False
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self._close_then_abort()

    def _close_then_abort(self) -> None:
        self._phase = "closed"
        self.transport.close()
        self.loop.call_later(CLOSE_GRACE_SECONDS, self._abort)

    def _abort(self) -> None:
        if self._admitted:
            self.transport.abort()

    # -- parsing ------------------------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._phase == "closed":
            return
        if self._phase == "idle":
            self._head_bytes = 0
            self._arm("head", self.limits.header_timeout)
        counting = self._phase == "head"
        super().data_received(data)
        # Counted after parsing, so that a chunk holding the end of the head and some body is not held against the
        # head: the parser moved on to "body" if the head ended in it.
        if counting and self._phase == "head":
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_size:
                log.info("HTTP client %s sent a request head over %d bytes", self._address, self.limits.max_header_size)
                self._refuse(431, "Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls_extension is not None:
            self.scope["extensions"] = {"tls": self._tls_extension}

    def on_headers_complete(self) -> None:
        self._arm("body", self.limits.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._phase = "busy"
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._shutting_down:
            # uvicorn closes after this last response; a peer that never answers close_notify gets a reset.
            self.loop.call_later(CLOSE_GRACE_SECONDS, self._abort)
            return
        # uvicorn armed its keep-alive timer when no pipelined request is waiting: ours replaces it (one idle
        # behaviour, from the handshake as after a response). A pipelined request already parsed runs now ("busy").
        if self.timeout_keep_alive_task is not None:
            self._unset_keepalive_if_required()
            self._arm("idle", self.limits.idle_timeout)


class ProxiedHttpServer(uvicorn.Server):
    """uvicorn's server accepting through ``ProxiedListener`` (``--trusted-proxies``): PROXY headers come before the
    TLS handshake, which uvicorn's own accept would start at once. uvicorn still owns the connections (shutdown,
    graceful close); the listener is closed and awaited with its servers."""

    def __init__(self, config: uvicorn.Config, trusted: TrustedProxies, *, header_timeout: float) -> None:
        super().__init__(config)
        self.trusted = trusted
        self.header_timeout = header_timeout

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        from .kmip_socket import listen_tcp

        config = self.config
        listener = sockets[0] if sockets else listen_tcp(config.host, config.port, config.backlog)
        await super().startup(sockets=[])  # no listener of its own: servers stays empty
        loop = asyncio.get_running_loop()
        acceptor = ProxiedListener(
            loop,
            listener,
            self.trusted,
            self._connect,
            header_timeout=self.header_timeout,
            max_pending=config.limit_concurrency or 1024,
            name="HTTP",
        )
        acceptor.start()
        self.servers.append(acceptor)  # type: ignore[arg-type]  # close() and wait_closed(), as a Server

    async def _connect(self, sock: socket.socket, client: tuple[str, int]) -> None:
        config = self.config

        def create_protocol() -> asyncio.Protocol:
            protocol = cast(
                GuardedHttpProtocol,
                config.http_protocol_class(  # type: ignore[call-arg]
                    config=config, server_state=self.server_state, app_state=self.lifespan.state
                ),
            )
            protocol.proxied_client = client
            return protocol

        await asyncio.get_running_loop().connect_accepted_socket(create_protocol, sock, ssl=config.ssl)


def protocol_class(limits: HttpLimits) -> type[GuardedHttpProtocol]:
    """A ``GuardedHttpProtocol`` subclass bound to one server's ``limits`` (uvicorn's ``http=`` setting)."""
    return type("KeysteadHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


__all__ = [
    "CLOSE_GRACE_SECONDS",
    "CoalescingTransport",
    "GuardedHttpProtocol",
    "HttpLimits",
    "ProxiedHttpServer",
    "protocol_class",
]
