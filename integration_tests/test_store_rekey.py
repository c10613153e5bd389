"""``keystead store rekey`` on a real data directory: killed (-9) mid-way, run again, it resumes; the keys the server
created before are served unchanged afterwards, under the new key file (0600), with the old one kept for backups."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

try:
    from ._keystead_server import CREATE_AES_PAYLOAD, REPO, KeysteadProcess, keystead, uid_payload  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from _keystead_server import CREATE_AES_PAYLOAD, REPO, KeysteadProcess, keystead, uid_payload


def material(http: httpx.Client, uid: str) -> str:
    body = http.post("/kmip/2_1", json={"tag": "Get", "value": uid_payload(uid)}).json()
    block = next(c for c in body["value"] if c["tag"] == "SymmetricKey")["value"][0]["value"]
    value = next(c for c in block if c["tag"] == "KeyValue")["value"]
    return str(next(c["value"] for c in value if c["tag"] == "KeyMaterial"))


def test_rekey_killed_then_resumed(tmp_path: Path) -> None:
    server = KeysteadProcess.start(tmp_path, tls=False)
    try:
        with httpx.Client(base_url=server.http_url, timeout=30) as http:
            uids = []
            for _ in range(12):
                created = http.post("/kmip/2_1", json={"tag": "Create", "value": CREATE_AES_PAYLOAD}).json()
                uids.append(next(c["value"] for c in created["value"] if c["tag"] == "UniqueIdentifier"))
            values = {uid: material(http, uid) for uid in uids}
    finally:
        assert server.stop() == 0
    data = tmp_path / "data"
    old_key = (data / "keystead.kek").read_bytes()

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.startswith("KEYSTEAD_")}
    slow = subprocess.Popen(
        [sys.executable, "-m", "kms_backend.cli", "store", "rekey", "--data-dir", str(data),
         "--throttle", "0.2", "--progress-every", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert slow.stdout is not None
    progress = [slow.stdout.readline() for _ in range(3)]
    assert all(line.startswith("re-sealed ") for line in progress), progress
    slow.send_signal(signal.SIGKILL)
    slow.communicate()
    assert (data / "keystead.kek.next").exists()
    assert (data / "keystead.kek").read_bytes() == old_key

    resumed = keystead("store", "rekey", "--data-dir", str(data), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed re-sealing" in resumed.stdout
    assert not (data / "keystead.kek.next").exists()
    assert (data / "keystead.kek").read_bytes() != old_key
    assert stat.S_IMODE((data / "keystead.kek").stat().st_mode) == 0o600
    retired = list(data.glob("keystead.kek.retired.*"))
    assert len(retired) == 1 and retired[0].read_bytes() == old_key

    server = KeysteadProcess.start(tmp_path, tls=False)
    try:
        with httpx.Client(base_url=server.http_url, timeout=30) as http:
            assert {uid: material(http, uid) for uid in uids} == values
    finally:
        assert server.stop() == 0
    # With the retired key deleted the objects still read: all of them were re-sealed under the new key.
    for path in retired:
        path.unlink()
    server = KeysteadProcess.start(tmp_path, tls=False)
    try:
        with httpx.Client(base_url=server.http_url, timeout=30) as http:
            assert {uid: material(http, uid) for uid in uids} == values
    finally:
        assert server.stop() == 0


def test_rekey_refuses_a_store_it_does_not_seal(tmp_path: Path) -> None:
    result = keystead("store", "rekey", "--data-dir", str(tmp_path / "data"), "--no-seal-keys", cwd=tmp_path)
    assert result.returncode == 2
    assert "nothing to rotate" in result.stderr
    started = time.monotonic()
    missing = keystead("store", "rekey", "--data-dir", str(tmp_path / "none"), cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert time.monotonic() - started < 60
