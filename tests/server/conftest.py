"""Server test fixtures: the ASGI app over ``MemoryStore``, driven in-process through ``httpx.ASGITransport``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kms_backend.server.config import load_config
from kms_backend.server.serve import KeysteadServer
from kms_backend.store.memory import MemoryStore

Call = Callable[..., httpx.Response]

CREATE_AES = {
    "tag": "Create",
    "value": [
        {"tag": "ObjectType", "type": "Enumeration", "value": "SymmetricKey"},
        {
            "tag": "Attributes",
            "value": [
                {"tag": "CryptographicAlgorithm", "type": "Enumeration", "value": "AES"},
                {"tag": "CryptographicLength", "type": "Integer", "value": 256},
            ],
        },
    ],
}


def get_request(uid: str) -> dict[str, Any]:
    return {"tag": "Get", "value": [{"tag": "UniqueIdentifier", "type": "TextString", "value": uid}]}


def build_server(**options: Any) -> KeysteadServer:
    """An in-process server (no listener) over a fresh MemoryStore; ``options`` as in the YAML file."""
    options.setdefault("database", "memory://")
    return KeysteadServer(load_config(options), store=MemoryStore())


def caller(server: KeysteadServer) -> Call:
    """A synchronous ``call(method, path, **httpx_kwargs)`` against the server's ASGI app."""

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def run() -> httpx.Response:
            transport = httpx.ASGITransport(app=server.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://keystead.test") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(run())

    return call


@pytest.fixture
def server() -> Any:
    srv = build_server(threads=2)
    yield srv
    srv.close()


@pytest.fixture
def call(server: KeysteadServer) -> Call:
    return caller(server)
