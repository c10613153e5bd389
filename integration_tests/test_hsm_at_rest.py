"""``keystead serve`` with a KEK, driven over HTTP: the raw database files never contain key material (the exact
bytes Get returns are searched for), ``hsm::`` keys work through /kmip/2_1, and a blob altered or moved in the
database gives a KMIP error while the server keeps serving."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    from ._hsm import Token, find_tag, secret_values, softhsm_tokens  # type: ignore[import-not-found,unused-ignore]
    from ._keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess, uid_payload  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _hsm import Token, find_tag, secret_values, softhsm_tokens
    from _keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess, uid_payload

pytestmark = pytest.mark.integration

CREATE_RSA_PAYLOAD: list[dict[str, object]] = [
    {
        "tag": "CommonAttributes",
        "value": [
            {"tag": "CryptographicAlgorithm", "type": "Enumeration", "value": "RSA"},
            {"tag": "CryptographicLength", "type": "Integer", "value": 2048},
        ],
    }
]


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    yield from (tokens[0] for tokens in softhsm_tokens(tmp_path_factory.mktemp("softhsm"), "kst-at-rest"))


def call(http: httpx.Client, operation: str, payload: list[dict[str, object]]) -> dict[str, Any]:
    response = http.post("/kmip/2_1", json={"tag": operation, "value": payload})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def uid_of(body: dict[str, Any], tag: str = "UniqueIdentifier") -> str:
    return str(find_tag(body, tag)[0]["value"])


def create_and_get_secrets(http: httpx.Client) -> tuple[list[str], list[bytes]]:
    """An AES key, an RSA key pair and secret data; the uids and every secret value Get returned."""
    uids = [uid_of(call(http, "Create", CREATE_AES_PAYLOAD))]
    pair = call(http, "CreateKeyPair", CREATE_RSA_PAYLOAD)
    uids.append(uid_of(pair, "PrivateKeyUniqueIdentifier"))
    secret_payload = [
        {"tag": "ObjectType", "type": "Enumeration", "value": "SecretData"},
        {"tag": "Attributes", "value": []},
    ]
    uids.append(uid_of(call(http, "Create", secret_payload)))
    secrets = [value for uid in uids for value in secret_values(call(http, "Get", uid_payload(uid)))]
    assert len(secrets) >= 3
    return uids, secrets


def database_bytes(data_dir: Path) -> bytes:
    """Every byte the database left on disk (main file, WAL, shared memory)."""
    return b"".join(path.read_bytes() for path in sorted(data_dir.iterdir()) if path.is_file())


def test_the_raw_database_holds_no_key_material(hsm: Token, tmp_path: Path) -> None:
    process = KeysteadProcess.start(tmp_path / "hsm", *hsm.options("kek-rest", create=True), tls=False)
    try:
        with httpx.Client(base_url=process.http_url, timeout=30) as http:
            uids, secrets = create_and_get_secrets(http)
    finally:
        assert process.stop() == 0
    raw = database_bytes(tmp_path / "hsm" / "data")
    assert all(uid.encode() in raw for uid in uids)  # the objects are there...
    leaked = [s.hex()[:16] for s in secrets if s in raw]
    assert not leaked  # ...but none of their key material


def test_the_search_finds_key_material_without_an_hsm(tmp_path: Path) -> None:
    """Control for the test above: the same search over a store without a KEK (and with the software KEK turned
    off) finds every secret."""
    process = KeysteadProcess.start(tmp_path / "plain", "--no-seal-keys", tls=False)
    try:
        with httpx.Client(base_url=process.http_url, timeout=30) as http:
            _uids, secrets = create_and_get_secrets(http)
    finally:
        assert process.stop() == 0
    raw = database_bytes(tmp_path / "plain" / "data")
    assert all(s in raw for s in secrets)


@pytest.fixture(scope="module")
def server(hsm: Token, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(
        tmp_path_factory.mktemp("ops"), *hsm.options("kek-ops", create=True), "--hsm-admins", "admin", tls=False
    )
    yield process
    assert process.stop() == 0


def test_hsm_resident_keys_over_http(server: KeysteadProcess) -> None:
    slot = server.stdout.read_text().split("(slot ", 1)[1].split(")", 1)[0]
    uid = f"hsm::{slot}::http-aes"
    create = [
        {"tag": "ObjectType", "type": "Enumeration", "value": "SymmetricKey"},
        {
            "tag": "Attributes",
            "value": [
                {"tag": "CryptographicAlgorithm", "type": "Enumeration", "value": "AES"},
                {"tag": "CryptographicLength", "type": "Integer", "value": 256},
                {"tag": "UniqueIdentifier", "type": "TextString", "value": uid},
            ],
        },
    ]
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        assert uid_of(call(http, "Create", create)) == uid
        data = {"tag": "Data", "type": "ByteString", "value": b"over http".hex().upper()}
        encrypted = call(http, "Encrypt", [*uid_payload(uid), data])
        decrypt = [
            *uid_payload(uid),
            find_tag(encrypted, "Data")[0],
            find_tag(encrypted, "IVCounterNonce")[0],
            find_tag(encrypted, "AuthenticatedEncryptionTag")[0],
        ]
        assert bytes.fromhex(find_tag(call(http, "Decrypt", decrypt), "Data")[0]["value"]) == b"over http"
        refused = http.post("/kmip/2_1", json={"tag": "Get", "value": uid_payload(uid)})
        assert "never leaves the HSM" in refused.text
        assert uid_of(call(http, "Destroy", uid_payload(uid))) == uid


def test_altered_or_moved_blobs_fail_cleanly(server: KeysteadProcess) -> None:
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        first = uid_of(call(http, "Create", CREATE_AES_PAYLOAD))
        second = uid_of(call(http, "Create", CREATE_AES_PAYLOAD))
        database = Path(server.stdout.read_text().split("store sqlite:///", 1)[1].split()[0])
        with sqlite3.connect(database) as db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            table = next(t for t in tables if t.endswith("objects"))
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            blob_column = next(c for c in columns if c in ("object_bytes", "object", "object_blob"))
            blob = db.execute(f"SELECT {blob_column} FROM {table} WHERE uid = ?", (first,)).fetchone()[0]
            db.execute(f"UPDATE {table} SET {blob_column} = ? WHERE uid = ?", (blob, second))  # moved
        moved = http.post("/kmip/2_1", json={"tag": "Get", "value": uid_payload(second)})
        assert moved.status_code != 200 or "failed authentication" in moved.text
        assert "failed authentication" in moved.text
        assert call(http, "Get", uid_payload(first))  # the original is intact and the server keeps serving
