"""KEK rotation in-process: every object re-sealed under the new KEK, an interrupted run resumed, plaintext objects
sealed, the old KEK relabelled or destroyed, and a server that keeps running follows the label."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kms_backend.engine import Engine
from kms_backend.engine.objects import RecordCodec
from kms_backend.hsm import HsmSessions, KekSealer, UnsealCache, rotate_kek, sealed_kek_id
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ObjectType, Operation, Tag
from kms_backend.kmip.schema import Attributes
from kms_backend.store.memory import MemoryStore

from .conftest import token, unique


class Interrupted(Exception):
    pass


@pytest.fixture
def sessions(softhsm) -> Iterator[HsmSessions]:
    tok = token(softhsm, "rotation")
    pool = HsmSessions(tok.module, tok.label, tok.pin)
    pool.connect()
    yield pool
    pool.close()


def make_engine(sealer: KekSealer, store: MemoryStore) -> Engine:
    return Engine(store, records=RecordCodec(sealer.seal, sealer.unseal))


def create(engine: Engine, n: int) -> dict[str, bytes]:
    attrs = Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 128)])
    keys = {}
    for _ in range(n):
        request = S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attrs)
        uid = str(engine.run_operation(Operation.CREATE, request, "alice").unique_identifier)
        keys[uid] = material(engine, uid)
    return keys


def material(engine: Engine, uid: str) -> bytes:
    response = engine.run_operation(Operation.GET, S.GetRequest(unique_identifier=uid), "alice")
    return bytes(response.managed_object.key_block.key_value.key_material)


def kek_ids(store: MemoryStore) -> set[bytes | None]:
    uids = list(store.all_uids())
    with store.transaction() as tx:
        return {sealed_kek_id(r.object_bytes) for r in tx.get_many(uids)}


def test_rotation_reseals_everything_and_relabels_the_old_kek(sessions: HsmSessions) -> None:
    label = unique("kek")
    server = KekSealer(sessions, label, cache=UnsealCache(100))
    old = server.open(create=True)
    store = MemoryStore()
    engine = make_engine(server, store)
    keys = create(engine, 6)
    report = rotate_kek(store, KekSealer(sessions, label))
    assert report.resealed == 6 and report.retired == f"{label}.retired.{old.kek_id.hex()}"
    assert kek_ids(store) == {report.new_kek}
    assert [k.can_encrypt for k in server.find(report.retired)] == [False]
    assert [k.kek_id for k in server.find(label)] == [report.new_kek]
    server.cache.clear()
    assert {uid: material(engine, uid) for uid in keys} == keys
    # the running server seals new objects under the new KEK (it follows the label)
    new_uid = next(iter(create(engine, 1)))
    with store.transaction() as tx:
        assert sealed_kek_id(tx.get(new_uid).object_bytes) == report.new_kek


def test_an_interrupted_rotation_resumes_and_destroys_the_old_kek(sessions: HsmSessions) -> None:
    label = unique("kek")
    server = KekSealer(sessions, label)
    old = server.open(create=True)
    store = MemoryStore()
    engine = make_engine(server, store)
    keys = create(engine, 8)

    def stop_after_three(_uid: str, count: int) -> None:
        if count == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        rotate_kek(store, KekSealer(sessions, label), progress=stop_after_three)
    assert len(kek_ids(store)) == 2  # half-way: some objects under each KEK
    assert {uid: material(engine, uid) for uid in keys} == keys  # all readable meanwhile
    more = create(engine, 2)  # a server keeps writing under the old KEK
    report = rotate_kek(store, KekSealer(sessions, label), retire="destroy")
    assert "resumed re-sealing" in report.phases and report.resealed == 7
    assert kek_ids(store) == {report.new_kek}
    assert not [k for k in server.find(label) if k.kek_id == old.kek_id]
    fresh = make_engine(KekSealer(sessions, label), store)
    assert {uid: material(fresh, uid) for uid in {**keys, **more}} == {**keys, **more}


def test_rotation_seals_objects_stored_in_plaintext(sessions: HsmSessions) -> None:
    label = unique("kek")
    KekSealer(sessions, label).open(create=True)
    store = MemoryStore()
    keys = create(Engine(store), 3)  # written before any KEK was configured
    assert kek_ids(store) == {None}
    report = rotate_kek(store, KekSealer(sessions, label))
    assert report.resealed == 3 and kek_ids(store) == {report.new_kek}
    engine = make_engine(KekSealer(sessions, label), store)
    assert {uid: material(engine, uid) for uid in keys} == keys
