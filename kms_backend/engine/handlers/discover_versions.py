"""Discover Versions (KMIP 2.1 §6.1.16): the protocol versions both sides support, server's preference first."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip.registry import SUPPORTED_VERSIONS
from ..context import RequestContext


def handle(ctx: RequestContext, request: S.DiscoverVersionsRequest) -> S.DiscoverVersionsResponse:
    asked = {(v.protocol_version_major, v.protocol_version_minor) for v in request.protocol_version}
    versions = [v for v in SUPPORTED_VERSIONS if not asked or v in asked]
    return S.DiscoverVersionsResponse(
        protocol_version=[S.ProtocolVersion(protocol_version_major=a, protocol_version_minor=b) for a, b in versions]
    )


__all__ = ["handle"]
