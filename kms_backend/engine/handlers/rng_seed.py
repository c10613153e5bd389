"""RNG Seed (KMIP 2.1 §6.1.50): accept seed data. The OS CSPRNG takes no caller seed, so the data mixes nothing
in, and the response reports the amount accepted, as the operation allows (see ``crypto._random``)."""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ..context import RequestContext
from ._data import request_data


def handle(ctx: RequestContext, request: S.RNGSeedRequest) -> S.RNGSeedResponse:
    return S.RNGSeedResponse(data_length=crypto.seed(request_data(request.data)))


__all__ = ["handle"]
