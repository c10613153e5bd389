"""A ``Transport`` test double: the engine in-process over a ``MemoryStore`` (no sockets), so client logic is tested
fast; the real transports are tested against a running server in ``integration_tests/test_client_cli.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kms_backend.client import ClientConfig, KmsClient
from kms_backend.engine import Engine, EngineConfig
from kms_backend.kmip.ttlv import Item
from kms_backend.store.memory import MemoryStore


class EngineTransport:
    """Runs each Request Message through an in-process engine as ``user``."""

    def __init__(self, engine: Engine, user: str = "alice", url: str = "test://engine") -> None:
        self.engine = engine
        self.user = user
        self.url = url
        self.exchanges = 0

    def exchange(self, request: Item, token: str | None = None) -> Item:
        self.exchanges += 1
        return self.engine.process_tree(request, self.user)

    def http(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        raise AssertionError("no HTTP routes in the engine double")

    def close(self) -> None:
        pass


@pytest.fixture
def engine() -> Engine:
    return Engine(MemoryStore(), EngineConfig())


@pytest.fixture
def kms(engine: Engine) -> Iterator[KmsClient]:
    with KmsClient(ClientConfig(), transports=[EngineTransport(engine)]) as client:
        yield client
