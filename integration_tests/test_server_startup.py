"""``keystead serve`` on a machine where nothing exists yet: the data directory and the SQLite file's folder are
created (mode 0700, they hold keys), the server answers, and what it stored is there after a restart."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

try:
    from ._keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess

pytestmark = pytest.mark.integration


def _create_key(url: str) -> str:
    response = httpx.post(f"{url}/kmip/2_1", json={"tag": "Create", "value": CREATE_AES_PAYLOAD}, timeout=30)
    assert response.status_code == 200, response.text
    return next(c["value"] for c in response.json()["value"] if c["tag"] == "UniqueIdentifier")


def _get(url: str, uid: str) -> int:
    payload = [{"tag": "UniqueIdentifier", "type": "TextString", "value": uid}]
    return httpx.post(f"{url}/kmip/2_1", json={"tag": "Get", "value": payload}, timeout=30).status_code


def test_serve_creates_a_missing_data_directory_and_database_folder(tmp_path: Path) -> None:
    data = tmp_path / "absent" / "data"
    database = tmp_path / "elsewhere" / "db" / "kms.db"
    args = ("--data-dir", str(data), "--database", f"sqlite:///{database}", "--kmip-port", "0")
    server = KeysteadProcess.start(tmp_path / "run", *args, tls=False)
    try:
        assert httpx.get(f"{server.http_url}/health", timeout=10).status_code == 200
        uid = _create_key(server.http_url)
    finally:
        assert server.stop() == 0
    for folder in (data, database.parent):
        assert folder.is_dir()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert database.is_file()

    again = KeysteadProcess.start(tmp_path / "run", *args, tls=False)
    try:
        assert _get(again.http_url, uid) == 200
    finally:
        assert again.stop() == 0


def test_serve_creates_the_default_database_under_a_missing_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    server = KeysteadProcess.start(tmp_path / "run", "--data-dir", str(data), "--kmip-port", "0", tls=False)
    try:
        assert httpx.get(f"{server.http_url}/health", timeout=10).status_code == 200
        _create_key(server.http_url)
    finally:
        assert server.stop() == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert any(data.iterdir())
