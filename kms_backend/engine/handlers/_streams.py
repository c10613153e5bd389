"""Streamed operations (KMIP 2.1 §6.1.17 and the other cryptographic operations: Init Indicator, Final Indicator,
Correlation Value): the open streams of one engine, and the one driver every streamed operation continues through.

A stream's first request opens it: the handler decides as for a one-shot request, feeds the first Data to the crypto
layer's stream object, and keeps it here under a fresh random Correlation Value. Each later request carries that
value: :func:`continue_stream` finds the stream (same user, same operation, not expired), feeds it the Data, and on
the Final Indicator ends it and lets the handler build the final answer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ...crypto import CipherParams
from ...kmip._registry_data import Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..keymaterial import Key
from ._data import request_data
from ._params import approved_only

#: At most this many open streams per engine, each at most this many seconds old (engine clock).
MAX_SESSIONS = 1024
SESSION_TTL = 600

R = TypeVar("R")


@dataclass(slots=True)
class Session:
    """One streamed operation: who opened it, on which object, and the crypto layer's stream object."""

    owner: str
    operation: Operation
    uid: str
    stream: Any
    expires: int
    #: Output held back until Final (AEAD decryption: nothing unauthenticated leaves the server).
    held: bytearray | None = None
    extra: dict[str, Any] | None = None


class Streams:
    """The open streams of one engine, by Correlation Value, under their own lock."""

    __slots__ = ("_lock", "_sessions")

    def __init__(self) -> None:
        self._sessions: dict[bytes, Session] = {}
        self._lock = threading.Lock()

    def open(self, session: Session, now: int) -> bytes:
        """Keep ``session`` under a fresh random Correlation Value and return the value (Server Limit Exceeded when
        ``MAX_SESSIONS`` streams are open)."""
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.expires <= now]:
                del self._sessions[key]
            if len(self._sessions) >= MAX_SESSIONS:
                raise KmipError(ResultReason.SERVER_LIMIT_EXCEEDED, "too many streamed operations are open")
            correlation = os.urandom(16)
            self._sessions[correlation] = session
        return correlation

    def take(self, correlation: bytes, operation: Operation, user: str, now: int, *, final: bool) -> Session:
        """The session of ``correlation`` for ``operation`` and ``user`` (removed when ``final``).

        Unknown, expired, another user's or another operation's values all read Invalid Correlation Value, so a
        correlation value reveals nothing about other users' streams.
        """
        with self._lock:
            session = self._sessions.get(correlation)
            if session is None or session.owner != user or session.operation != operation or session.expires <= now:
                if session is not None and session.expires <= now:
                    del self._sessions[correlation]
                raise KmipError(ResultReason.INVALID_CORRELATION_VALUE, "unknown or expired Correlation Value")
            if final:
                del self._sessions[correlation]
        return session

    def drop(self, correlation: bytes) -> None:
        """Forget a session (after a failure: a failed stream cannot be resumed)."""
        with self._lock:
            self._sessions.pop(correlation, None)

    def __len__(self) -> int:
        return len(self._sessions)


def open_session(
    ctx: RequestContext, operation: Operation, uid: str, stream: Any, *, held: bool = False, **extra: Any
) -> bytes:
    """Keep ``stream`` for this user under a fresh random Correlation Value (KMIP 2.1 §6.1.17) and return it."""
    session = Session(
        ctx.user, operation, uid, stream, ctx.now + SESSION_TTL, bytearray() if held else None, extra or None
    )
    return streams_of(ctx).open(session, ctx.now)


def start_stream(ctx: RequestContext, operation: Operation, uid: str, stream: Any, data: Any) -> bytes:
    """Feed a new stream that answers nothing as it goes (Hash, MAC, Sign and the verifications) the opening
    request's Data, and keep it (:func:`open_session`)."""
    stream.update(request_data(data, required=False))
    return open_session(ctx, operation, uid, stream)


def take_session(ctx: RequestContext, correlation: bytes, operation: Operation, *, final: bool) -> Session:
    """The session of ``correlation`` for ``operation`` and this user (``Streams.take``)."""
    return streams_of(ctx).take(correlation, operation, ctx.user, ctx.now, final=final)


def continues(request: Any) -> bool:
    """Whether a request continues an open stream: it carries a Correlation Value and no Init Indicator."""
    return request.correlation_value is not None and not request.init_indicator


def continue_stream(
    ctx: RequestContext,
    request: Any,
    operation: Operation,
    response: Callable[..., R],
    final: Callable[[Session, bytes], dict[str, Any]],
    *,
    output: Callable[[Session, bytes], bytes] | None = None,
) -> R:
    """A later request of a stream, answered with ``response(...)`` naming the stream's object. A middle request's
    Data is fed to the stream (``stream.update``; a failure drops the stream: no retry on a half-fed context) and
    the answer carries the Correlation Value, and ``output(session, out)`` as its Data when the operation returns
    data as it goes. On the Final Indicator the stream ends and the answer carries ``final(session, data)``."""
    correlation: bytes = request.correlation_value
    is_final = bool(request.final_indicator)
    session = take_session(ctx, correlation, operation, final=is_final)
    data = request_data(request.data, required=False)
    named = {"unique_identifier": session.uid} if session.uid else {}  # Hash streams name no object
    if is_final:
        return response(**named, **final(session, data))
    try:
        out = session.stream.update(data)
        if output is not None:
            return response(**named, data=output(session, out), correlation_value=correlation)
        return response(**named, correlation_value=correlation)
    except BaseException:
        streams_of(ctx).drop(correlation)
        raise


def cipher_stream(ctx: RequestContext, opener: Callable[..., Any], key: Key, params: CipherParams, request: Any) -> Any:
    """The crypto layer's Encrypt or Decrypt stream (``opener``) over ``key``, with the IV/Counter/Nonce and the
    additional authenticated data of the request that opens it."""
    return opener(
        key.material,
        params,
        iv=request.iv_counter_nonce,
        aad=request.authenticated_encryption_additional_data,
        approved_only=approved_only(ctx),
    )


def streams_of(ctx: RequestContext) -> Streams:
    streams: Streams = ctx.engine.streams
    return streams


__all__ = [
    "MAX_SESSIONS",
    "SESSION_TTL",
    "Session",
    "Streams",
    "cipher_stream",
    "continue_stream",
    "continues",
    "open_session",
    "start_stream",
    "streams_of",
    "take_session",
]
