"""Opening a fresh SQL database from several servers at once (the nodes of a cluster starting together): every
opener gets the finished layout. On MariaDB/MySQL the schema lock belongs to the session while each CREATE TABLE
commits at once, so a lock released before the first opener's commit let the next one find the tables and an empty
schema_version ("the schema_version table is empty", seen when deploy/ha/cluster.py started two nodes)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, Engine, make_url

from kms_backend.store import _SQL_DRIVERS, _sql_schema, open_store
from kms_backend.store._sql_schema import SCHEMA_VERSION
from kms_backend.store.base import StoreError
from kms_backend.store.sql import SqlStore

from .test_store_contract import get, insert, make


def _engine(url: str | URL, **options: object) -> Engine:
    """An SQLAlchemy engine on the drivers Keystead uses (the store URLs name none)."""
    parsed = make_url(url)
    return create_engine(parsed.set(drivername=_SQL_DRIVERS.get(parsed.drivername, parsed.drivername)), **options)


def _open(url: str) -> SqlStore:
    store = open_store(url)
    assert isinstance(store, SqlStore)
    return store


@pytest.fixture(params=["postgresql", "mariadb"])
def fresh_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL naming a database created empty for this test (dropped afterwards)."""
    base = make_url(request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url"))
    name = f"keystead_open_{uuid.uuid4().hex[:12]}"
    admin = _engine(base, isolation_level="AUTOCOMMIT")
    quote = '"' if request.param == "postgresql" else "`"
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if request.param == "postgresql" else ""
            conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}"))
        admin.dispose()


def test_a_second_opener_right_after_the_first_releases_the_lock_finds_the_layout(
    fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first opener, once it has released the schema lock, waits until a second opener has opened: the second
    must find the finished layout, whatever the first has still to do."""
    released = threading.Event()
    second_done = threading.Event()
    real_lock = _sql_schema._schema_lock

    @contextlib.contextmanager
    def lock(conn: Connection) -> Iterator[None]:
        with real_lock(conn):
            yield
        if threading.current_thread().name == "first-opener":
            released.set()
            second_done.wait(30)

    monkeypatch.setattr(_sql_schema, "_schema_lock", lock)
    opened: dict[str, SqlStore] = {}
    failures: list[BaseException] = []

    def first() -> None:
        try:
            opened["first"] = _open(fresh_url)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)
            released.set()

    thread = threading.Thread(target=first, name="first-opener")
    thread.start()
    try:
        assert released.wait(30)
        opened["second"] = _open(fresh_url)
    finally:
        second_done.set()
        thread.join(30)
    try:
        assert not failures, failures
        assert opened["first"].opened_at_version == 0  # it created the layout
        assert opened["second"].opened_at_version == SCHEMA_VERSION
    finally:
        for store in opened.values():
            store.close()


@pytest.mark.parametrize("fresh_url", ["mariadb"], indirect=True)
def test_an_interrupted_first_opening_on_mariadb_is_finished_by_the_next(fresh_url: str) -> None:
    """MariaDB keeps the tables of a first opening that stopped before its commit; the next opening completes the
    layout instead of refusing the database for good (PostgreSQL rolls the CREATE TABLEs back with the transaction).
    An emptied schema_version beside objects is still refused."""
    _open(fresh_url).close()
    engine = _engine(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM schema_version"))
            conn.execute(text("DROP TABLE change_counters"))
        store = _open(fresh_url)
        try:
            assert store.opened_at_version == 0
            insert(store, make("held"))
            assert get(store, "held") is not None
        finally:
            store.close()
        with engine.begin() as conn:
            assert conn.execute(text("SELECT version FROM schema_version")).scalar_one() == SCHEMA_VERSION
            conn.execute(text("DELETE FROM schema_version"))
        with pytest.raises(StoreError, match="schema_version table is empty"):
            _open(fresh_url)
    finally:
        engine.dispose()


@pytest.mark.parametrize("fresh_url", ["mariadb"], indirect=True)
def test_an_open_store_holds_no_schema_lock_on_mariadb(fresh_url: str) -> None:
    """The lock is released once the layout is committed, also by the pooled connection that took it (a named lock
    kept by an idle pooled session made every other opener wait its 60 s)."""
    store = _open(fresh_url)
    engine = _engine(fresh_url)
    try:
        with engine.connect() as conn:
            holder = conn.execute(text(f"SELECT IS_USED_LOCK({_sql_schema._MYSQL_LOCK})")).scalar()
        assert holder is None
        assert _open(fresh_url).opened_at_version == SCHEMA_VERSION
    finally:
        store.close()
        engine.dispose()
