"""RNG Retrieve (KMIP 2.1 §6.1.49): Data Length bytes from the server's CSPRNG (the operating system's)."""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ..context import RequestContext


def handle(ctx: RequestContext, request: S.RNGRetrieveRequest) -> S.RNGRetrieveResponse:
    return S.RNGRetrieveResponse(data=crypto.random_bytes(request.data_length))


__all__ = ["handle"]
