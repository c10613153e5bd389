"""Asynchronous operations (KMIP 2.1 §6.1.5 Cancel, §6.1.38 Poll, §6.1.41 Query Asynchronous Requests; 1.4
§4.22-4.23 and §7: Asynchronous Indicator, Asynchronous Correlation Value, Result Status Operation Pending).

A client that sets the Asynchronous Indicator lets the server answer an item with Operation Pending and an
Asynchronous Correlation Value instead of waiting; the client then Polls with that value until the operation's
own response comes back, or Cancels it. This server does so only for the operations that take long
(``is_long``: RSA key pairs of 4096 bits and more, certificates), unless the client makes it Mandatory.

The operations run on a small thread pool owned by the engine, each in its own store transaction, so they commit
exactly as a synchronous request would. Pending results live in this process's memory: a Poll must reach the
same server process (with ``keystead serve --workers N`` another worker answers Invalid Asynchronous
Correlation Value). A completed result is kept until it is polled, at most ``RESULT_TTL`` seconds.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..kmip import _schema_data as S
from ..kmip._registry_data import (
    AsynchronousIndicator,
    CancellationResult,
    CryptographicAlgorithm,
    Operation,
    ProcessingStage,
    ResultReason,
    Tag,
)
from ..kmip.errors import KmipError
from ..kmip.schema import Attributes, Struct

#: Operations that are never made asynchronous: they are what a client uses to follow asynchronous ones, or
#: they describe the server.
_NEVER = frozenset(
    {
        Operation.POLL,
        Operation.CANCEL,
        Operation.QUERY,
        Operation.QUERY_ASYNCHRONOUS_REQUESTS,
        Operation.DISCOVER_VERSIONS,
    }
)
#: RSA key pairs from this size on take a second or more to generate.
LONG_RSA_BITS = 4096
#: Certificates: key generation (Certify without a key) and signing with the issuer's key.
_LONG_OPERATIONS = frozenset({Operation.CERTIFY, Operation.RE_CERTIFY})
#: How long a finished operation's result waits for its Poll.
RESULT_TTL = 3600
#: Most operations pending at once per process: more are run synchronously.
MAX_PENDING = 256


class OperationPending(Exception):
    """Raised by Poll while the operation runs: the batch item answers Operation Pending with this value."""

    def __init__(self, correlation_value: bytes) -> None:
        super().__init__("operation pending")
        self.correlation_value = correlation_value


def is_long(operation: Operation, request: Struct) -> bool:
    """Whether ``operation`` with this 2.1 ``request`` is one the server answers asynchronously when allowed."""
    if operation in _LONG_OPERATIONS:
        return True
    if operation in (Operation.CREATE_KEY_PAIR, Operation.RE_KEY_KEY_PAIR) and isinstance(
        request, S.CreateKeyPairRequest | S.ReKeyKeyPairRequest
    ):
        groups = (request.common_attributes, request.private_key_attributes, request.public_key_attributes)
        attrs = [a for a in groups if isinstance(a, Attributes)]
        algorithm = next((a.get(Tag.CRYPTOGRAPHIC_ALGORITHM) for a in attrs if Tag.CRYPTOGRAPHIC_ALGORITHM in a), None)
        length = next((a.get(Tag.CRYPTOGRAPHIC_LENGTH) for a in attrs if Tag.CRYPTOGRAPHIC_LENGTH in a), None)
        return algorithm == CryptographicAlgorithm.RSA and isinstance(length, int) and length >= LONG_RSA_BITS
    return False


def wanted(indicator: object, operation: Operation, request: Struct) -> bool:
    """Whether to answer this item asynchronously, given the header's Asynchronous Indicator (1.x: a Boolean,
    2.x: Mandatory / Optional / Prohibited)."""
    if indicator is None or indicator is False or operation in _NEVER:
        return False
    if indicator == AsynchronousIndicator.PROHIBITED:
        return False
    # 1.x sends a Boolean, and True == 1 == Mandatory: only the 2.x enumeration can make it Mandatory.
    if indicator == AsynchronousIndicator.MANDATORY and indicator is not True:
        return True
    return is_long(operation, request)


@dataclass
class _Pending:
    user: str
    operation: Operation
    submitted: int
    future: Future[Struct]
    finished_at: float | None = None


class AsynchronousOperations:
    """The operations answered Pending by this engine, by Asynchronous Correlation Value."""

    def __init__(self, clock: Callable[[], float] = time.time, workers: int = 2) -> None:
        self._clock = clock
        self._workers = workers
        # Reentrant: cancelling a queued future runs its done callback (``_finished``) at once, under this lock.
        self._lock = threading.RLock()
        self._pending: dict[bytes, _Pending] = {}
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, user: str, operation: Operation, run: Callable[[], Struct]) -> bytes | None:
        """Start ``run`` in the background; its Asynchronous Correlation Value, or None when too many are pending
        (the caller then runs it synchronously)."""
        with self._lock:
            self._expire()
            if len(self._pending) >= MAX_PENDING:
                return None
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="keystead-async")
            value = os.urandom(16)
            future = self._executor.submit(run)
            self._pending[value] = _Pending(user, operation, int(self._clock()), future)
        future.add_done_callback(lambda _f: self._finished(value))
        return value

    def _finished(self, value: bytes) -> None:
        with self._lock:
            pending = self._pending.get(value)
            if pending is not None:
                pending.finished_at = time.monotonic()

    def _expire(self) -> None:
        now = time.monotonic()
        for value in [v for v, p in self._pending.items() if p.finished_at and now - p.finished_at > RESULT_TTL]:
            del self._pending[value]

    def _find(self, value: bytes, user: str) -> _Pending:
        pending = self._pending.get(value)
        # Another user's operation is reported exactly like an unknown one: its existence is not theirs to learn.
        if pending is None or pending.user != user:
            raise KmipError(
                ResultReason.INVALID_ASYNCHRONOUS_CORRELATION_VALUE, "no pending operation has this correlation value"
            )
        return pending

    def poll(self, value: bytes, user: str) -> tuple[Operation, Struct]:
        """§6.1.38: the finished operation and its response (or its error), once; OperationPending while it
        runs."""
        with self._lock:
            pending = self._find(value, user)
            if not pending.future.done():
                raise OperationPending(value)
            del self._pending[value]
        if pending.future.cancelled():
            raise KmipError(ResultReason.OPERATION_CANCELED_BY_REQUESTER, "the operation was canceled")
        return pending.operation, pending.future.result()  # raises the operation's own KmipError

    def cancel(self, value: bytes, user: str) -> CancellationResult:
        """§6.1.5: Canceled if it had not started, Unable To Cancel once running, Completed when done."""
        with self._lock:
            pending = self._find(value, user)
            if pending.future.cancel():
                return CancellationResult.CANCELED
            if pending.future.done():
                return CancellationResult.COMPLETED
            return CancellationResult.UNABLE_TO_CANCEL

    def requests(self, user: str) -> list[S.AsynchronousRequest]:
        """§6.1.41: ``user``'s operations answered Pending and not yet polled."""
        with self._lock:
            mine = [(v, p) for v, p in self._pending.items() if p.user == user]
        return [
            S.AsynchronousRequest(
                asynchronous_correlation_value=value,
                operation=pending.operation,
                submission_date=pending.submitted,
                processing_stage=_stage(pending.future),
            )
            for value, pending in mine
        ]

    def close(self) -> None:
        """Stop the pool after the running operations (server shutdown)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _stage(future: Future[Struct]) -> ProcessingStage:
    if future.done():
        return ProcessingStage.COMPLETED
    if future.running():
        return ProcessingStage.IN_PROCESS
    return ProcessingStage.SUBMITTED


__all__ = ["LONG_RSA_BITS", "AsynchronousOperations", "OperationPending", "is_long", "wanted"]
