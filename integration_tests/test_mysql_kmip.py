"""MySQL's KMIP keyrings, replayed (integrations/mysql/README.md).

- MySQL Enterprise ``keyring_okv`` (``kmip_vectors/keyring_okv``): KMIP 1.1, Maximum Response Size 280000, an
  Attribute Index before every Attribute Value, the Storage Status Mask sent as an Integer.
- Percona Server's ``component_keyring_kmip`` (``kmip_vectors/percona-mysql``): 1.0 and 1.4 headers on one
  connection, Object Group, Register + Activate of a key and of a Password (Secret Data), Locate + Get + Get
  Attributes "Name", Revoke + Destroy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    from ._keystead_server import KeysteadProcess  # type: ignore[import-not-found,unused-ignore]
    from ._replay import Connection, Replay, Response, client_context, undefined_tags, walk_all
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import KeysteadProcess
    from _replay import Connection, Replay, Response, client_context, undefined_tags, walk_all

from kms_backend.kmip._registry_data import ResultReason, Tag

pytestmark = [pytest.mark.integration]

#: What write_vectors.py puts in Percona's Registers.
BINLOG_KEY = bytes(range(0x10, 0x30))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(tmp_path_factory.mktemp("mysql"))
    yield process
    assert process.stop() == 0


@pytest.fixture
def connection(server: KeysteadProcess) -> Iterator[Connection]:
    certs = server.certs
    assert certs is not None and server.kmip_port is not None
    files: tuple[Path, Path, Path] = (certs / "ca.pem", certs / "client.pem", certs / "client.key")
    context = client_context(*files, check_hostname=False)
    with Connection(context, "127.0.0.1", server.kmip_port, "localhost") as open_connection:
        yield open_connection


def step(replay: Replay, connection: Connection, stem: str) -> Response:
    response = replay.step(connection, stem)
    assert response.ok, (stem, response.reason, response.message)
    assert undefined_tags(response, response.version) == [], stem
    return response


def test_keyring_okv(connection: Connection) -> None:
    replay = Replay("keyring_okv")
    uid = step(replay, connection, "01-create").value(Tag.UNIQUE_IDENTIFIER)
    replay.keep("key", uid)
    step(replay, connection, "02-activate")
    assert step(replay, connection, "03-locate").values(Tag.UNIQUE_IDENTIFIER) == [uid]
    assert len(step(replay, connection, "04-get").value(Tag.KEY_MATERIAL)) == 32
    step(replay, connection, "05-revoke")
    step(replay, connection, "06-destroy")
    gone = replay.step(connection, "04-get")
    assert not gone.ok and gone.reason == ResultReason.ITEM_NOT_FOUND


def test_percona_component_keyring_kmip(connection: Connection) -> None:
    replay = Replay("percona-mysql")
    key = step(replay, connection, "01-register-key").value(Tag.UNIQUE_IDENTIFIER)
    replay.keep("key", key)
    step(replay, connection, "02-activate-key")
    password = step(replay, connection, "03-register-password").value(Tag.UNIQUE_IDENTIFIER)
    replay.keep("password", password)
    step(replay, connection, "04-activate-password")
    # Locate by Object Type + Object Group: the group's symmetric keys only, not the password.
    assert step(replay, connection, "05-locate-group").values(Tag.UNIQUE_IDENTIFIER) == [key]
    assert step(replay, connection, "06-get-key").value(Tag.KEY_MATERIAL) == BINLOG_KEY
    named = step(replay, connection, "07-get-attributes-name")
    assert [i.value for i in walk_all(named.payload, Tag.NAME_VALUE)] == ["percona_binlog-1"]
    step(replay, connection, "08-revoke-key")
    step(replay, connection, "09-destroy-key")
    assert step(replay, connection, "05-locate-group").values(Tag.UNIQUE_IDENTIFIER) == []
    # Mixed versions on one connection: every answer came back in its request's version (Replay.step checks).
    assert {(r.version) for _stem, _request, r in replay.sent} == {(1, 0), (1, 4)}
