"""Two servers on one database rotate their key-encryption key through key rings, while clients create and read
keys on both: each node has its own key file, the new key reaches one node's ring well before the other's, `keystead
store rekey` runs once, then the old key leaves the rings one node after the other. No request fails, every key
reads back identical on both nodes, and every object ends up sealed under the new key."""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kms_backend.cli import main
from kms_backend.sealing import key_id, sealed_kek_id
from kms_backend.sealing.active import POLL_SECONDS
from kms_backend.server.config import load_config
from kms_backend.server.serve import KeysteadServer
from kms_backend.store import open_store
from kms_backend.store.sql import SqlStore
from tests.store.conftest import wipe_sql

from .conftest import CREATE_AES, caller
from .test_sealed_at_rest import key_material


def write_ring(path: Path, *keys: bytes) -> None:
    """Replace the key file in one rename (as config management or a secret mount does), mode 0600."""
    staged = path.with_name(path.name + ".tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(b"# keystead key ring, oldest first\n" + b"".join(base64.b64encode(k) + b"\n" for k in keys))
    os.replace(staged, path)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.sqlite'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    cleaner = open_store(url)
    assert isinstance(cleaner, SqlStore)
    try:
        wipe_sql(cleaner)
    finally:
        cleaner.close()


class Traffic:
    """A client per node creating keys and reading back keys made on both nodes, until stopped."""

    def __init__(self, nodes: list[KeysteadServer]) -> None:
        self.calls = [caller(node) for node in nodes]
        self.created: dict[str, bytes] = {}
        self.failures: list[str] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(len(nodes))]

    def _run(self, index: int) -> None:
        call = self.calls[index]
        while not self._stop.is_set():
            try:
                response = call("POST", "/kmip/2_1", json=CREATE_AES)
                if response.status_code != 200:
                    raise AssertionError(f"Create: {response.status_code} {response.text[:200]}")
                uid = next(c["value"] for c in response.json()["value"] if c["tag"] == "UniqueIdentifier")
                value = key_material(call, uid)
                with self._lock:
                    self.created[uid] = value
                    others = list(self.created.items())[-5:]
                for other, expected in others:  # keys made on the other node too
                    if key_material(call, other) != expected:
                        raise AssertionError(f"Get {other}: another value")
                with self._lock:
                    self.requests += 2 + len(others)
            except Exception as exc:
                with self._lock:
                    self.failures.append(f"node {index}: {exc}")
                time.sleep(0.05)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def test_two_nodes_rotate_through_their_key_rings_under_load(tmp_path: Path, database: str) -> None:
    old, new = os.urandom(32), os.urandom(32)
    rings = [tmp_path / f"node{i}" / "keystead.kek" for i in range(2)]
    for ring in rings:
        ring.parent.mkdir()
        write_ring(ring, old)

    def options(i: int) -> dict[str, Any]:
        return {"database": database, "data_dir": str(tmp_path / f"node{i}"), "kek_file": str(rings[i])}

    nodes = [KeysteadServer(load_config({**options(i), "threads": 0})) for i in range(2)]
    try:
        with Traffic(nodes) as traffic:
            time.sleep(1)
            # 1. The new key reaches node 0's ring, and only later node 1's: nothing is sealed under it meanwhile.
            write_ring(rings[0], old, new)
            time.sleep(3 * POLL_SECONDS)
            write_ring(rings[1], old, new)
            time.sleep(3 * POLL_SECONDS)
            assert all(key_id(new) in node.sealer.keyring.known for node in nodes if node.sealer)
            # 2. Once, on one node: every server seals under the new key, every object is re-sealed under it.
            argv = ["store", "rekey", "--database", database, "--data-dir", options(0)["data_dir"]]
            assert main([*argv, "--kek-file", str(rings[0])]) == 0
            assert all(node.sealer and node.sealer.active_id == key_id(new) for node in nodes)
            # 3. The old key leaves the rings, node by node.
            write_ring(rings[1], new)
            time.sleep(2 * POLL_SECONDS)
            write_ring(rings[0], new)
            time.sleep(2 * POLL_SECONDS)
            assert all(key_id(old) not in node.sealer.keyring.known for node in nodes if node.sealer)
        assert traffic.failures == []
        assert len(traffic.created) > 10 and traffic.requests > 50
        for node in nodes:  # every key reads back identical on both nodes, under the new key only
            call = caller(node)
            assert {uid: key_material(call, uid) for uid in traffic.created} == traffic.created
        store = nodes[0].store
        blobs = {}
        for uid in store.all_uids():
            with store.transaction() as tx:
                record = tx.get(uid)
            assert record is not None
            blobs[uid] = sealed_kek_id(record.object_bytes)
        assert set(blobs.values()) == {key_id(new)}
    finally:
        for node in nodes:
            node.close()
