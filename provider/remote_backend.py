"""``RemoteBackend``: a Keystead or Cosmian KMS over HTTPS, one KMIP Request Message per operation in JSON TTLV
on ``POST /kmip/2_1`` (mutual TLS with a client certificate, or a bearer token).

A full Request Message (rather than Cosmian's bare-operation form) is sent because both servers accept it and
its Response Message carries the Result Reason of a failure in a standard place.
"""

from __future__ import annotations

import signal
import ssl
from typing import Any

import httpx

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import json_codec, messages
from kms_backend.kmip._registry_data import Operation, ResultReason, ResultStatus
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Struct

from .backend import Identity
from .config import BackendConfig

PROTOCOL_VERSION = S.ProtocolVersion(protocol_version_major=2, protocol_version_minor=1)
#: HTTP statuses the KMS uses for authentication failures, as the KMIP reason a caller can map.
_HTTP_REASONS = {401: ResultReason.AUTHENTICATION_NOT_SUCCESSFUL, 403: ResultReason.PERMISSION_DENIED}


class RemoteBackend:
    """Sends each operation to ``{url}/kmip/2_1``; one pooled HTTP/1.1 client per backend (thread-safe)."""

    def __init__(self, config: BackendConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        if not config.url:
            raise ValueError("a remote backend needs a URL")
        self.endpoint = config.url.rstrip("/") + "/kmip/2_1"
        self.default_token = config.bearer_token
        # One SSLContext holding the CA and the client certificate: httpx 0.28 ignores ``cert=`` when ``verify``
        # is a path, which silently drops the client certificate of mutual TLS.
        context = ssl.create_default_context(cafile=config.tls_ca) if config.tls_ca else ssl.create_default_context()
        if config.tls_cert and config.tls_key:
            context.load_cert_chain(config.tls_cert, config.tls_key)
        self._client = httpx.Client(
            verify=context,
            timeout=config.timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def run(self, operation: Operation, payload: Struct, identity: Identity) -> Struct:
        """Run one operation remotely; ``KmipError`` with the server's reason on failure."""
        request = S.RequestMessage(
            request_header=S.RequestHeader(protocol_version=PROTOCOL_VERSION, batch_count=1),
            batch_item=[S.RequestBatchItem(operation=operation, request_payload=payload)],
        )
        body = json_codec.encode(messages.encode(request))
        headers = {"Content-Type": "application/json"}
        token = identity.bearer_token or self.default_token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            reply = _without_sigpipe(self._client.post, self.endpoint, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise KmipError(ResultReason.INTERNAL_SERVER_ERROR, f"KMS unreachable: {type(exc).__name__}") from None
        if reply.status_code in _HTTP_REASONS:
            raise KmipError(_HTTP_REASONS[reply.status_code], f"KMS refused the request ({reply.status_code})")
        try:
            response = messages.decode_response(json_codec.decode(reply.content))
        except KmipError:
            raise KmipError(
                ResultReason.INTERNAL_SERVER_ERROR, f"unreadable KMS response (HTTP {reply.status_code})"
            ) from None
        items = response.batch_item
        if len(items) != 1:
            raise KmipError(ResultReason.INTERNAL_SERVER_ERROR, "KMS answered with a wrong number of batch items")
        item = items[0]
        if item.result_status != ResultStatus.SUCCESS:
            reason = item.result_reason if item.result_reason is not None else ResultReason.GENERAL_FAILURE
            raise KmipError(ResultReason(reason), item.result_message or "operation failed")
        if item.response_payload is None:
            raise KmipError(ResultReason.INTERNAL_SERVER_ERROR, "KMS response has no payload")
        return item.response_payload

    def close(self) -> None:
        self._client.close()


_SIGPIPE = {signal.SIGPIPE}


def _without_sigpipe(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``call`` with SIGPIPE blocked in this thread: a KMS that drops a connection must give this request an
    error, not kill a C host that keeps SIGPIPE's default action (Python only ignores it in its own programs)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGPIPE)
    try:
        return call(*args, **kwargs)
    finally:
        if signal.SIGPIPE not in previous:
            if signal.SIGPIPE in signal.sigpending():
                signal.sigtimedwait(_SIGPIPE, 0)
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


__all__ = ["RemoteBackend"]
