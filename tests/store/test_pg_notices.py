"""PostgreSQL change notices (``_pg_notices``): strict change stamps that cost no query per request.

Two stores opened on one database stand for two servers. What must hold: a commit by one moves the other's
stamp by the time the commit's transaction block has returned (the writer waited for the acknowledgement), and
whenever the notices cannot vouch (lease lapsed, connection lost, a listener silent) the stamp falls back to a
query, never to a stale value."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

import psycopg
import pytest

from kms_backend.store import ObjectStore, StoredObject, open_store
from kms_backend.store._pg_notices import APPLICATION_PREFIX, CHANNEL_PREFIX
from kms_backend.store.sql import SqlStore

pytestmark = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)


def _sql(store: ObjectStore) -> SqlStore:
    assert isinstance(store, SqlStore) and store.notices is not None
    return store


def _listening(store: SqlStore) -> SqlStore:
    """``store`` once its listening thread vouches for stamps (it starts with the first stamp asked for)."""
    assert store.notices is not None
    for _ in range(400):
        if store.notices.stamp() is not None:
            return store
        time.sleep(0.025)
    raise AssertionError("the store never listened for change notices")


def _stamp(store: SqlStore) -> Hashable:
    stamp = store.change_stamp()
    assert stamp is not None
    return stamp


def _from_notices(stamp: Hashable) -> bool:
    """Whether a stamp came from notices (epoch, sum, count) rather than from a query (the sum)."""
    assert isinstance(stamp, tuple)
    return isinstance(stamp[1], tuple)


def _insert(store: ObjectStore, uid: str) -> None:
    record = StoredObject(uid=uid, object_type=2, owner="alice", state=1, object_bytes=b"k", attributes_bytes=b"a")
    with store.transaction() as tx:
        tx.insert(record)


def test_a_commit_of_another_server_moves_the_stamp_before_its_block_returns(
    open_test_store: Callable[[], ObjectStore],
) -> None:
    here, there = _listening(_sql(open_test_store())), _sql(open_test_store())
    served_by_notices = 0
    rounds = 30
    for n in range(rounds):
        before = _stamp(here)
        _insert(there, f"k{n}")
        after = _stamp(here)
        assert after != before
        # Both from notices: the acknowledgement, not a query, moved the stamp.
        served_by_notices += _from_notices(before) and _from_notices(after)
    # A loaded machine may starve the listening thread past its lease now and then (a query is then made).
    assert served_by_notices >= rounds // 2


def test_a_server_with_a_polled_stamp_notifies_its_commits_too(
    open_test_store: Callable[[], ObjectStore], store_url: str
) -> None:
    here = _listening(_sql(open_test_store()))
    there = _sql(open_store(store_url, stamp_lag=30))
    try:
        assert there.notices is not None and not there.notices.listen
        for n in range(5):
            before = _stamp(here)
            _insert(there, f"p{n}")
            assert _stamp(here) != before
    finally:
        there.close()


def test_a_lapsed_lease_falls_back_to_a_query(
    open_test_store: Callable[[], ObjectStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = _listening(_sql(open_test_store())), _sql(open_test_store())
    assert here.notices is not None
    monkeypatch.setattr(here.notices, "_clock", lambda: time.monotonic() + 60)  # every sync is a minute old
    before = _stamp(here)
    assert not _from_notices(before)
    _insert(there, "lapsed")
    assert _stamp(here) != before


def test_a_lost_listening_connection_falls_back_to_queries_and_listens_again(
    open_test_store: Callable[[], ObjectStore], store_url: str
) -> None:
    here, there = _listening(_sql(open_test_store())), _sql(open_test_store())
    assert here.notices is not None
    old = here.notices.stamp()
    assert isinstance(old, tuple)
    with psycopg.connect(store_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (APPLICATION_PREFIX + here.notices.node,),
        )
    for n in range(20):  # whatever state the thread is in, a commit is seen by the next stamp
        before = _stamp(here)
        _insert(there, f"lost{n}")
        assert _stamp(here) != before
    new = _listening(here).notices.stamp()  # type: ignore[union-attr]
    assert isinstance(new, tuple) and new[0] > old[0]  # a new epoch: nothing kept under the old one matches


def test_a_writer_waits_out_a_silent_listener_and_says_so(
    open_test_store: Callable[[], ObjectStore], store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    there = _sql(open_test_store())
    assert there.notices is not None
    there.notices.wait = 0.3
    _insert(there, "warm-up")
    with psycopg.connect(store_url, autocommit=True) as silent:
        silent.execute(f'LISTEN "{CHANNEL_PREFIX}silent"')
        silent.execute("SELECT set_config('application_name', %s, false)", (APPLICATION_PREFIX + "silent",))
        with caplog.at_level(logging.WARNING, logger="kms_backend.store._pg_notices"):
            _insert(there, "unacknowledged")
    assert "did not acknowledge a change" in caplog.text
    with there.transaction() as tx:
        assert tx.get("unacknowledged") is not None


def test_a_closed_server_is_not_waited_for(
    open_test_store: Callable[[], ObjectStore], caplog: pytest.LogCaptureFixture
) -> None:
    here, there = _listening(_sql(open_test_store())), _sql(open_test_store())
    assert there.notices is not None
    there.notices.wait = 0.3
    _insert(there, "before-close")
    here.close()
    with caplog.at_level(logging.WARNING, logger="kms_backend.store._pg_notices"):
        _insert(there, "after-close")
    assert "did not acknowledge" not in caplog.text


def test_notices_are_never_trusted_when_the_sync_runs_in_another_session(
    open_test_store: Callable[[], ObjectStore],
) -> None:
    store = _sql(open_test_store())
    assert store.notices is not None
    # What a transaction-pooling proxy does: the sync lands in a session other than the one that listens.
    store.notices._sync_sql = "SELECT 0::bigint, -1"
    for _ in range(20):
        assert not _from_notices(_stamp(store))
        time.sleep(0.02)
    assert store.notices.stamp() is None
