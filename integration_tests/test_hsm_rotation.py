"""``keystead hsm rotate-kek`` as a subprocess, killed with SIGKILL half-way, then run again to the end: every
object stays readable throughout, ends up under the new KEK, the old KEK is retired, and the server starts with
the same settings afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kms_backend.engine import Engine
from kms_backend.hsm import HsmSettings, KekSealer, open_hsm, open_sessions, sealed_kek_id
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ObjectType, Operation, Tag
from kms_backend.kmip.schema import Attributes
from kms_backend.store import open_store

try:
    from ._hsm import Token, softhsm_tokens  # type: ignore[import-not-found,unused-ignore]
    from ._keystead_server import REPO, KeysteadProcess  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _hsm import Token, softhsm_tokens
    from _keystead_server import REPO, KeysteadProcess

pytestmark = pytest.mark.integration

KEK = "kek-rotation"
OBJECTS = 24


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    yield from (tokens[0] for tokens in softhsm_tokens(tmp_path_factory.mktemp("softhsm"), "kst-rotation"))


def settings(token: Token, create: bool = False) -> HsmSettings:
    return HsmSettings(token.softhsm.module, token.label, token.pin, KEK, create_kek=create, cache_size=0)


def read_all(token: Token, database: str, uids: list[str]) -> dict[str, bytes]:
    """Key material of every object, through a fresh engine (as a restarted server would read it)."""
    runtime = open_hsm(settings(token))
    store = open_store(database)
    try:
        engine = Engine(store, **runtime.engine_options())
        out = {}
        for uid in uids:
            response = engine.run_operation(Operation.GET, S.GetRequest(unique_identifier=uid), "admin")
            out[uid] = bytes(response.managed_object.key_block.key_value.key_material)
        return out
    finally:
        store.close()
        runtime.close()


def sealing_keks(database: str) -> dict[bytes | None, int]:
    store = open_store(database)
    try:
        counts: dict[bytes | None, int] = {}
        uids = list(store.all_uids())
        with store.transaction() as tx:
            for record in tx.get_many(uids):
                kek = sealed_kek_id(record.object_bytes)
                counts[kek] = counts.get(kek, 0) + 1
        return counts
    finally:
        store.close()


def rotate(tmp_path: Path, token: Token, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSTEAD_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    command = [
        sys.executable, "-m", "kms_backend.cli", "hsm", "rotate-kek",
        "--data-dir", str(tmp_path / "data"), *token.options(KEK), "--progress-every", "1", *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_rotation_killed_midway_then_finished(hsm: Token, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'data' / 'keystead.sqlite'}"
    (tmp_path / "data").mkdir()
    runtime = open_hsm(settings(hsm, create=True))
    old_kek = runtime.kek.kek_id
    store = open_store(database)
    try:
        engine = Engine(store, **runtime.engine_options())
        attrs = Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 256)])
        uids = [
            str(
                engine.run_operation(
                    Operation.CREATE, S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attrs), "admin"
                ).unique_identifier
            )
            for _ in range(OBJECTS)
        ]
    finally:
        store.close()
        runtime.close()
    keys = read_all(hsm, database, uids)
    assert sealing_keks(database) == {old_kek: OBJECTS}

    first = rotate(tmp_path, hsm, "--throttle", "0.05")
    assert first.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = first.stdout.readline()
        if line.startswith("re-sealed 8 objects") or not line:
            break
    first.kill()  # SIGKILL: no cleanup of any kind
    first.communicate(timeout=30)
    assert first.returncode == -9
    halfway = sealing_keks(database)
    assert halfway[old_kek] < OBJECTS and sum(halfway.values()) == OBJECTS and len(halfway) == 2
    assert read_all(hsm, database, uids) == keys  # every object readable mid-rotation

    second = rotate(tmp_path, hsm)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "resumed re-sealing" in out and "KEK rotated" in out
    done = sealing_keks(database)
    assert len(done) == 1 and old_kek not in done
    assert read_all(hsm, database, uids) == keys

    sessions = open_sessions(settings(hsm))
    try:
        retired = KekSealer(sessions, f"{KEK}.retired.{old_kek.hex()}").find(f"{KEK}.retired.{old_kek.hex()}")
        assert [k.can_encrypt for k in retired] == [False]
        assert [k.kek_id for k in KekSealer(sessions, KEK).find(KEK)] == list(done)
    finally:
        sessions.close()
    process = KeysteadProcess.start(tmp_path / "serve", "--database", database, *hsm.options(KEK), tls=False)
    assert process.stop() == 0
