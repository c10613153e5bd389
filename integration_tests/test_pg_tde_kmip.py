"""Percona pg_tde's KMIP key provider, replayed (integrations/pg_tde/README.md): libkmip's bytes from
``kmip_vectors/pg_tde``, a new mutual-TLS connection per operation, Register under a 1.4 header, Locate by Object
Type + Name and Get under 1.0 (no Located Items, a bare Key Value), duplicate names detectable."""

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

from kms_backend.kmip._registry_data import ItemType, ResultReason, Tag

pytestmark = [pytest.mark.integration]

#: The key write_vectors.py puts in pg_tde's Register (pg_tde generates it; the server only stores it).
PRINCIPAL_KEY = bytes(range(0xA0, 0xC0))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(tmp_path_factory.mktemp("pg_tde"))
    yield process
    assert process.stop() == 0


def tls_files(server: KeysteadProcess) -> tuple[Path, Path, Path]:
    certs = server.certs
    assert certs is not None
    return certs / "ca.pem", certs / "client.pem", certs / "client.key"


def pg_tde_operation(server: KeysteadProcess, replay: Replay, stem: str) -> Response:
    """pg_tde opens a new TLS connection for every keyring operation and never verifies the server."""
    assert server.kmip_port is not None
    context = client_context(*tls_files(server), check_hostname=False)
    with Connection(context, "127.0.0.1", server.kmip_port, "localhost") as connection:
        response = replay.step(connection, stem)
    assert response.ok, (stem, response.reason, response.message)
    assert undefined_tags(response, response.version) == [], stem
    return response


def test_register_locate_get(server: KeysteadProcess) -> None:
    replay = Replay("pg_tde")
    registered = pg_tde_operation(server, replay, "01-register")
    uid = registered.value(Tag.UNIQUE_IDENTIFIER)
    located = pg_tde_operation(server, replay, "02-locate")
    assert located.values(Tag.UNIQUE_IDENTIFIER) == [uid]
    assert walk_all(located.payload, Tag.LOCATED_ITEMS) == []
    replay.keep("key", uid)
    got = pg_tde_operation(server, replay, "03-get")
    key_value = walk_all(got.payload, Tag.KEY_VALUE)
    assert len(key_value) == 1 and key_value[0].type == ItemType.STRUCTURE
    # libkmip reads Key Material and nothing else: no attribute inside the Key Value.
    assert [child.tag for child in key_value[0].value] == [Tag.KEY_MATERIAL]
    assert key_value[0].value[0].value == PRINCIPAL_KEY

    # Duplicate names: pg_tde fails when Locate answers more than one identifier for its key name. Keystead keeps
    # names unique per object type, so a second Register of the name is refused and Locate keeps answering one.
    context = client_context(*tls_files(server), check_hostname=False)
    with Connection(context, "127.0.0.1", server.kmip_port or 0, "localhost") as connection:
        again = replay.step(connection, "01-register")
    assert not again.ok and again.reason == ResultReason.INVALID_FIELD
    assert "already used" in (again.message or "")
    located = pg_tde_operation(server, replay, "02-locate")
    assert located.values(Tag.UNIQUE_IDENTIFIER) == [uid]


def test_vectors_use_libkmip_s_versions() -> None:
    replay = Replay("pg_tde")
    versions = {stem: (replay.request(stem)[35], replay.request(stem)[51]) for stem in ("01-register", "02-locate")}
    assert versions == {"01-register": (1, 4), "02-locate": (1, 0)}
