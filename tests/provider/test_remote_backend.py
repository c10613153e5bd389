"""RemoteBackend against an engine answering JSON TTLV Request Messages through httpx.MockTransport."""

import httpx
import pytest

from kms_backend.engine import Engine
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import json_codec
from kms_backend.kmip._registry_data import Operation, ResultReason
from kms_backend.kmip.errors import KmipError
from kms_backend.store.memory import MemoryStore
from provider.backend import Identity
from provider.config import BackendConfig
from provider.remote_backend import RemoteBackend


def make_backend(seen: list[httpx.Request]) -> RemoteBackend:
    engine = Engine(MemoryStore())

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("Authorization") == "Bearer bad":
            return httpx.Response(401)
        tree = engine.process_tree(json_codec.decode(request.content), "admin")
        return httpx.Response(200, content=json_codec.encode(tree), headers={"Content-Type": "application/json"})

    config = BackendConfig(type="remote", url="https://kms.test:9998/", bearer_token="default")
    return RemoteBackend(config, transport=httpx.MockTransport(answer))


def test_round_trip_and_errors():
    seen: list[httpx.Request] = []
    backend = make_backend(seen)
    identity = Identity("admin")
    located = backend.run(Operation.LOCATE, S.LocateRequest(), identity)
    assert isinstance(located, S.LocateResponse)
    assert seen[0].url == "https://kms.test:9998/kmip/2_1"
    assert seen[0].headers["Authorization"] == "Bearer default"
    with pytest.raises(KmipError) as info:
        backend.run(Operation.GET, S.GetRequest(unique_identifier="missing"), identity)
    assert info.value.reason == ResultReason.OBJECT_NOT_FOUND
    with pytest.raises(KmipError) as info:
        backend.run(Operation.LOCATE, S.LocateRequest(), Identity("admin", bearer_token="bad"))
    assert info.value.reason == ResultReason.AUTHENTICATION_NOT_SUCCESSFUL
    backend.close()
