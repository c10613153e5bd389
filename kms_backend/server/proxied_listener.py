"""Accepting connections that may begin with a PROXY protocol header (``--trusted-proxies``; ``proxies``).

The header comes before the TLS handshake, so it must be taken off the socket before the event loop's TLS layer
reads anything: each accepted socket is peeked at (``MSG_PEEK``) until its first bytes show whether a header is
there; only the header's own bytes are then read, and the socket, positioned at the client's first byte, is handed
to the loop (``connect_accepted_socket``) with the client the header names. A header from a peer that is not a
trusted proxy, or one that is malformed, is refused: the connection is closed and the reason logged. Without
``--trusted-proxies`` the servers keep the loop's own accept, and a PROXY header is simply not TLS (or not HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .proxies import (
    V2_MAX_LENGTH,
    ProxyProtocolError,
    TrustedProxies,
    normalized,
    parse_header,
    signature_status,
)

log = logging.getLogger("keystead.server.proxy")

#: Bytes peeked at first: a version 1 line, or a version 2 header with IPv6 addresses and a few TLVs.
PEEK_BYTES = 256
#: A trusted proxy's header split across TCP segments (rare: proxies write it in one piece) is looked at again after
#: this long, doubling up to ``RETRY_MAX_SECONDS``; waiting for readability would spin, since peeked bytes stay
#: readable.
RETRY_SECONDS = 0.005
RETRY_MAX_SECONDS = 0.5

#: ``connect(sock, client)``: start serving a connection (its TLS handshake, then its protocol) whose client is
#: (host, port); typically ``loop.connect_accepted_socket``. An OSError it raises (a failed handshake) is logged.
Connect = Callable[[socket.socket, tuple[str, int]], Awaitable[object]]


@dataclass(eq=False, slots=True)
class _Pending:
    sock: socket.socket
    peer: tuple[str, int]
    timer: asyncio.TimerHandle | None = None
    retry: asyncio.TimerHandle | None = None
    peeked: int = field(default=0)
    delay: float = RETRY_SECONDS


class ProxiedListener:
    """Accepts from ``listener`` on ``loop``, takes off the PROXY header a trusted proxy sent, and hands each
    connection to ``connect``. ``header_timeout``: how long a new connection may take to send its first
    bytes; ``max_pending``: connections that may be waiting for them at once (beyond, new ones are refused)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listener: socket.socket,
        trusted: TrustedProxies,
        connect: Connect,
        *,
        header_timeout: float,
        max_pending: int,
        name: str,
    ) -> None:
        self.loop = loop
        self.listener = listener
        self.trusted = trusted
        self.connect = connect
        self.header_timeout = header_timeout
        self.max_pending = max_pending
        self.name = name
        self.pending: dict[int, _Pending] = {}
        #: connections handed on whose ``connect`` (TLS handshake) has not finished
        self.connecting: set[asyncio.Task[None]] = set()
        self.closed = False

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening socket (as ``asyncio.Server.sockets``: callers read the bound port from it)."""
        return [self.listener]

    def start(self) -> None:
        self.listener.setblocking(False)
        self.loop.add_reader(self.listener.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting and close the listening socket; connections still waiting for their first bytes or their
        handshake are closed."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(ValueError, OSError):  # the listener was closed already
            self.loop.remove_reader(self.listener.fileno())
        self.listener.close()
        for pending in list(self.pending.values()):
            self._drop(pending)
        for task in list(self.connecting):
            task.cancel()

    async def wait_closed(self) -> None:
        """As ``asyncio.Server.wait_closed``: nothing is left to wait for once ``close`` returned."""

    # -- accepting ----------------------------------------------------------------------------------------------------
    def _accept(self) -> None:
        for _ in range(64):  # a bounded batch per wake-up, so that a flood of connections cannot starve the loop
            try:
                sock, peer = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, a connection reset before accept...
                log.warning("%s: accept failed: %s", self.name, exc)
                return
            if len(self.pending) >= self.max_pending:
                log.warning("%s: refusing a connection from %s: %d connections have sent nothing yet",
                            self.name, peer[0], len(self.pending))  # fmt: skip
                sock.close()
                continue
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = _Pending(sock, (normalized(str(peer[0])), int(peer[1])))
            self.pending[sock.fileno()] = pending
            pending.timer = self.loop.call_later(self.header_timeout, self._expired, pending)
            self.loop.add_reader(sock.fileno(), self._readable, pending)

    def _readable(self, pending: _Pending) -> None:
        sock = pending.sock
        try:
            data = sock.recv(PEEK_BYTES if pending.peeked < PEEK_BYTES else V2_MAX_LENGTH, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(pending)
            return
        if not data:  # closed before sending anything
            self._drop(pending)
            return
        status = signature_status(data)
        trusted = pending.peer[0] in self.trusted
        if status is False or (status is None and not trusted):
            # No header, or too few bytes to tell from a peer whose header would be refused anyway: handed on as
            # it is (bytes that are not TLS or HTTP fail there); waiting would let a peer hold us with one byte.
            self._hand_over(pending, pending.peer)
            return
        if not trusted:
            log.warning("%s: refusing a PROXY protocol header from %s, which is not a trusted proxy "
                        "(--trusted-proxies)", self.name, pending.peer[0])  # fmt: skip
            self._drop(pending)
            return
        try:
            header = parse_header(data) if status else None
        except ProxyProtocolError as exc:
            log.warning("%s: refusing the connection of proxy %s: %s", self.name, pending.peer[0], exc)
            self._drop(pending)
            return
        if header is None:  # incomplete: look again shortly (more than the first peek when it filled the buffer)
            pending.peeked = len(data)
            self.loop.remove_reader(sock.fileno())
            pending.retry = self.loop.call_later(pending.delay, self._wait_again, pending)
            pending.delay = min(pending.delay * 2, RETRY_MAX_SECONDS)
            return
        try:
            taken = sock.recv(header.length)  # the peeked header is there: this read returns all of it
        except OSError:
            self._drop(pending)
            return
        if len(taken) != header.length:
            self._drop(pending)
            return
        self._hand_over(pending, header.client or pending.peer)

    def _wait_again(self, pending: _Pending) -> None:
        pending.retry = None
        if pending.sock.fileno() in self.pending:
            self.loop.add_reader(pending.sock.fileno(), self._readable, pending)

    def _expired(self, pending: _Pending) -> None:
        pending.timer = None
        log.info("%s: closing a connection from %s whose first bytes did not come within %.0f s", self.name,
                 pending.peer[0], self.header_timeout)  # fmt: skip
        self._drop(pending)

    def _forget(self, pending: _Pending) -> None:
        fd = pending.sock.fileno()
        self.pending.pop(fd, None)
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(fd)
        for timer in (pending.timer, pending.retry):
            if timer is not None:
                timer.cancel()
        pending.timer = pending.retry = None

    def _drop(self, pending: _Pending) -> None:
        self._forget(pending)
        with contextlib.suppress(OSError):
            pending.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        pending.sock.close()  # with linger 0: a reset, so that a refused peer is not kept in TIME_WAIT

    def _hand_over(self, pending: _Pending, client: tuple[str, int]) -> None:
        self._forget(pending)
        task = self.loop.create_task(self._connect(pending.sock, client))
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(self, sock: socket.socket, client: tuple[str, int]) -> None:
        try:
            await self.connect(sock, client)
        except OSError as exc:  # a failed TLS handshake (ssl.SSLError), a reset, a timeout: the client's business
            log.info("%s connection from %s failed: %s", self.name, client[0], str(exc) or type(exc).__name__)
            sock.close()


__all__ = ["ProxiedListener"]
