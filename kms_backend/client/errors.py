"""What a client call raises: the project's one ``KmipError`` (Result Reason + message), refined by where it failed.

``KmsOperationError``: the server answered and refused (its Result Reason and Result Message, verbatim).
``KmsHttpError``: the HTTP layer refused before KMIP (401, 403, 404, 413…), mapped to the closest reason.
``KmsConnectionError``: no server could be reached or the exchange broke off (after retries and failover).
``KmsProtocolError``: an answer that is not a valid KMIP response.
"""

from __future__ import annotations

from ..kmip._registry_data import Operation, ResultReason
from ..kmip.errors import KmipError

#: HTTP statuses the KMS answers outside KMIP, as the Result Reason a caller can act on.
HTTP_REASONS: dict[int, ResultReason] = {
    400: ResultReason.INVALID_MESSAGE,
    401: ResultReason.AUTHENTICATION_NOT_SUCCESSFUL,
    403: ResultReason.PERMISSION_DENIED,
    404: ResultReason.ITEM_NOT_FOUND,
    413: ResultReason.RESPONSE_TOO_LARGE,
    415: ResultReason.INVALID_MESSAGE,
    422: ResultReason.INVALID_MESSAGE,
    503: ResultReason.GENERAL_FAILURE,
}


class KmsError(KmipError):
    """Base of every client failure."""


class KmsOperationError(KmsError):
    """The server ran the operation and it failed: ``reason`` and ``message`` are the server's."""

    def __init__(self, operation: Operation | None, reason: ResultReason, message: str) -> None:
        super().__init__(reason, message)
        self.operation = operation

    def __str__(self) -> str:
        name = self.operation.name.replace("_", " ").title().replace(" ", "") if self.operation else "request"
        return f"{name} failed: {self.reason.name.replace('_', ' ').title()}: {self.message}"


class KmsHttpError(KmsError):
    """The HTTP server refused the request before KMIP saw it."""

    def __init__(self, status: int, body: str) -> None:
        reason = HTTP_REASONS.get(status, ResultReason.GENERAL_FAILURE)
        super().__init__(reason, f"HTTP {status}: {body.strip()[:500]}")
        self.status = status


class KmsConnectionError(KmsError):
    """No configured server could be reached, or a connection broke off mid-exchange."""

    def __init__(self, message: str) -> None:
        super().__init__(ResultReason.GENERAL_FAILURE, message)


class KmsProtocolError(KmsError):
    """The server's answer is not a KMIP response this client can read."""

    def __init__(self, message: str) -> None:
        super().__init__(ResultReason.INVALID_MESSAGE, message)


__all__ = ["HTTP_REASONS", "KmsConnectionError", "KmsError", "KmsHttpError", "KmsOperationError", "KmsProtocolError"]
