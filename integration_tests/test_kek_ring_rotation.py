"""Rotating the key-encryption key of a running cluster, by the README's own steps: ``ha-up`` starts three nodes on
one PostgreSQL database (``deploy/ha/cluster.py``: every node reads the key ring ``$HA_DIR/keystead.kek``), then
``kek-add`` puts a new key in the ring, ``kek-rekey`` runs ``keystead store rekey`` once and ``kek-drop`` takes the
old key out, while clients create keys and read keys made on every node, on two nodes directly. No request fails,
every key reads back identical from every node afterwards, and every stored object is sealed under the new key."""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from integration_tests._ha import readme_cluster, readme_step
from integration_tests._keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess, uid_payload
from kms_backend.sealing import key_id, sealed_kek_id
from kms_backend.store import open_store


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    with readme_cluster("postgresql", tmp_path) as (directory, env):
        yield directory, env


def material(http: httpx.Client, uid: str) -> str:
    response = http.post("/kmip/2_1", json={"tag": "Get", "value": uid_payload(uid)})
    if response.status_code != 200:
        raise AssertionError(f"Get {uid}: {response.status_code} {response.text[:300]}")
    block = next(c for c in response.json()["value"] if c["tag"] == "SymmetricKey")["value"][0]["value"]
    value = next(c for c in block if c["tag"] == "KeyValue")["value"]
    return str(next(c["value"] for c in value if c["tag"] == "KeyMaterial"))


def test_a_cluster_rotates_its_key_ring_under_load(cluster: tuple[Path, dict[str, str]]) -> None:
    directory, env = cluster
    state = json.loads((directory / "cluster.json").read_text())
    token = (directory / "tokens").read_text().split(":")[0]
    urls = [f"https://127.0.0.1:{node['http_port']}" for node in state["nodes"]]
    ca = ssl.create_default_context(cafile=str(Path(state["certs"]) / "ca.pem"))

    def client(url: str) -> httpx.Client:
        return httpx.Client(base_url=url, verify=ca, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    created: dict[str, str] = {}
    failures: list[str] = []
    counts = [0, 0]
    lock = threading.Lock()
    stop = threading.Event()

    def load(index: int) -> None:
        with client(urls[index]) as http:
            while not stop.is_set():
                try:
                    response = http.post("/kmip/2_1", json={"tag": "Create", "value": CREATE_AES_PAYLOAD})
                    if response.status_code != 200:
                        raise AssertionError(f"Create: {response.status_code} {response.text[:300]}")
                    uid = next(c["value"] for c in response.json()["value"] if c["tag"] == "UniqueIdentifier")
                    value = material(http, uid)
                    with lock:
                        created[uid] = value
                        recent = list(created.items())[-6:]  # made on both nodes
                    for other, expected in recent:
                        if material(http, other) != expected:
                            raise AssertionError(f"Get {other}: another value")
                    with lock:
                        counts[index] += 1
                except Exception as exc:  # every failure is recorded and fails the test
                    with lock:
                        failures.append(f"node{index}: {exc}")
                    time.sleep(0.1)

    ring = directory / "keystead.kek"
    old = base64.b64decode(ring.read_text().split()[0])
    threads = [threading.Thread(target=load, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        added = readme_step("kek-add", env)
        assert added.returncode == 0, added.stderr
        new = base64.b64decode(ring.read_text().split()[-1])
        assert ring.stat().st_mode & 0o077 == 0
        time.sleep(2)
        rekeyed = readme_step("kek-rekey", env)
        assert rekeyed.returncode == 0, rekeyed.stdout + rekeyed.stderr
        assert "re-sealed" in rekeyed.stdout and key_id(old).hex() in rekeyed.stdout, rekeyed.stdout
        before_drop = list(counts)
        dropped = readme_step("kek-drop", env)
        assert dropped.returncode == 0, dropped.stderr
        assert ring.read_text().split() == [base64.b64encode(new).decode()]
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert min(before_drop) > 3 and min(counts) > min(before_drop)  # both nodes served before and after
    for url in urls:  # every node, the third included, reads every key with the old key gone
        with client(url) as http:
            assert {uid: material(http, uid) for uid in created} == created
    store = open_store(env["DATABASE_URL"])
    try:
        sealed_under = set()
        for uid in store.all_uids():
            with store.transaction() as tx:
                record = tx.get(uid)
            assert record is not None
            sealed_under.add(sealed_kek_id(record.object_bytes))
    finally:
        store.close()
    assert sealed_under == {key_id(new)}


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_rereads_the_key_ring(tmp_path: Path, workers: int) -> None:
    """SIGHUP (to the server, or to the parent of its workers) re-reads the ring and stops nothing."""
    ring = tmp_path / "ring.kek"
    fd = os.open(ring, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
    os.close(fd)
    server = KeysteadProcess.start(tmp_path, "--kek-file", str(ring), "--workers", str(workers), tls=False)
    try:
        new = os.urandom(32)
        with ring.open("ab") as out:
            out.write(base64.b64encode(new) + b"\n")
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while key_id(new).hex() not in server.stderr.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert key_id(new).hex() in server.stderr.read_text()
        assert server.alive()
        with httpx.Client(base_url=server.http_url, timeout=30) as http:
            assert http.get("/health").status_code == 200
            created = http.post("/kmip/2_1", json={"tag": "Create", "value": CREATE_AES_PAYLOAD})
            assert created.status_code == 200
    finally:
        assert server.stop() == 0
