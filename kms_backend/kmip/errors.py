"""The one KMIP error type and its codec-specific subclasses.

Everything that fails on behalf of a KMIP request raises ``KmipError(reason, message)``; the batch layer turns it
into a failed batch item, HTTP maps the reason to a status, the PKCS#11 provider to a CKR_* code.
"""

from __future__ import annotations

from ._registry_data import ResultReason


class KmipError(Exception):
    """A KMIP failure with its Result Reason (KMIP 2.1 §11.45) and a message safe to return to the client."""

    def __init__(self, reason: ResultReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason.name}, {self.message!r})"


class DecodeError(KmipError):
    """Malformed input to a codec (binary, JSON or XML): the only exception ``decode`` functions raise."""

    def __init__(self, message: str, reason: ResultReason = ResultReason.INVALID_MESSAGE) -> None:
        super().__init__(reason, message)


class EncodeError(KmipError):
    """A tree or typed object that cannot be represented in the requested encoding."""

    def __init__(self, message: str, reason: ResultReason = ResultReason.GENERAL_FAILURE) -> None:
        super().__init__(reason, message)


__all__ = ["DecodeError", "EncodeError", "KmipError"]
