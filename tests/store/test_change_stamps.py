"""Change stamps across servers: two stores opened on one database stand for two ``keystead serve`` nodes.

A stamp must move, at once, for every commit of the other node (``StoreTransaction.change_stamp``): the engines
then keep objects and Plans between requests on every store, and a Revoke on one node is refused by the next
request on the other (the bound is zero requests, measured here over many rounds)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

import pytest

from kms_backend.engine import Engine
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    ObjectType,
    Operation,
    PaddingMethod,
    ResultReason,
    RevocationReasonCode,
    Tag,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes
from kms_backend.store import ObjectStore, StoredObject, StoreTransaction, open_store
from kms_backend.store._stamps import PolledStamp

from .conftest import REDIS_KEY

SHARED = ["sqlite-file", "postgresql", "mariadb", "redis"]
OWNER, OTHER = "alice", "bob"
GET, ENCRYPT = int(Operation.GET), int(Operation.ENCRYPT)
CBC = S.CryptographicParameters(
    cryptographic_algorithm=CryptographicAlgorithm.AES,
    block_cipher_mode=BlockCipherMode.CBC,
    padding_method=PaddingMethod.PKCS5,
)
DATA = bytes(range(32))


def _stamp(store: ObjectStore) -> Hashable:
    stamp = store.change_stamp()  # type: ignore[attr-defined]
    assert stamp is not None
    return stamp


def _settled(store: ObjectStore) -> Hashable:
    """A stamp that two back-to-back reads agree on (PostgreSQL's moves with any transaction of the cluster, and
    other tests share it), proving the stamp is not simply new on every read."""
    for _ in range(200):
        first = _stamp(store)
        if _stamp(store) == first:
            return first
    raise AssertionError("the change stamp never held still")


def _record(uid: str, **changes: object) -> StoredObject:
    record = StoredObject(uid=uid, object_type=2, owner=OWNER, state=1, object_bytes=b"k", attributes_bytes=b"a")
    for name, value in changes.items():
        setattr(record, name, value)
    return record


@pytest.mark.parametrize("store_url", SHARED, indirect=True)
def test_every_kind_of_commit_by_another_node_moves_the_stamp(open_test_store: Callable[[], ObjectStore]) -> None:
    here, there = open_test_store(), open_test_store()
    writes: list[Callable[[StoreTransaction], object]] = [
        lambda tx: tx.insert(_record("k1", names=["n1"])),
        lambda tx: tx.update(_record("k1", state=2, revision=1)),
        lambda tx: tx.grant("k1", OTHER, [GET]),
        lambda tx: tx.revoke("k1", OTHER, [GET]),
        lambda tx: tx.set_privileged(OTHER, True),
        lambda tx: tx.delete("k1"),
    ]
    for write in writes:
        before = _settled(here)
        with there.transaction() as tx:
            write(tx)
        assert _stamp(here) != before, write


@pytest.mark.parametrize("store_url", SHARED, indirect=True)
def test_a_transaction_gives_one_stamp_until_it_writes(open_test_store: Callable[[], ObjectStore]) -> None:
    here, there = open_test_store(), open_test_store()
    with here.transaction() as tx:
        stamp = tx.change_stamp()
        assert stamp is not None
        with there.transaction() as other:
            other.insert(_record("k2"))
        # Taken once, before the reads it vouches for: a commit after it only makes later reads newer.
        assert tx.change_stamp() == stamp
        assert tx.get("k2") is not None
        tx.grant("k2", OTHER, [GET])
        assert tx.change_stamp() is None  # its reads may now show its own uncommitted writes
    assert _stamp(here) != stamp


@pytest.mark.parametrize("store_url", ["sqlite-file", "postgresql", "mariadb"], indirect=True)
def test_a_rolled_back_transaction_leaves_the_data_the_stamp_vouches_for(
    open_test_store: Callable[[], ObjectStore],
) -> None:
    here, there = open_test_store(), open_test_store()
    with there.transaction() as tx:
        tx.insert(_record("k3"))
    with pytest.raises(RuntimeError), there.transaction() as tx:
        tx.delete("k3")
        raise RuntimeError("roll back")
    with here.transaction() as tx:
        assert tx.change_stamp() is not None
        assert tx.get("k3") is not None


# --- two engines, one database -----------------------------------------------------------------------------------


def _engine(store: ObjectStore) -> Engine:
    engine = Engine(store)
    assert engine.caches.hot is not None and engine.caches.plans is not None
    return engine


def _active_key(engine: Engine) -> str:
    attributes = Attributes(
        [
            (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES),
            (Tag.CRYPTOGRAPHIC_LENGTH, 256),
            (Tag.CRYPTOGRAPHIC_USAGE_MASK, 0x0C),
        ]
    )
    create = S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attributes)
    uid = str(engine.run_operation(Operation.CREATE, create, OWNER).unique_identifier)
    engine.run_operation(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid), OWNER)
    return uid


def _encrypt(engine: Engine, uid: str, user: str = OWNER) -> None:
    request = S.EncryptRequest(unique_identifier=uid, cryptographic_parameters=CBC, data=DATA)
    engine.run_operation(Operation.ENCRYPT, request, user)


def _refused(engine: Engine, uid: str, user: str = OWNER) -> ResultReason:
    with pytest.raises(KmipError) as info:
        _encrypt(engine, uid, user)
    return info.value.reason


@pytest.mark.parametrize("store_url", SHARED, indirect=True)
def test_a_revoke_on_one_node_is_refused_by_the_next_request_on_the_other(
    open_test_store: Callable[[], ObjectStore],
) -> None:
    node_a, node_b = _engine(open_test_store()), _engine(open_test_store())
    rounds = 20
    for _ in range(rounds):
        uid = _active_key(node_a)
        for _ in range(3):
            _encrypt(node_b, uid)  # node B keeps the object and the Plan
        assert node_b.caches.plans is not None and len(node_b.caches.plans) >= 1
        reason = S.RevocationReason(revocation_reason_code=RevocationReasonCode.CESSATION_OF_OPERATION)
        node_a.run_operation(Operation.REVOKE, S.RevokeRequest(unique_identifier=uid, revocation_reason=reason), OWNER)
        assert _refused(node_b, uid) == ResultReason.WRONG_KEY_LIFECYCLE_STATE
        get = S.GetRequest(unique_identifier=uid)
        node_b.run_operation(Operation.GET, get, OWNER)  # a revoked key can still be read by its owner
        node_a.run_operation(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid), OWNER)
        with pytest.raises(KmipError):
            node_b.run_operation(Operation.GET, get, OWNER)


@pytest.mark.parametrize("store_url", SHARED, indirect=True)
def test_a_grant_withdrawn_on_one_node_is_refused_by_the_next_request_on_the_other(
    open_test_store: Callable[[], ObjectStore],
) -> None:
    from kms_backend.engine import access

    node_a, node_b = _engine(open_test_store()), _engine(open_test_store())
    uid = _active_key(node_a)
    for _ in range(10):
        access.grant(node_a, OWNER, uid, OTHER, [ENCRYPT])
        for _ in range(3):
            _encrypt(node_b, uid, OTHER)
        access.revoke(node_a, OWNER, uid, OTHER, [ENCRYPT])
        assert _refused(node_b, uid, OTHER) == ResultReason.PERMISSION_DENIED


@pytest.mark.parametrize("store_url", SHARED, indirect=True)
def test_kept_objects_serve_repeated_reads_on_every_store(open_test_store: Callable[[], ObjectStore]) -> None:
    store = open_test_store()
    engine = _engine(store)
    uid = _active_key(engine)
    for _ in range(2):
        engine.run_operation(Operation.GET, S.GetRequest(unique_identifier=uid), OWNER)
    hot = engine.caches.hot
    assert hot is not None
    # A Get under a stamp that held still leaves the record kept under that very stamp (PostgreSQL's stamp may
    # move with other databases' transactions meanwhile: then try again).
    for _ in range(50):
        stamp = _settled(store)
        engine.run_operation(Operation.GET, S.GetRequest(unique_identifier=uid), OWNER)
        if hot.record(uid, stamp) is not None:
            return
    raise AssertionError("no Get kept its record")


# --- a polled stamp: a documented lag instead of a query per request ----------------------------------------------

LAG = 0.3


@pytest.mark.parametrize("store_url", ["postgresql", "mariadb", "redis"], indirect=True)
def test_with_a_lag_a_revoke_on_another_node_is_seen_within_it(store_url: str) -> None:
    stores = [open_store(store_url, redis_key=REDIS_KEY, stamp_lag=LAG) for _ in range(2)]
    try:
        node_a, node_b = _engine(stores[0]), _engine(stores[1])
        for _ in range(3):
            uid = _active_key(node_a)
            for _ in range(3):
                _encrypt(node_b, uid)
            reason = S.RevocationReason(revocation_reason_code=RevocationReasonCode.CESSATION_OF_OPERATION)
            revoke = S.RevokeRequest(unique_identifier=uid, revocation_reason=reason)
            node_a.run_operation(Operation.REVOKE, revoke, OWNER)
            committed = time.monotonic()  # the commit finished before this
            while True:
                sent = time.monotonic()
                try:
                    _encrypt(node_b, uid)
                except KmipError as exc:
                    assert exc.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE
                    break
                # Only a request that started less than LAG after the commit may still use the key (so the loop
                # ends: the first request started LAG after the commit is refused, or this fails).
                assert sent - committed < LAG
    finally:
        for store in stores:
            store.close()


@pytest.mark.parametrize("store_url", ["postgresql", "mariadb", "redis"], indirect=True)
def test_with_a_lag_this_nodes_own_changes_are_seen_at_once_and_requests_query_nothing(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(store_url, redis_key=REDIS_KEY, stamp_lag=5.0)
    try:
        stamps = store.stamps  # type: ignore[attr-defined]
        queries = [0]
        original = stamps._poll

        def counted() -> Hashable:
            queries[0] += 1
            return original()  # type: ignore[no-any-return]

        engine = _engine(store)
        uid = _active_key(engine)
        _encrypt(engine, uid)
        deadline = time.monotonic() + 5
        while stamps._polled is None and time.monotonic() < deadline:  # the polling thread's first value
            time.sleep(0.01)
        stamps._poll = counted
        reads = _count_reads(store, monkeypatch)
        for _ in range(50):
            engine.run_operation(Operation.GET, S.GetRequest(unique_identifier=uid), OWNER)
            _encrypt(engine, uid)
        assert reads[0] <= 2  # kept objects and Plans: the database is not asked again
        assert queries[0] <= 2  # one poll each 5/3 s at most
        reason = S.RevocationReason(revocation_reason_code=RevocationReasonCode.CESSATION_OF_OPERATION)
        engine.run_operation(Operation.REVOKE, S.RevokeRequest(unique_identifier=uid, revocation_reason=reason), OWNER)
        assert _refused(engine, uid) == ResultReason.WRONG_KEY_LIFECYCLE_STATE
    finally:
        store.close()


def _count_reads(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the object and grant reads of the store's transactions from now on (in a list of one)."""
    count = [0]
    with store.transaction() as tx:
        cls = type(tx)
    for name in ("get", "get_many", "grants", "operations_granted"):
        original = getattr(cls, name)

        def counting(
            self: object, *args: object, _original: Callable[..., object] = original, **kwargs: object
        ) -> object:
            count[0] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counting)
    return count


def test_a_polled_stamp_is_used_only_while_younger_than_the_lag() -> None:
    now = [100.0]
    polls = iter(range(1000))
    stamps = PolledStamp(lambda: next(polls), lag=10.0, clock=lambda: now[0])
    try:
        direct = stamps.stamp(lambda: "read")
        assert direct == (0, "read")  # nothing polled yet: read now
        deadline = time.monotonic() + 5
        while stamps._polled is None and time.monotonic() < deadline:
            time.sleep(0.01)
        polled = stamps.stamp(lambda: "read")
        assert polled[1] != "read"  # type: ignore[index]
        stamps.note_commit()
        assert stamps.stamp(lambda: "read")[0] == 1  # type: ignore[index]  # own commits move it at once
        stamps._stop.set()  # no more polls: the value ages
        stamps._thread.join(timeout=5)  # type: ignore[union-attr]
        now[0] += 10.0
        assert stamps.stamp(lambda: "read") == (1, "read")
    finally:
        stamps.close()
    with pytest.raises(ValueError, match="negative"):
        PolledStamp(lambda: 0, lag=-1)
