"""Key material sealed at rest by default (SQLite, PostgreSQL, MariaDB): after keys are created and secrets
registered through the HTTP API, the raw database — every byte of the SQLite files, every row of every table of
the SQL servers — holds none of their values (raw, hex or base64); with sealing turned off the same search finds
them (the search works). A database written before sealing is sealed at the next start and still serves its keys."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kms_backend.sealing import key_id
from kms_backend.server.config import load_config
from kms_backend.server.serve import KeysteadServer, StartupError
from kms_backend.store.sql import SqlStore
from tests.store.conftest import wipe_sql

from .conftest import CREATE_AES, Call, caller, get_request


def start(tmp_path: Path, database: str, **options: Any) -> KeysteadServer:
    return KeysteadServer(
        load_config({"database": database, "data_dir": str(tmp_path / "data"), "threads": 0, **options})
    )


def key_values(call: Call, keys: int = 4, secrets: int = 2) -> list[bytes]:
    values = []
    for _ in range(keys):
        created = call("POST", "/kmip/2_1", json=CREATE_AES)
        assert created.status_code == 200, created.text
        uid = next(c["value"] for c in created.json()["value"] if c["tag"] == "UniqueIdentifier")
        values.append(key_material(call, uid))
    for _ in range(secrets):
        secret = os.urandom(24)
        register = {
            "tag": "Register",
            "value": [
                {"tag": "ObjectType", "type": "Enumeration", "value": "SecretData"},
                {"tag": "Attributes", "value": []},
                {
                    "tag": "SecretData",
                    "value": [
                        {"tag": "SecretDataType", "type": "Enumeration", "value": "Password"},
                        {
                            "tag": "KeyBlock",
                            "value": [
                                {"tag": "KeyFormatType", "type": "Enumeration", "value": "Opaque"},
                                {
                                    "tag": "KeyValue",
                                    "value": [{"tag": "KeyMaterial", "type": "ByteString", "value": secret.hex()}],
                                },
                            ],
                        },
                    ],
                },
            ],
        }
        registered = call("POST", "/kmip/2_1", json=register)
        assert registered.status_code == 200, registered.text
        values.append(secret)
    return values


def key_material(call: Call, uid: str) -> bytes:
    body = call("POST", "/kmip/2_1", json=get_request(uid)).json()

    def find(node: Any) -> str | None:
        if isinstance(node, dict):
            if node.get("tag") == "KeyMaterial" and node.get("type") == "ByteString":
                return str(node["value"])
            return find(node.get("value"))
        if isinstance(node, list):
            for child in node:
                if (found := find(child)) is not None:
                    return found
        return None

    material = find(body)
    assert material is not None, body
    return bytes.fromhex(material)


def raw_database(server: KeysteadServer, url: str) -> bytes:
    """Every byte the database holds: the SQLite files, or every column of every row of every table."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    store = server.store
    assert isinstance(store, SqlStore)
    out = bytearray()
    with store._engine.connect() as conn:
        for table in store._schema.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    out += value if isinstance(value, bytes) else str(value).encode()
    return bytes(out)


def found(raw: bytes, values: list[bytes]) -> list[bytes]:
    forms = lambda v: (v, v.hex().encode(), v.hex().upper().encode(), base64.b64encode(v))  # noqa: E731
    return [v for v in values if any(form in raw for form in forms(v))]


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'keystead.sqlite'}"
        return
    url = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    yield url
    server = start(tmp_path / "wipe", url, seal_keys=False)
    try:
        assert isinstance(server.store, SqlStore)
        wipe_sql(server.store)
    finally:
        server.close()


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "unsealed-control"])
def test_the_raw_database_holds_no_key_material(tmp_path: Path, database: str, sealed: bool) -> None:
    server = start(tmp_path, database, seal_keys=sealed)
    try:
        values = key_values(caller(server))
        raw = raw_database(server, database)
    finally:
        server.close()
    if sealed:
        assert found(raw, values) == []
        key_file = tmp_path / "data" / "keystead.kek"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    else:
        assert found(raw, values) == values


def test_an_unsealed_database_is_sealed_at_the_next_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keystead.sqlite'}"
    before = start(tmp_path, url, seal_keys=False)
    try:
        call = caller(before)
        values = key_values(call, keys=3, secrets=0)
        uids = list(before.store.all_uids())
    finally:
        before.close()
    after = start(tmp_path, url)
    try:
        assert "sealed at rest" in after.banner()
        call = caller(after)
        assert [key_material(call, uid) for uid in uids] == values
        assert found(raw_database(after, url), values) == []
    finally:
        after.close()
    assert (tmp_path / "data" / "sealed-stores").read_text().count("\n") == 1


def test_a_key_from_the_environment_and_a_wrong_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keystead.sqlite'}"
    kek = os.urandom(32).hex()
    first = start(tmp_path, url, kek=kek)
    try:
        call = caller(first)
        values = key_values(call, keys=1, secrets=0)
        uid = next(iter(first.store.all_uids()))
    finally:
        first.close()
    assert not (tmp_path / "data" / "keystead.kek").exists()  # no key file when the key is given
    # A server whose key cannot read what the store seals under refuses to start, saying which key it lacks.
    with pytest.raises(StartupError, match="not in this server's key ring"):
        start(tmp_path, url, kek=os.urandom(32).hex())
    # Given the store's key among its previous ones, it starts and reads; it seals under the store's key.
    other = os.urandom(32).hex()
    both = start(tmp_path, url, kek=other, kek_previous=kek)
    try:
        assert key_material(caller(both), uid) == values[0]
        assert both.sealer is not None and both.sealer.active_id == key_id(bytes.fromhex(kek))
    finally:
        both.close()
    right = start(tmp_path, url, kek=kek)
    try:
        assert key_material(caller(right), uid) == values[0]
    finally:
        right.close()
