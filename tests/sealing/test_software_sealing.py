"""The software key-encryption key: blobs sealed with AES-256-GCM bound to their object, key files created 0600,
migration of plaintext objects, and rotation (``keystead store rekey``) resumed after an interruption while a
server keeps running."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from kms_backend.engine import Engine
from kms_backend.engine.objects import RecordCodec
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ObjectType, Operation, ResultReason, Tag
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes
from kms_backend.sealing import (
    KeyFileKeyring,
    Keyring,
    SoftwareSealer,
    is_sealed,
    key_id,
    parse_key,
    rekey,
    seal_unsealed,
    sealed_kek_id,
)
from kms_backend.sealing.active import (
    NODE_FORGET_SECONDS,
    NODE_FRESH_SECONDS,
    ActiveKeyWatch,
    adopt_store_key,
    node_rings,
    servers_lacking,
    store_key,
)
from kms_backend.store import open_store
from kms_backend.store.base import ObjectStore


class Interrupted(Exception):
    pass


def create(engine: Engine, n: int) -> dict[str, bytes]:
    attrs = Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 256)])
    keys = {}
    for _ in range(n):
        request = S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attrs)
        uid = str(engine.run_operation(Operation.CREATE, request, "alice").unique_identifier)
        keys[uid] = material(engine, uid)
    return keys


def material(engine: Engine, uid: str) -> bytes:
    response = engine.run_operation(Operation.GET, S.GetRequest(unique_identifier=uid), "alice")
    return bytes(response.managed_object.key_block.key_value.key_material)


def blobs(store: ObjectStore) -> dict[str, bytes]:
    uids = list(store.all_uids())
    with store.transaction() as tx:
        return {r.uid: r.object_bytes for r in tx.get_many(uids)}


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    opened = open_store(f"sqlite:///{tmp_path / 'keys.sqlite'}")
    yield opened
    opened.close()


def sealed_engine(store: ObjectStore, sealer: SoftwareSealer) -> Engine:
    # A fresh codec each time: nothing decoded is carried over from another engine.
    return Engine(store, records=RecordCodec(sealer.seal, sealer.unseal))


def test_seal_binds_the_blob_to_its_object_and_detects_tampering() -> None:
    sealer = SoftwareSealer(Keyring(os.urandom(32)))
    blob = sealer.seal("uid-1", b"\x42secret key material")
    assert is_sealed(blob) and b"secret key material" not in blob
    assert sealed_kek_id(blob) == sealer.active_id
    assert sealer.unseal("uid-1", blob) == b"\x42secret key material"
    with pytest.raises(KmipError) as moved:
        sealer.unseal("uid-2", blob)  # copied onto another object
    assert moved.value.reason == ResultReason.CRYPTOGRAPHIC_FAILURE
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(KmipError):
        sealer.unseal("uid-1", flipped)
    with pytest.raises(KmipError) as other_key:
        SoftwareSealer(Keyring(os.urandom(32))).unseal("uid-1", blob)
    assert "no key-encryption key" in other_key.value.message


def test_plaintext_is_refused_unless_migrating() -> None:
    sealer = SoftwareSealer(Keyring(os.urandom(32)))
    with pytest.raises(KmipError) as refused:
        sealer.unseal("u", b"\x42\x00\x01")
    assert "unsealed" in refused.value.message
    assert SoftwareSealer(sealer.keyring, accept_plaintext=True).unseal("u", b"\x42\x00\x01") == b"\x42\x00\x01"


def test_key_file_is_created_0600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keystead.kek"
    first = KeyFileKeyring(path)
    assert first.created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_bytes())) == 32
    again = KeyFileKeyring(path)
    assert not again.created and again.active == first.active
    assert not list(path.parent.glob(".*.tmp"))
    with pytest.raises(FileNotFoundError):
        KeyFileKeyring(tmp_path / "missing.kek", create=False)


def test_keys_parse_from_raw_hex_and_base64() -> None:
    key = os.urandom(32)
    assert parse_key(key, "k") == parse_key(key.hex(), "k") == parse_key(base64.b64encode(key) + b"\n", "k") == key
    with pytest.raises(ValueError, match="32-byte"):
        parse_key("abcd", "--kek")


def test_plaintext_objects_are_sealed_in_place(store: ObjectStore) -> None:
    keys = create(Engine(store), 4)  # written before sealing existed
    assert not any(is_sealed(b) for b in blobs(store).values())
    sealer = SoftwareSealer(Keyring(os.urandom(32)))
    report = seal_unsealed(store, sealer)
    assert report.resealed == 4
    assert {sealed_kek_id(b) for b in blobs(store).values()} == {sealer.active_id}
    assert seal_unsealed(store, sealer).resealed == 0  # idempotent
    engine = sealed_engine(store, sealer)
    assert {uid: material(engine, uid) for uid in keys} == keys


def test_rekey_of_a_key_file_resumes_after_an_interruption(store: ObjectStore, tmp_path: Path) -> None:
    path = tmp_path / "keystead.kek"
    server = SoftwareSealer(KeyFileKeyring(path))
    engine = sealed_engine(store, server)
    keys = create(engine, 8)
    old_id = server.active_id

    def stop_after_three(_uid: str, count: int) -> None:
        if count == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        rekey(store, KeyFileKeyring(path), progress=stop_after_three, grace=0)
    assert path.with_name("keystead.kek.next").exists()
    # Mid-rotation the running server reads objects under both keys and still seals under the old one.
    assert {uid: material(sealed_engine(store, server), uid) for uid in keys} == keys
    keys |= create(engine, 1)
    report = rekey(store, KeyFileKeyring(path), grace=0)
    assert report.phases[0] == "resumed re-sealing"
    new_id = report.new_key
    assert new_id != old_id and report.old_key == old_id
    assert {sealed_kek_id(b) for b in blobs(store).values()} == {new_id}
    assert key_id(KeyFileKeyring(path, create=False).active) == new_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    retired = Path(report.retired)
    assert retired.name == f"keystead.kek.retired.{old_id.hex()}" and retired.exists()
    # The running server follows the switched key file on its next write, and reads everything.
    fresh = next(iter(create(engine, 1)))
    assert sealed_kek_id(blobs(store)[fresh]) == new_id
    assert {uid: material(sealed_engine(store, server), uid) for uid in keys} == keys


def test_rekey_destroy_removes_the_old_key(store: ObjectStore, tmp_path: Path) -> None:
    path = tmp_path / "keystead.kek"
    engine = sealed_engine(store, SoftwareSealer(KeyFileKeyring(path)))
    keys = create(engine, 3)
    report = rekey(store, KeyFileKeyring(path), retire="destroy", grace=0)
    assert report.retired == "destroyed"
    assert [p.name for p in tmp_path.glob("keystead.kek*")] == ["keystead.kek"]
    reader = sealed_engine(store, SoftwareSealer(KeyFileKeyring(path)))
    assert {uid: material(reader, uid) for uid in keys} == keys


def test_rekey_with_keys_from_the_environment(store: ObjectStore) -> None:
    old, new = os.urandom(32), os.urandom(32)
    keys = create(sealed_engine(store, SoftwareSealer(Keyring(old))), 3)
    keyring = Keyring(new, [old])
    report = rekey(store, keyring, grace=0)
    assert report.resealed == 3
    assert {sealed_kek_id(b) for b in blobs(store).values()} == {key_id(new)}
    reader = sealed_engine(store, SoftwareSealer(Keyring(new)))  # the old key is no longer needed
    assert {uid: material(reader, uid) for uid in keys} == keys


def write_ring(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def test_a_key_file_is_a_ring_of_keys_oldest_first(tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    path = tmp_path / "keystead.kek"
    write_ring(path, f"# rotated 2026-12\n{old.hex()}\n\n  {base64.b64encode(new).decode()}  \n")
    ring = KeyFileKeyring(path, create=False)
    assert ring.ring == [old, new] and ring.active == old and ring.newest == new
    assert set(ring.known) == {key_id(old), key_id(new)}
    write_ring(path, f"{old.hex()}\n{old.hex()}\n")
    with pytest.raises(ValueError, match="twice"):
        KeyFileKeyring(path, create=False)
    write_ring(path, f"{old.hex()}\nnot-a-key\n")
    with pytest.raises(ValueError, match="line 2"):
        KeyFileKeyring(path, create=False)
    write_ring(path, "# nothing yet\n")
    with pytest.raises(ValueError, match="holds no key"):
        KeyFileKeyring(path, create=False)


def test_the_store_names_the_key_every_server_seals_under(store: ObjectStore, tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    behind, ahead = tmp_path / "behind.kek", tmp_path / "ahead.kek"
    write_ring(behind, old.hex())
    write_ring(ahead, f"{old.hex()}\n{new.hex()}\n")
    late, early = SoftwareSealer(KeyFileKeyring(behind)), SoftwareSealer(KeyFileKeyring(ahead))
    adopt_store_key(store, late)
    adopt_store_key(store, early)  # its ring's newest key seals nothing until the store names it
    assert store_key(store) == key_id(old) and early.active_id == late.active_id == key_id(old)
    keys = create(sealed_engine(store, early), 2)
    assert {sealed_kek_id(b) for b in blobs(store).values()} == {key_id(old)}
    report = rekey(store, KeyFileKeyring(ahead), grace=0)
    assert report.phases == ["switched", "swept"] and report.resealed == 2
    assert store_key(store) == key_id(new) and key_id(old).hex() in report.advice
    assert {sealed_kek_id(b) for b in blobs(store).values()} == {key_id(new)}
    ActiveKeyWatch(store, early).check()
    assert early.active_id == key_id(new)
    # A server whose ring lacks the store's key cannot write; it says which key to add, and starts no more.
    ActiveKeyWatch(store, late).check()
    with pytest.raises(KmipError, match="lacks"):
        create(sealed_engine(store, late), 1)
    with pytest.raises(ValueError, match="not in this server's key ring"):
        adopt_store_key(store, SoftwareSealer(KeyFileKeyring(behind)))
    # Once the ring has the key (re-read when its file changes), it reads and writes again.
    write_ring(behind, f"{old.hex()}\n{new.hex()}\n")
    keys |= create(sealed_engine(store, late), 1)
    assert {uid: material(sealed_engine(store, late), uid) for uid in keys} == keys
    # Run again with nothing newer in the ring: it sweeps, and finds everything done.
    again = rekey(store, KeyFileKeyring(ahead), grace=0)
    assert again.resealed == 0 and again.already_done == 3
    write_ring(ahead, f"{old.hex()}\n{new.hex()}\n{os.urandom(32).hex()}\n")
    with pytest.raises(ValueError, match="retire destroy"):  # a ring's keys are the operator's to remove
        rekey(store, KeyFileKeyring(ahead), retire="destroy", grace=0)


def test_rekey_refuses_a_key_a_running_server_lacks(store: ObjectStore, tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    behind, ahead = tmp_path / "behind.kek", tmp_path / "ahead.kek"
    write_ring(behind, old.hex())
    write_ring(ahead, f"{old.hex()}\n{new.hex()}\n")
    servers = [SoftwareSealer(KeyFileKeyring(path)) for path in (behind, ahead)]
    for sealer in servers:
        adopt_store_key(store, sealer)
    watches = [ActiveKeyWatch(store, sealer).start() for sealer in servers]
    try:
        rings = {ring.name: ring.key_ids for ring in node_rings(store)}
        assert rings == {watches[0].name: {key_id(old)}, watches[1].name: {key_id(old), key_id(new)}}
        with pytest.raises(ValueError, match=f"{watches[0].name} \\(seen"):
            rekey(store, KeyFileKeyring(ahead), grace=0)
        assert store_key(store) == key_id(old)  # nothing switched
        # The lagging server's ring gets the key: it says so within a second, and the rotation goes ahead.
        write_ring(behind, f"{old.hex()}\n{new.hex()}\n")
        watches[0].check()
        assert servers_lacking(store, key_id(new)) == []
        assert rekey(store, KeyFileKeyring(ahead), grace=0).new_key == key_id(new)
    finally:
        for watch in watches:
            watch.stop()
    assert node_rings(store) == []  # a stopped server removes its record
    # A record not renewed for NODE_FRESH_SECONDS is a server gone: it does not block; after a day it is removed.
    lagging = ActiveKeyWatch(store, SoftwareSealer(KeyFileKeyring(tmp_path / "third.kek")))
    lagging.check()
    [ring] = node_rings(store)
    assert [r.name for r in servers_lacking(store, key_id(new), ring.seen + 1)] == [lagging.name]
    assert servers_lacking(store, key_id(new), ring.seen + NODE_FRESH_SECONDS + 1) == []
    assert node_rings(store) == [ring]
    servers_lacking(store, key_id(new), ring.seen + NODE_FORGET_SECONDS + 1)
    assert node_rings(store) == []
    # --force switches even so.
    write_ring(ahead, f"{new.hex()}\n{os.urandom(32).hex()}\n")
    lagging.check()
    report = rekey(store, KeyFileKeyring(ahead), grace=0, force=True)
    assert "switched" in report.phases
