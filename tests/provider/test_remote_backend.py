"""RemoteBackend on the project's client, against an engine behind a client ``Transport`` double: the request goes
out as a Request Message with the login's bearer token (else the configured one), errors keep the server's reason,
HTTP refusals and an unreachable KMS become the reasons the provider maps to CKR_* codes."""

import pytest

from kms_backend.client import KmsHttpError
from kms_backend.client.transports import Unreachable
from kms_backend.engine import Engine
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation, ResultReason, Tag
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.ttlv import Item
from kms_backend.store.memory import MemoryStore
from provider.backends import Identity
from provider.backends.remote import RemoteBackend
from provider.config import BackendConfig


class EngineTransport:
    url = "https://kms.test:9998"

    def __init__(self) -> None:
        self.engine = Engine(MemoryStore())
        self.tokens: list[str | None] = []
        self.down = False

    def exchange(self, request: Item, token: str | None = None) -> Item:
        assert request.tag == Tag.REQUEST_MESSAGE
        self.tokens.append(token)
        if self.down:
            raise Unreachable(self.url, "ConnectionRefusedError", delivered=False)
        if token == "bad":
            raise KmsHttpError(401, "Unauthorized")
        return self.engine.process_tree(request, "admin")

    def http(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        raise AssertionError

    def close(self) -> None:
        pass


def test_round_trip_and_errors():
    transport = EngineTransport()
    config = BackendConfig(type="remote", url="https://kms.test:9998/", bearer_token="default")
    backend = RemoteBackend(config, transports=[transport])
    identity = Identity("admin")
    located = backend.run(Operation.LOCATE, S.LocateRequest(), identity)
    assert isinstance(located, S.LocateResponse)
    assert transport.tokens == ["default"]
    backend.run(Operation.LOCATE, S.LocateRequest(), Identity("admin", bearer_token="mine"))
    assert transport.tokens[-1] == "mine"
    with pytest.raises(KmipError) as info:
        backend.run(Operation.GET, S.GetRequest(unique_identifier="missing"), identity)
    assert info.value.reason == ResultReason.OBJECT_NOT_FOUND
    with pytest.raises(KmipError) as info:
        backend.run(Operation.LOCATE, S.LocateRequest(), Identity("admin", bearer_token="bad"))
    assert info.value.reason == ResultReason.AUTHENTICATION_NOT_SUCCESSFUL
    transport.down = True
    with pytest.raises(KmipError) as info:
        backend.run(Operation.LOCATE, S.LocateRequest(), identity)
    assert info.value.reason == ResultReason.INTERNAL_SERVER_ERROR and "KMS unreachable" in info.value.message
    with pytest.raises(KmipError) as info:
        backend.run(Operation.GET, S.LocateRequest(), identity)
    assert info.value.reason == ResultReason.INVALID_MESSAGE
    backend.close()
