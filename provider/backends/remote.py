"""``RemoteBackend``: a Keystead or Cosmian KMS, through the project's client (``kms_backend.client``): one KMIP
Request Message per operation over a kept connection, JSON TTLV on ``POST /kmip/2_1`` (or binary TTLV on the
mutual-TLS KMIP port with a ``kmip://`` URL), mutual TLS with a client certificate or a bearer token per login,
failover across comma-separated URLs.

A full Request Message (rather than Cosmian's bare-operation form) is sent because both servers accept it and
its Response Message carries the Result Reason of a failure in a standard place.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from typing import TypeVar

from kms_backend.client import ClientConfig, KmsClient, KmsConnectionError, KmsProtocolError, Transport
from kms_backend.kmip._registry_data import Operation, ResultReason
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Struct

from ..config import BackendConfig
from .base import Identity

T = TypeVar("T")


class RemoteBackend:
    """Runs each operation on the configured KMS; thread-safe (the client pools its connections)."""

    def __init__(self, config: BackendConfig, *, transports: Sequence[Transport] | None = None) -> None:
        if not config.url:
            raise ValueError("a remote backend needs a URL")
        client_config = ClientConfig(
            urls=tuple(u.strip().rstrip("/") for u in config.url.split(",") if u.strip()),
            tls_cert=config.tls_cert,
            tls_key=config.tls_key,
            tls_ca=config.tls_ca,
            token=config.bearer_token,
            timeout=config.timeout,
            # An application waiting on a PKCS#11 call is better told at once that the KMS is down.
            retries=0,
        )
        self.default_token = config.bearer_token
        self._client = KmsClient(client_config, transports=transports)

    def run(self, operation: Operation, payload: Struct, identity: Identity) -> Struct:
        """Run one operation remotely; ``KmipError`` with the server's reason on failure."""
        if KmsClient.operation_of(payload) != operation:
            raise KmipError(ResultReason.INVALID_MESSAGE, f"{type(payload).__name__} is not a {operation.name}")
        token = identity.bearer_token or self.default_token
        try:
            return _without_sigpipe(lambda: self._client.run(payload, token=token))
        except KmsConnectionError as exc:
            raise KmipError(ResultReason.INTERNAL_SERVER_ERROR, f"KMS unreachable: {exc.message}") from None
        except KmsProtocolError as exc:
            raise KmipError(ResultReason.INTERNAL_SERVER_ERROR, f"unreadable KMS response: {exc.message}") from None

    def close(self) -> None:
        self._client.close()


_SIGPIPE = {signal.SIGPIPE}


def _without_sigpipe(call: Callable[[], T]) -> T:
    """Run ``call`` with SIGPIPE blocked in this thread: a KMS that drops a connection must give this request an
    error, not kill a C host that keeps SIGPIPE's default action (Python only ignores it in its own programs)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGPIPE)
    try:
        return call()
    finally:
        if signal.SIGPIPE not in previous:
            if signal.SIGPIPE in signal.sigpending():
                signal.sigtimedwait(_SIGPIPE, 0)
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


__all__ = ["RemoteBackend"]
