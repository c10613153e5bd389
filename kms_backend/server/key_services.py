"""External key services served beside the KMIP API: Google Workspace client-side encryption (``/google_cse``,
``google_cse``) and Microsoft Purview Double Key Encryption (``/ms_dke``, ``ms_dke``).

Each is switched on by its public URL in the configuration; ``routes`` is the one hook the HTTP application calls.
Both keep their keys in this KMS and use them through the engine (``engine_call``), as any KMIP client would.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..kmip._registry_data import Operation
from ..kmip.schema import Struct

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from .auth import Fetcher
    from .config import ServerConfig
    from .http_app import Route


def routes(config: ServerConfig, engine: Engine, *, fetch: Fetcher | None = None) -> list[Route]:
    """The routes of the key services that ``config`` switches on (none by default)."""
    found: list[Route] = []
    if config.google_cse_kacls_url:
        from .google_cse import GoogleCse

        found += GoogleCse(config, engine, fetch=fetch).routes()
    if config.ms_dke_service_url:
        from .ms_dke import MsDke

        found += MsDke(config, engine, fetch=fetch).routes()
    return found


def engine_call(engine: Engine, user: str) -> Callable[[Operation, Struct], Any]:
    """``call(operation, payload)``: one KMIP 2.1 operation run by the engine for ``user`` (KmipError on failure)."""

    def call(operation: Operation, payload: Struct) -> Any:
        return engine.run_operation(operation, payload, user)

    return call


def b64decode(value: object, field: str, max_bytes: int) -> bytes:
    """Standard base64 (padding optional, URL-safe alphabet tolerated) of at most ``max_bytes`` decoded bytes;
    ValueError naming ``field`` otherwise."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{field}' must be a non-empty base64 string")
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"'{field}' is not valid base64") from None
    if len(raw) > max_bytes:
        raise ValueError(f"'{field}' is {len(raw)} bytes, more than the {max_bytes} allowed")
    return raw


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object; ValueError otherwise."""
    if not body:
        raise ValueError("a JSON body is required")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


__all__ = ["b64decode", "b64encode", "engine_call", "json_object", "routes"]
