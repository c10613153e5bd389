"""The Data field of the cryptographic operations: present when needed, bytes, and bounded."""

from __future__ import annotations

from typing import Any

from ...kmip._registry_data import (
    ResultReason,
)
from ...kmip.errors import KmipError

#: Largest Data one request may carry (the transports bound messages too; this bounds what the engine processes).
MAX_DATA_BYTES = 64 * 1024 * 1024


def request_data(value: Any, *, required: bool = True) -> bytes:
    """The Data field of a request as bytes (Invalid Message when missing and required; Server Limit Exceeded
    beyond ``MAX_DATA_BYTES``)."""
    if value is None:
        if required:
            raise KmipError(ResultReason.INVALID_MESSAGE, "the request carries no Data")
        return b""
    if not isinstance(value, bytes | bytearray):
        raise KmipError(ResultReason.INVALID_FIELD, "Data must be a Byte String")
    if len(value) > MAX_DATA_BYTES:
        raise KmipError(
            ResultReason.SERVER_LIMIT_EXCEEDED, f"Data of {len(value)} bytes exceeds the {MAX_DATA_BYTES}-byte limit"
        )
    return value if type(value) is bytes else bytes(value)


def required_bytes(value: Any, field: str) -> bytes:
    """A Byte String field other than Data that the request must carry (Invalid Message when missing)."""
    if value is None:
        raise KmipError(ResultReason.INVALID_MESSAGE, f"the request carries no {field}")
    return bytes(value)


__all__ = ["MAX_DATA_BYTES", "request_data", "required_bytes"]
