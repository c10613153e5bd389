"""The ObjectStore contract (kms_backend/store/base.py), run on every backend: memory, SQLite (file and memory),
PostgreSQL, MariaDB and Redis."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy import Column, Index, MetaData, String, Table, inspect, text

import kms_backend.store as store_package
from kms_backend.store import (
    EVERYONE,
    LocateQuery,
    NameConflict,
    ObjectStore,
    SettingsStore,
    StoreConflict,
    StoredObject,
    StoreError,
    open_store,
)
from kms_backend.store._sql_schema import CHANGE_SHARDS, SCHEMA_VERSION
from kms_backend.store.memory import MemoryStore
from kms_backend.store.redis_store import RedisStore
from kms_backend.store.sql import SqlStore

from .conftest import REDIS_KEY, SQL_BACKENDS

# KMIP values used below (2.1 §11): Object Type, State, Cryptographic Algorithm, Operation, Link Type.
SYMMETRIC_KEY, PRIVATE_KEY = 2, 4
PRE_ACTIVE, ACTIVE, DESTROYED, DESTROYED_COMPROMISED = 1, 2, 5, 6  # KMIP 2.1 §11.58 State
AES, RSA = 3, 4
SIGN, ENCRYPT, DECRYPT = 1, 4, 8
GET, DESTROY, ENCRYPT_OP = 10, 20, 31
PUBLIC_KEY_LINK, PRIVATE_KEY_LINK = 1, 2
INITIAL_DATE, ACTIVATION_DATE = 1, 2
ONLINE, ARCHIVED = 1, 2


def make(uid: str, **fields: object) -> StoredObject:
    base = StoredObject(
        uid=uid,
        object_type=SYMMETRIC_KEY,
        owner="alice",
        state=ACTIVE,
        object_bytes=b"\x00key:" + uid.encode(),
        attributes_bytes=b"attrs:" + uid.encode(),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def insert(store: ObjectStore, *objects: StoredObject) -> None:
    with store.transaction() as tx:
        for obj in objects:
            tx.insert(obj)


def get(store: ObjectStore, uid: str) -> StoredObject | None:
    with store.transaction() as tx:
        return tx.get(uid)


# --------------------------------------------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------------------------------------------


def test_insert_then_get_round_trips_every_field(store: ObjectStore) -> None:
    obj = make(
        "k1",
        object_type=PRIVATE_KEY,
        owner="bob",
        state=PRE_ACTIVE,
        object_bytes=bytes(range(256)) * 300,  # larger than MySQL's 64 KiB BLOB
        attributes_bytes=b"\x42\x00\x08",
        cryptographic_algorithm=RSA,
        cryptographic_length=2048,
        cryptographic_usage_mask=SIGN | 1 << 40,
        names=["zeta", "alpha", "zeta"],
        object_groups=["g2", "g1"],
        tags=["b", "a"],
        links=[(PUBLIC_KEY_LINK, "k2"), (PUBLIC_KEY_LINK, "k2"), (PRIVATE_KEY_LINK, "k0")],
        dates={INITIAL_DATE: 1_700_000_000, ACTIVATION_DATE: 2**40},
        storage_status=ARCHIVED,
    )
    insert(store, obj)
    assert obj.revision == 1
    got = get(store, "k1")
    # index lists come back de-duplicated, first occurrence kept
    assert got == replace(obj, names=["zeta", "alpha"], links=[(PUBLIC_KEY_LINK, "k2"), (PRIVATE_KEY_LINK, "k0")])
    assert get(store, "missing") is None


def test_unicode_and_case_are_exact(store: ObjectStore) -> None:
    insert(store, make("Ключ-1", names=["Key"]), make("ключ-1", names=["key", "Key "]))
    assert get(store, "Ключ-1").names == ["Key"]  # type: ignore[union-attr]
    assert get(store, "ключ-1").names == ["key", "Key "]  # type: ignore[union-attr]


def test_insert_existing_uid_is_a_conflict(store: ObjectStore) -> None:
    insert(store, make("k1"))
    with pytest.raises(StoreConflict):
        insert(store, make("k1", owner="mallory"))
    assert get(store, "k1").owner == "alice"  # type: ignore[union-attr]


def test_update_replaces_fields_and_index_and_bumps_revision(store: ObjectStore) -> None:
    obj = make("k1", names=["old"], tags=["t"], dates={INITIAL_DATE: 5})
    insert(store, obj)
    with store.transaction() as tx:
        current = tx.get("k1", for_update=True)
        assert current is not None and current.revision == 1
        current.names = ["new"]
        current.tags = []
        current.dates = {ACTIVATION_DATE: 7}
        current.state = PRE_ACTIVE
        current.object_bytes = b"rewrapped"
        tx.update(current)
        assert current.revision == 2
        current.owner = "bob"
        tx.update(current)  # a second update in the same transaction
        assert current.revision == 3
    got = get(store, "k1")
    assert got == current
    with store.transaction() as tx:
        assert tx.locate(LocateQuery(names=["old"])) == []
        assert tx.locate(LocateQuery(names=["new"])) == ["k1"]
        assert tx.locate(LocateQuery(tags=["t"])) == []
        assert tx.locate(LocateQuery(date_ranges={INITIAL_DATE: (None, None)})) == []
        assert tx.locate(LocateQuery(date_ranges={ACTIVATION_DATE: (7, 7)})) == ["k1"]


def test_update_with_stale_revision_is_a_conflict(store: ObjectStore) -> None:
    insert(store, make("k1"))
    stale = get(store, "k1")
    fresh = get(store, "k1")
    assert stale is not None and fresh is not None
    with store.transaction() as tx:
        tx.update(fresh)
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.update(stale)
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.update(make("never-inserted"))
    assert get(store, "k1").revision == 2  # type: ignore[union-attr]


def test_delete_removes_object_index_and_grants(store: ObjectStore) -> None:
    insert(store, make("k1", names=["n"], tags=["t"]), make("k2"))
    with store.transaction() as tx:
        tx.grant("k1", "bob", [GET])
        assert tx.delete("k1") is True
        assert tx.delete("k1") is False
        assert tx.get("k1") is None
        assert tx.grants("k1") == {}
        assert tx.locate(LocateQuery()) == ["k2"]
        assert tx.locate(LocateQuery(tags=["t"])) == []
        assert tx.obtained("bob") == []
    insert(store, make("k3", names=["n"]))  # the name is free again


def test_get_many_keeps_the_order_asked_and_skips_missing(store: ObjectStore) -> None:
    insert(store, make("a"), make("b"), make("c"))
    with store.transaction() as tx:
        assert [o.uid for o in tx.get_many(["c", "missing", "a", "b"])] == ["c", "a", "b"]
        assert tx.get_many([]) == []


def test_all_uids_in_creation_order(store: ObjectStore) -> None:
    uids = [f"k{n:02d}" for n in (5, 1, 9, 3)]
    insert(store, *(make(u) for u in uids))
    assert list(store.all_uids()) == uids


def test_health(store: ObjectStore) -> None:
    store.health()


# --------------------------------------------------------------------------------------------------------------
# Name uniqueness
# --------------------------------------------------------------------------------------------------------------


def test_names_are_unique_per_object_type_among_live_objects(store: ObjectStore) -> None:
    insert(store, make("k1", names=["master"]))
    with pytest.raises(NameConflict) as caught:
        insert(store, make("k2", names=["other", "master"]))
    assert caught.value.name == "master"
    assert get(store, "k2") is None
    insert(store, make("k3", object_type=PRIVATE_KEY, names=["master"]))  # another object type
    insert(store, make("k4", state=DESTROYED, names=["master"]))  # a destroyed object keeps its name
    insert(store, make("k5", names=["free"]))
    renamed = get(store, "k5")
    assert renamed is not None
    renamed.names = ["master"]
    with pytest.raises(NameConflict), store.transaction() as tx:
        tx.update(renamed)


@pytest.mark.parametrize("destroyed_state", [DESTROYED, DESTROYED_COMPROMISED])
def test_a_name_is_reusable_once_its_object_is_destroyed(store: ObjectStore, destroyed_state: int) -> None:
    insert(store, make("k1", names=["master"]))
    obj = get(store, "k1")
    assert obj is not None
    obj.state = destroyed_state
    with store.transaction() as tx:
        tx.update(obj)
    insert(store, make("k2", names=["master"]))
    # k1 cannot come back to life while k2 holds the name
    obj.state = ACTIVE
    with pytest.raises(NameConflict), store.transaction() as tx:
        tx.update(obj)


def test_renaming_frees_the_old_name(store: ObjectStore) -> None:
    insert(store, make("k1", names=["a"]))
    obj = get(store, "k1")
    assert obj is not None
    obj.names = ["b"]
    with store.transaction() as tx:
        tx.update(obj)
    insert(store, make("k2", names=["a"]))
    obj.object_bytes = b"same names, new bytes"
    with store.transaction() as tx:
        tx.update(obj)  # keeping its own name is no conflict


# --------------------------------------------------------------------------------------------------------------
# Locate
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def population(store: ObjectStore) -> ObjectStore:
    """Four objects created in the order c, a, b, d (not alphabetical: creation order is checked)."""
    insert(
        store,
        make(
            "obj-c",
            cryptographic_algorithm=AES,
            cryptographic_length=256,
            cryptographic_usage_mask=ENCRYPT | DECRYPT,
            names=["alpha"],
            object_groups=["g1"],
            tags=["t1", "t2"],
            links=[(PUBLIC_KEY_LINK, "obj-b")],
            dates={INITIAL_DATE: 100},
        ),
        make(
            "obj-a",
            owner="bob",
            state=PRE_ACTIVE,
            cryptographic_algorithm=AES,
            cryptographic_length=128,
            cryptographic_usage_mask=ENCRYPT,
            names=["beta"],
            object_groups=["g2"],
            tags=["t1"],
            links=[(PRIVATE_KEY_LINK, "obj-c")],
            dates={INITIAL_DATE: 200},
        ),
        make(
            "obj-b",
            object_type=PRIVATE_KEY,
            owner="bob",
            cryptographic_algorithm=RSA,
            cryptographic_length=2048,
            cryptographic_usage_mask=SIGN,
            names=["gamma"],
            object_groups=["g1"],
            tags=["t3"],
            links=[(PUBLIC_KEY_LINK, "obj-x")],
            dates={INITIAL_DATE: 300, ACTIVATION_DATE: 50},
        ),
        make(
            "obj-d",
            state=DESTROYED,
            cryptographic_algorithm=AES,
            cryptographic_length=256,
            cryptographic_usage_mask=ENCRYPT | DECRYPT,
            names=["alpha"],
            storage_status=ARCHIVED,
        ),
    )
    with store.transaction() as tx:
        tx.grant("obj-a", "alice", [GET])
        tx.grant("obj-b", EVERYONE, [GET, DESTROY])
    return store


LOCATE_CASES = [
    ("everything on-line", LocateQuery(), ["obj-c", "obj-a", "obj-b"]),
    ("object type", LocateQuery(object_type=SYMMETRIC_KEY), ["obj-c", "obj-a"]),
    ("algorithm", LocateQuery(cryptographic_algorithm=RSA), ["obj-b"]),
    ("length", LocateQuery(cryptographic_length=256), ["obj-c"]),
    ("usage mask one bit", LocateQuery(cryptographic_usage_mask=ENCRYPT), ["obj-c", "obj-a"]),
    ("usage mask all bits", LocateQuery(cryptographic_usage_mask=ENCRYPT | DECRYPT), ["obj-c"]),
    ("usage mask none has", LocateQuery(cryptographic_usage_mask=SIGN | ENCRYPT), []),
    ("state", LocateQuery(state=ACTIVE), ["obj-c", "obj-b"]),
    ("name", LocateQuery(names=["alpha"]), ["obj-c"]),
    ("any of names", LocateQuery(names=["gamma", "alpha", "nope"]), ["obj-c", "obj-b"]),
    ("group", LocateQuery(object_groups=["g1"]), ["obj-c", "obj-b"]),
    ("any of groups", LocateQuery(object_groups=["g2", "g1"]), ["obj-c", "obj-a", "obj-b"]),
    ("tag", LocateQuery(tags=["t1"]), ["obj-c", "obj-a"]),
    ("all tags", LocateQuery(tags=["t1", "t2"]), ["obj-c"]),
    ("missing tag", LocateQuery(tags=["t1", "t3"]), []),
    ("link any target", LocateQuery(links=[(PUBLIC_KEY_LINK, "")]), ["obj-c", "obj-b"]),
    ("link target", LocateQuery(links=[(PUBLIC_KEY_LINK, "obj-b")]), ["obj-c"]),
    ("two links", LocateQuery(links=[(PUBLIC_KEY_LINK, ""), (PRIVATE_KEY_LINK, "")]), []),
    ("date from", LocateQuery(date_ranges={INITIAL_DATE: (150, None)}), ["obj-a", "obj-b"]),
    ("date until", LocateQuery(date_ranges={INITIAL_DATE: (None, 200)}), ["obj-c", "obj-a"]),
    ("date between", LocateQuery(date_ranges={INITIAL_DATE: (150, 250)}), ["obj-a"]),
    ("date present", LocateQuery(date_ranges={ACTIVATION_DATE: (None, None)}), ["obj-b"]),
    ("two dates", LocateQuery(date_ranges={INITIAL_DATE: (0, 1000), ACTIVATION_DATE: (0, 10)}), []),
    ("archived", LocateQuery(storage_status_mask=ARCHIVED), ["obj-d"]),
    ("on-line or archived", LocateQuery(storage_status_mask=ONLINE | ARCHIVED), ["obj-c", "obj-a", "obj-b", "obj-d"]),
    ("no storage status", LocateQuery(storage_status_mask=4), []),
    ("owner and grants", LocateQuery(user="alice"), ["obj-c", "obj-a", "obj-b"]),
    ("granted operation", LocateQuery(user="alice", operation=DESTROY), ["obj-c", "obj-b"]),
    ("everyone grant", LocateQuery(user="carol"), ["obj-b"]),
    ("no grant", LocateQuery(user="carol", operation=ENCRYPT_OP), []),
    ("owner only", LocateQuery(user="bob", operation=ENCRYPT_OP), ["obj-a", "obj-b"]),
    (
        "combined",
        LocateQuery(object_type=SYMMETRIC_KEY, tags=["t1"], user="alice", operation=GET, object_groups=["g2"]),
        ["obj-a"],
    ),
    (
        "combined all kinds",
        LocateQuery(
            object_type=SYMMETRIC_KEY,
            cryptographic_algorithm=AES,
            cryptographic_length=256,
            cryptographic_usage_mask=DECRYPT,
            state=ACTIVE,
            names=["alpha"],
            object_groups=["g1"],
            tags=["t2"],
            links=[(PUBLIC_KEY_LINK, "obj-b")],
            date_ranges={INITIAL_DATE: (100, 100)},
            user="alice",
            operation=GET,
        ),
        ["obj-c"],
    ),
    ("name incl. archived", LocateQuery(names=["alpha"], storage_status_mask=3), ["obj-c", "obj-d"]),
]


@pytest.mark.parametrize(("query", "expected"), [pytest.param(q, e, id=i) for i, q, e in LOCATE_CASES])
def test_locate_filters(population: ObjectStore, query: LocateQuery, expected: list[str]) -> None:
    with population.transaction() as tx:
        assert tx.locate(query) == expected
        assert tx.count(query) == len(expected)


def test_locate_offset_limit_and_count(population: ObjectStore) -> None:
    with population.transaction() as tx:
        assert tx.locate(LocateQuery(offset=1)) == ["obj-a", "obj-b"]
        assert tx.locate(LocateQuery(limit=2)) == ["obj-c", "obj-a"]
        assert tx.locate(LocateQuery(offset=1, limit=1)) == ["obj-a"]
        assert tx.locate(LocateQuery(offset=5)) == []
        assert tx.locate(LocateQuery(limit=0)) == []
        assert tx.count(LocateQuery(offset=1, limit=1)) == 3


def test_rewritten_tags_and_groups_keep_creation_order(store: ObjectStore) -> None:
    """An update that rewrites an object's tags or groups (read in the same transaction or not) leaves it where it
    was created among the matches."""
    insert(store, make("z", tags=["t"]), make("a"), make("m", object_groups=["g"]))
    a = get(store, "a")
    assert a is not None
    a.tags, a.object_groups = ["t"], ["g"]
    with store.transaction() as tx:
        tx.update(a)
    with store.transaction() as tx:
        for uid, tags in (("z", ["t", "u"]), ("m", ["t"])):
            obj = tx.get(uid)
            assert obj is not None
            obj.tags = tags
            tx.update(obj)
    with store.transaction() as tx:
        assert tx.locate(LocateQuery(tags=["t"])) == ["z", "a", "m"]
        assert tx.locate(LocateQuery(tags=["t"], offset=1, limit=1)) == ["a"]
        assert tx.count(LocateQuery(tags=["t"])) == 3
        assert tx.locate(LocateQuery(tags=["t", "u"])) == ["z"]
        assert tx.locate(LocateQuery(object_groups=["g"])) == ["a", "m"]


def test_locate_sees_writes_of_its_own_transaction(store: ObjectStore) -> None:
    with store.transaction() as tx:
        tx.insert(make("k1", tags=["fresh"]))
        assert tx.locate(LocateQuery(tags=["fresh"])) == ["k1"]


# --------------------------------------------------------------------------------------------------------------
# Access control
# --------------------------------------------------------------------------------------------------------------


def test_grants_revoke_and_queries(store: ObjectStore) -> None:
    insert(store, make("k1"), make("k2", owner="bob"), make("k3", owner="bob"))
    with store.transaction() as tx:
        tx.grant("k2", "alice", [GET, ENCRYPT_OP])
        tx.grant("k2", "alice", [GET])  # idempotent
        tx.grant("k2", EVERYONE, [DESTROY])
        tx.grant("k3", "carol", [GET])
        tx.grant("k1", "alice", [GET])  # alice owns k1: not "obtained"
        assert tx.grants("k2") == {"alice": {GET, ENCRYPT_OP}, EVERYONE: {DESTROY}}
        assert tx.operations_granted("k2", "alice") == {GET, ENCRYPT_OP, DESTROY}
        assert tx.operations_granted("k2", "dave") == {DESTROY}
        assert tx.operations_granted("k3", "alice") == set()
        assert [o.uid for o in tx.owned("bob")] == ["k2", "k3"]
        assert [o.uid for o in tx.owned("nobody")] == []
        assert [(o.uid, ops) for o, ops in tx.obtained("alice")] == [("k2", {GET, ENCRYPT_OP})]
        tx.revoke("k2", "alice", [ENCRYPT_OP, SIGN])
        assert tx.grants("k2") == {"alice": {GET}, EVERYONE: {DESTROY}}
        tx.revoke("k2", "alice", [GET])
        tx.revoke("k2", "nobody", [GET])
        assert tx.grants("k2") == {EVERYONE: {DESTROY}}
        assert tx.obtained("alice") == []
        assert tx.locate(LocateQuery(user="alice", operation=GET)) == ["k1"]


def test_privileged_users(store: ObjectStore) -> None:
    with store.transaction() as tx:
        assert tx.privileged_users() == set()
        tx.set_privileged("alice", True)
        tx.set_privileged("bob", True)
        tx.set_privileged("alice", True)
        tx.set_privileged("bob", False)
        tx.set_privileged("carol", False)
    with store.transaction() as tx:
        assert tx.privileged_users() == {"alice"}


# --------------------------------------------------------------------------------------------------------------
# Transactions
# --------------------------------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_a_failed_block_leaves_nothing(store: ObjectStore) -> None:
    insert(store, make("kept", names=["kept"], tags=["t"]), make("doomed"))
    with store.transaction() as tx:
        tx.grant("kept", "bob", [GET])
        tx.set_privileged("alice", True)
    before = get(store, "kept")
    with pytest.raises(Boom), store.transaction() as tx:
        tx.insert(make("new", names=["new"]))
        changed = tx.get("kept")
        assert changed is not None
        changed.names, changed.tags, changed.object_bytes = ["renamed"], [], b"changed"
        tx.update(changed)
        tx.grant("kept", "carol", [GET])
        tx.revoke("kept", "bob", [GET])
        tx.grant("doomed", "bob", [GET])
        tx.delete("doomed")
        tx.set_privileged("alice", False)
        tx.set_privileged("dave", True)
        raise Boom
    assert get(store, "new") is None
    assert get(store, "kept") == before
    with store.transaction() as tx:
        assert tx.get("doomed") is not None
        assert tx.grants("kept") == {"bob": {GET}}
        assert tx.grants("doomed") == {}
        assert tx.privileged_users() == {"alice"}
        assert tx.locate(LocateQuery(names=["kept"], tags=["t"])) == ["kept"]
        assert tx.locate(LocateQuery(names=["renamed", "new"])) == []
        assert tx.locate(LocateQuery()) == ["kept", "doomed"]
    insert(store, make("again", names=["new"]))  # the rolled-back name is free


@pytest.mark.parametrize("store_url", SQL_BACKENDS, indirect=True)
def test_a_half_failed_write_is_never_committed(store: ObjectStore) -> None:
    with pytest.raises(StoreError, match="rolled back"), store.transaction() as tx:
        tx.insert(make("k1"))
        with pytest.raises(StoreError):
            tx.insert(make("k2", dates={INITIAL_DATE: 2**70}))  # fails after the object row was written
    assert get(store, "k1") is None and get(store, "k2") is None


def test_a_finished_transaction_cannot_be_used(store: ObjectStore) -> None:
    with store.transaction() as tx:
        pass
    with pytest.raises(StoreError):
        tx.get("k1")


def test_concurrent_updates_of_one_object_one_loses(store: ObjectStore) -> None:
    insert(store, make("k1"))
    copies = [get(store, "k1") for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def worker(obj: StoredObject | None) -> None:
        assert obj is not None
        barrier.wait()
        try:
            with store.transaction() as tx:
                obj.object_bytes = os.urandom(16)
                tx.update(obj)
            outcomes.append("ok")
        except StoreConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=worker, args=(c,)) for c in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "ok"]
    assert get(store, "k1").revision == 2  # type: ignore[union-attr]


def test_concurrent_inserts_from_many_threads(store: ObjectStore) -> None:
    def worker(n: int) -> None:
        for i in range(10):
            insert(store, make(f"t{n}-{i}", names=[f"name-{n}-{i}"]))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    with store.transaction() as tx:
        assert tx.count(LocateQuery()) == 40


def test_concurrent_inserts_of_one_name_one_wins(store: ObjectStore) -> None:
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def worker(n: int) -> None:
        barrier.wait()
        try:
            insert(store, make(f"k{n}", names=["contended"]))
            outcomes.append("ok")
        except NameConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["conflict"] * 3 + ["ok"]
    with store.transaction() as tx:
        assert tx.count(LocateQuery(names=["contended"])) == 1


def test_closed_store_raises_store_error(open_test_store: Callable[[], ObjectStore]) -> None:
    store = open_test_store()
    store.close()
    with pytest.raises(StoreError):
        store.health()
    with pytest.raises(StoreError), store.transaction():
        pass


# --------------------------------------------------------------------------------------------------------------
# Backend specifics
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("store_url", ["sqlite-file", "postgresql", "mariadb", "redis"], indirect=True)
def test_data_survives_close_and_reopen(open_test_store: Callable[[], ObjectStore]) -> None:
    first = open_test_store()
    insert(first, make("k1", names=["durable"]))
    with first.transaction() as tx:
        tx.grant("k1", "bob", [GET])
    first.close()
    second = open_test_store()
    with second.transaction() as tx:
        assert tx.get("k1") == make("k1", names=["durable"], revision=1)
        assert tx.grants("k1") == {"bob": {GET}}
        assert tx.locate(LocateQuery(names=["durable"])) == ["k1"]


@pytest.mark.parametrize("store_url", SQL_BACKENDS, indirect=True)
def test_an_older_schema_is_migrated(open_test_store: Callable[[], ObjectStore], store_url: str) -> None:
    first = open_test_store()
    assert isinstance(first, SqlStore)
    insert(first, make("k1", dates={INITIAL_DATE: 5}))
    # Turn the database back into the version 1 layout (before ix_dates_tag_value, change_counters, settings).
    with first._engine.begin() as conn:
        first._schema.dates_value_index.drop(conn)
        first._schema.change_counters.drop(conn)
        first._schema.settings.drop(conn)
        conn.execute(text("UPDATE schema_version SET version = 1"))
        assert "ix_dates_tag_value" not in {i["name"] for i in inspect(conn).get_indexes("dates")}
    reopened: ObjectStore
    if store_url == "sqlite://":
        reopened = first  # the in-memory database lives in this store's connection only
        with first._engine.begin() as conn:
            from kms_backend.store._sql_schema import migrate

            assert migrate(conn, first._schema) == 1
    else:
        reopened = open_test_store()
        assert isinstance(reopened, SqlStore)
        assert reopened.opened_at_version == 1
    assert isinstance(reopened, SqlStore)
    with reopened._engine.begin() as conn:
        assert conn.execute(text("SELECT version FROM schema_version")).scalar_one() == SCHEMA_VERSION == 5
        assert "ix_dates_tag_value" in {i["name"] for i in inspect(conn).get_indexes("dates")}
        assert conn.execute(text("SELECT COUNT(*), SUM(n) FROM change_counters")).one() == (CHANGE_SHARDS, 0)
    with reopened.transaction() as tx:
        assert tx.locate(LocateQuery(date_ranges={INITIAL_DATE: (1, 9)})) == ["k1"]
    assert isinstance(reopened, SettingsStore)
    assert reopened.setting("s") is None and reopened.set_setting("s", "v") == "v"


@pytest.mark.parametrize("store_url", ["memory", *SQL_BACKENDS], indirect=True)
def test_settings_are_shared_by_every_opener(open_test_store: Callable[[], ObjectStore], store_url: str) -> None:
    first = open_test_store()
    second = first if store_url in ("memory://", "sqlite://") else open_test_store()
    assert isinstance(first, SettingsStore) and isinstance(second, SettingsStore)
    assert first.setting("sealing") is None
    assert first.set_setting("sealing", "a", only_if_unset=True) == "a"
    assert second.set_setting("sealing", "b", only_if_unset=True) == "a"  # the first value stays
    assert second.setting("sealing") == "a"
    before = first.change_stamp()  # type: ignore[attr-defined]
    assert second.set_setting("sealing", "b") == "b"
    assert first.setting("sealing") == "b" and first.setting("other") is None
    second.set_setting("node.a", "1")
    second.set_setting("node.b_", "2")
    second.set_setting("nodf", "3")
    assert first.settings("node.") == {"node.a": "1", "node.b_": "2"}
    first.delete_setting("node.a")
    first.delete_setting("node.none")
    assert second.settings("node.") == {"node.b_": "2"} and second.settings("x") == {}
    if before is not None:
        assert first.change_stamp() != before  # type: ignore[attr-defined]  # other servers look again


def _downgrade_to_version_4(store: SqlStore) -> None:
    """Give ``groups`` and ``tags`` their version 4 layout back: no ``seq``, one index on the value."""
    with store._engine.begin() as conn:
        for table, column, index in (
            (store._schema.groups, "grp", "ix_groups_grp"),
            (store._schema.tags, "tag", "ix_tags_tag"),
        ):
            for new_index in table.indexes:
                new_index.drop(conn)
            quoted = conn.dialect.identifier_preparer.format_table(table)
            conn.execute(text(f"ALTER TABLE {quoted} DROP COLUMN seq"))
            old_table = Table(table.name, MetaData(), Column(column, String(200)))
            Index(index, old_table.c[column]).create(conn)
        conn.execute(text("UPDATE schema_version SET version = 4"))


@pytest.mark.parametrize("store_url", SQL_BACKENDS, indirect=True)
def test_a_version_4_schema_gets_seq_in_groups_and_tags(
    open_test_store: Callable[[], ObjectStore], store_url: str
) -> None:
    first = open_test_store()
    assert isinstance(first, SqlStore)
    # Created out of uid order, so that creation order (seq) and uid order differ.
    insert(
        first,
        make("k3", tags=["all", "rare"], object_groups=["g"]),
        make("k1", tags=["all"]),
        make("k2", tags=["all"], object_groups=["g", "h"]),
    )
    _downgrade_to_version_4(first)
    with first._engine.begin() as conn:
        # An index row of an object deleted by hand: the migration drops it (it could not be given a seq).
        conn.execute(text("INSERT INTO tags (uid, tag, pos) VALUES ('gone', 'all', 0)"))
    reopened: ObjectStore
    if store_url == "sqlite://":
        reopened = first  # the in-memory database lives in this store's connection only
        with first._engine.begin() as conn:
            from kms_backend.store._sql_schema import migrate

            assert migrate(conn, first._schema) == 4
    else:
        reopened = open_test_store()
        assert isinstance(reopened, SqlStore)
        assert reopened.opened_at_version == 4
    assert isinstance(reopened, SqlStore)
    with reopened._engine.begin() as conn:
        assert conn.execute(text("SELECT version FROM schema_version")).scalar_one() == SCHEMA_VERSION
        inspector = inspect(conn)
        assert {i["name"] for i in inspector.get_indexes("tags")} == {"ix_tags_tag_seq"}
        assert {i["name"] for i in inspector.get_indexes("groups")} == {"ix_groups_grp_seq"}
        for table in ("tags", "groups"):
            seq = next(c for c in inspector.get_columns(table) if c["name"] == "seq")
            assert seq["nullable"] is False
        wrong = text(
            "SELECT COUNT(*) FROM tags LEFT JOIN objects ON objects.uid = tags.uid "
            "WHERE objects.seq IS NULL OR objects.seq <> tags.seq"
        )
        assert conn.execute(wrong).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM tags")).scalar_one() == 4
    with reopened.transaction() as tx:
        assert tx.locate(LocateQuery(tags=["all"])) == ["k3", "k1", "k2"]
        assert tx.locate(LocateQuery(tags=["all"], offset=1, limit=1)) == ["k1"]
        assert tx.count(LocateQuery(tags=["all"])) == 3
        assert tx.locate(LocateQuery(tags=["rare"])) == ["k3"]
        assert tx.locate(LocateQuery(object_groups=["g"])) == ["k3", "k2"]
        assert tx.locate(LocateQuery(object_groups=["h"])) == ["k2"]
        # Writes after the migration give the rows their seq.
        k1 = tx.get("k1")
        assert k1 is not None
        k1.tags = ["all", "rare"]
        k1.object_groups = ["h"]
        tx.update(k1)
        tx.insert(make("k0", tags=["rare"], object_groups=["h"]))
    with reopened.transaction() as tx:
        assert tx.locate(LocateQuery(tags=["rare"])) == ["k3", "k1", "k0"]
        assert tx.locate(LocateQuery(object_groups=["h"])) == ["k1", "k2", "k0"]
    # A migration interrupted after its DDL (MySQL commits each statement) runs again without harm.
    with reopened._engine.begin() as conn:
        from kms_backend.store._sql_schema import MIGRATIONS

        MIGRATIONS[5](conn, reopened._schema)
    with reopened.transaction() as tx:
        assert tx.locate(LocateQuery(tags=["rare"], offset=1)) == ["k1", "k0"]
        assert tx.count(LocateQuery(object_groups=["h"])) == 3


@pytest.mark.parametrize("store_url", ["sqlite-file"], indirect=True)
def test_a_newer_schema_is_refused(open_test_store: Callable[[], ObjectStore]) -> None:
    first = open_test_store()
    assert isinstance(first, SqlStore)
    with first._engine.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = 99"))
    first.close()
    with pytest.raises(StoreError, match="schema version 99"):
        open_test_store()


@pytest.mark.parametrize("store_url", SQL_BACKENDS, indirect=True)
def test_driver_errors_do_not_leak_parameters(store: ObjectStore) -> None:
    secret = os.urandom(16)
    with pytest.raises(StoreError) as caught, store.transaction() as tx:
        tx.insert(make("k1", object_bytes=secret, state=2**70))  # out of range for the column
    error = caught.value
    assert type(error) is StoreError
    assert secret.hex() not in str(error) and repr(secret) not in str(error)
    assert error.__cause__ is None and error.__suppress_context__


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_redis_keeps_no_plaintext(store: ObjectStore) -> None:
    assert isinstance(store, RedisStore)
    secret = os.urandom(32)
    attributes_secret = b"attribute-plaintext-" + os.urandom(8).hex().encode()
    insert(store, make("k1", object_bytes=secret, attributes_bytes=attributes_secret, names=["n"]))
    client, found = store.client, 0
    for key in client.scan_iter(match=f"{store.prefix}*"):
        found += 1
        kind = client.type(key)
        if kind == b"string":
            values = [client.get(key)]
        elif kind == b"hash":
            values = [*client.hgetall(key).keys(), *client.hgetall(key).values()]
        elif kind == b"set":
            values = list(client.smembers(key))
        else:
            values = list(client.zrange(key, 0, -1))  # type: ignore[arg-type]
        for value in [key, *values]:
            assert secret not in value and attributes_secret not in value, key
    assert found > 5
    assert get(store, "k1").object_bytes == secret  # type: ignore[union-attr]


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_redis_record_sealed_to_its_uid(store: ObjectStore) -> None:
    assert isinstance(store, RedisStore)
    insert(store, make("k1"), make("k2"))
    client = store.client
    client.hset(store.key("obj", "k2"), "data", client.hget(store.key("obj", "k1"), "data"))
    with pytest.raises(StoreError, match="does not authenticate"):
        get(store, "k2")


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_redis_wrong_key_cannot_read(store: ObjectStore, store_url: str) -> None:
    insert(store, make("k1"))
    other = open_store(store_url, redis_key=bytes(32))
    try:
        with pytest.raises(StoreError), other.transaction() as tx:
            tx.get("k1")
    finally:
        other.close()


# --------------------------------------------------------------------------------------------------------------
# open_store
# --------------------------------------------------------------------------------------------------------------


def test_open_store_picks_the_implementation(tmp_path) -> None:
    memory = open_store("memory://")
    assert isinstance(memory, MemoryStore)
    for url in (f"sqlite:///{tmp_path / 'a.db'}", "sqlite://"):
        sql = open_store(url)
        try:
            assert isinstance(sql, SqlStore) and sql.dialect == "sqlite"
        finally:
            sql.close()


@pytest.mark.parametrize(
    ("url", "kwargs", "message"),
    [
        ("oracle://scott@db/x", {}, "unsupported store URL scheme 'oracle'"),
        ("just-a-path.db", {}, "a store URL looks like"),
        ("redis://127.0.0.1:6379/15", {}, "needs redis_key"),
        ("redis://127.0.0.1:6379/15", {"redis_key": b"short"}, "32 bytes"),
    ],
)
def test_open_store_rejects_bad_urls(url: str, kwargs: dict[str, bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url, **kwargs)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1/nothing",
        "mysql://root@127.0.0.1:1/nothing",
        "redis://127.0.0.1:1/0",
        "sqlite:////nonexistent-directory/x/store.db",
    ],
)
def test_unreachable_databases_raise_store_error(url: str) -> None:
    with pytest.raises(StoreError):
        open_store(url, redis_key=REDIS_KEY)


def test_exported_names() -> None:
    assert sorted(store_package.__all__) == [
        "EVERYONE",
        "LocateQuery",
        "NameConflict",
        "ObjectStore",
        "SettingsStore",
        "StoreConflict",
        "StoreError",
        "StoreTransaction",
        "StoredObject",
        "open_store",
    ]
