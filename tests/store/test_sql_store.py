"""SqlStore internals the contract suite does not reach: statements compiled once and reused with other values,
IN lists padded to a few compiled sizes, updates that set only changed indexed columns, the READ COMMITTED level of
explicit transactions, and pooled connections found dead being replaced."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from kms_backend.store import LocateQuery, ObjectStore, StoredObject
from kms_backend.store._common import normalised_copy
from kms_backend.store._sql_connections import ConnectionPool
from kms_backend.store.sql import SqlStore

from .conftest import SQL_BACKENDS
from .test_store_contract import ACTIVE, DESTROYED, INITIAL_DATE, PRE_ACTIVE, get, insert, make

sql_backends = pytest.mark.parametrize("store_url", SQL_BACKENDS, indirect=True)


@sql_backends
def test_locate_shape_is_reused_with_other_values(store: ObjectStore) -> None:
    insert(
        store,
        make("a", names=["na"], tags=["x"], dates={INITIAL_DATE: 10}),
        make("b", names=["nb"], tags=["y"], dates={INITIAL_DATE: 20}),
    )
    assert isinstance(store, SqlStore)
    with store.transaction() as tx:
        for name, tag, bounds, expected in [
            ("na", "x", (5, 15), ["a"]),
            ("nb", "y", (15, 25), ["b"]),
            ("na", "y", (0, 99), []),
            ("nb", "y", (0, 5), []),
        ]:
            query = LocateQuery(names=[name], tags=[tag], date_ranges={INITIAL_DATE: bounds})
            assert tx.locate(query) == expected
            assert tx.count(query) == len(expected)
        shapes = len(store._shapes)
        assert tx.locate(LocateQuery(names=["na"], tags=["x"], date_ranges={INITIAL_DATE: (1, 99)})) == ["a"]
        assert len(store._shapes) == shapes  # same shape: compiled once
        assert tx.locate(LocateQuery(names=["na", "nb"], offset=1, limit=1)) == ["b"]
        assert tx.locate(LocateQuery(names=["na", "nb"], offset=0, limit=1)) == ["a"]


@sql_backends
def test_locate_by_common_and_rare_tags(store: ObjectStore) -> None:
    """A tag on most objects is tested object by object on SQLite, a rare one drives the query from the tags index:
    either way the same objects, in creation order, paged and counted alike (with a grantee's visibility too)."""
    uids = [f"k{i:03d}" for i in range(40)]
    insert(store, *(make(uid, tags=["all", "rare"] if i % 13 == 0 else ["all"]) for i, uid in enumerate(uids)))
    with store.transaction() as tx:
        tx.grant("k013", "bob", [10])
        for tags, expected in [(["all"], uids), (["rare"], ["k000", "k013", "k026", "k039"]), (["all", "rare"], None)]:
            expected = expected or ["k000", "k013", "k026", "k039"]
            assert tx.locate(LocateQuery(tags=tags)) == expected
            assert tx.count(LocateQuery(tags=tags)) == len(expected)
            assert tx.locate(LocateQuery(tags=tags, offset=1, limit=2)) == expected[1:3]
            assert tx.locate(LocateQuery(tags=tags, user="bob")) == ["k013"]
            assert tx.count(LocateQuery(tags=tags, user="alice")) == len(expected)
        assert tx.locate(LocateQuery(tags=["none"])) == []


@sql_backends
@pytest.mark.parametrize("count", [1, 3, 5, 501])
def test_get_many_pads_in_lists(store: ObjectStore, count: int) -> None:
    uids = [f"k{i}" for i in range(count)]
    insert(store, *(make(uid) for uid in uids))
    with store.transaction() as tx:
        assert [o.uid for o in tx.get_many([*reversed(uids), "missing"])] == list(reversed(uids))
        tx.grant(uids[0], "bob", [1, 2, 3])
        tx.revoke(uids[0], "bob", [1, 3, 9])
        assert tx.grants(uids[0]) == {"bob": {2}}


@sql_backends
def test_update_of_indexed_columns_reaches_the_indexes(store: ObjectStore) -> None:
    insert(store, make("k1", names=["n1"], cryptographic_algorithm=3, cryptographic_length=128))
    obj = get(store, "k1")
    assert obj is not None
    # Written from an object read in an earlier transaction: the store rereads what it needs.
    obj.owner, obj.cryptographic_length, obj.state = "carol", 256, PRE_ACTIVE
    with store.transaction() as tx:
        tx.update(obj)
    with store.transaction() as tx:
        assert [o.uid for o in tx.owned("carol")] == ["k1"] and tx.owned("alice") == []
        assert tx.locate(LocateQuery(cryptographic_length=256, state=PRE_ACTIVE, names=["n1"])) == ["k1"]
        assert tx.locate(LocateQuery(cryptographic_length=128)) == []
        # Read and written in one transaction, twice, then only unindexed fields.
        again = tx.get("k1")
        assert again is not None
        again.state = ACTIVE
        tx.update(again)
        again.attributes_bytes = b"new"
        tx.update(again)
    after = get(store, "k1")
    assert after is not None and after.state == ACTIVE and after.attributes_bytes == b"new" and after.revision == 4
    # Destroying frees the name even though the names themselves did not change.
    after.state = DESTROYED
    with store.transaction() as tx:
        tx.update(after)
    insert(store, make("k2", names=["n1"]))


def test_normalised_copy_copies_every_field() -> None:
    original = StoredObject(
        uid="u",
        object_type=2,
        owner="o",
        state=2,
        object_bytes=b"o",
        attributes_bytes=b"a",
        cryptographic_algorithm=3,
        cryptographic_length=256,
        cryptographic_usage_mask=12,
        names=["n"],
        object_groups=["g"],
        tags=["t"],
        links=[(1, "x")],
        dates={1: 2},
        storage_status=2,
        revision=7,
    )
    defaults = StoredObject(uid="", object_type=0, owner="", state=0, object_bytes=b"", attributes_bytes=b"")
    for f in dataclasses.fields(StoredObject):
        assert getattr(original, f.name) != getattr(defaults, f.name), f"set {f.name} in this test"
    copy = normalised_copy(original)
    assert copy == original
    assert copy.names is not original.names and copy.dates is not original.dates


server_backends = pytest.mark.parametrize("store_url", ["postgresql", "mariadb"], indirect=True)


@server_backends
def test_explicit_transactions_are_read_committed(store: ObjectStore) -> None:
    assert isinstance(store, SqlStore)
    query = "SHOW transaction_isolation" if store.dialect == "postgresql" else "SELECT @@tx_isolation"
    with store.transaction() as tx:
        tx.set_privileged("alice", True)  # a write opens the transaction
        tx._cursor.execute(query)
        level = tx._cursor.fetchall()[0][0]
    assert level.replace("-", " ").lower() == "read committed"


@server_backends
def test_a_dead_pooled_connection_is_replaced(open_test_store: Callable[[], ObjectStore]) -> None:
    store = open_test_store()
    assert isinstance(store, SqlStore)
    insert(store, make("k1"))
    assert isinstance(store.connections, ConnectionPool)
    assert store.connections.idle
    for link in store.connections.idle:
        link.dbapi.close()  # what a server restart does to idle connections
    assert get(store, "k1") is not None  # a read first
    for link in store.connections.idle:
        link.dbapi.close()
    insert(store, make("k2"))  # BEGIN first
    assert get(store, "k2") is not None
    store.health()
