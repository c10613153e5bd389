"""Store fixtures: one fresh store per test for every backend.

PostgreSQL, MariaDB/MySQL and Redis come from the environment (defaults: the local services). A test session creates
its own database ``keystead_test_<random>`` on PostgreSQL and MariaDB and drops it at the end; on Redis it uses
database 15 under a random key prefix per test and deletes only those keys. An unreachable service skips its tests
with the reason, unless ``KEYSTEAD_REQUIRE_SERVICES=1`` (CI), where it fails them.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kms_backend.store import ObjectStore, open_store
from kms_backend.store.memory import MemoryStore
from kms_backend.store.sql import SqlStore

POSTGRES_ADMIN_URL = os.environ.get("KEYSTEAD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN_URL = os.environ.get("KEYSTEAD_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("KEYSTEAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("KEYSTEAD_REQUIRE_SERVICES") == "1"

SQL_BACKENDS = ["sqlite-file", "sqlite-memory", "postgresql", "mariadb"]
BACKENDS = ["memory", *SQL_BACKENDS, "redis"]

#: The key sealing Redis records in tests.
REDIS_KEY = bytes(range(32))

_SESSION = secrets.token_hex(4)
_counter = itertools.count()


def _unavailable(service: str, exc: BaseException) -> None:
    reason = f"{service} unreachable: {type(exc).__name__}: {exc}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (KEYSTEAD_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this session."""
    import psycopg

    database = f"keystead_test_{_SESSION}"
    admin = POSTGRES_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
    except psycopg.Error as exc:
        _unavailable("PostgreSQL", exc)
    yield _with_database(admin, database)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _mysql_connect() -> Any:
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(MYSQL_ADMIN_URL.replace("mysql://", "mysql+pymysql://", 1))
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        connect_timeout=5,
        autocommit=True,
    )


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """URL of a fresh MariaDB/MySQL database for this session."""
    import pymysql

    database = f"keystead_test_{_SESSION}"
    try:
        with _mysql_connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    except pymysql.Error as exc:
        _unavailable("MariaDB/MySQL", exc)
    yield _with_database(MYSQL_ADMIN_URL, database)
    with _mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis URL (database 15 by default), checked to answer."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    return REDIS_URL


def delete_redis_prefix(url: str, prefix: str) -> None:
    """Delete the keys under ``prefix`` only (other data in the database is left alone)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def wipe_sql(store: SqlStore) -> None:
    """Empty every table but schema_version and change_counters (a shared test database, fresh for the next test)."""
    with store._engine.begin() as conn:
        for table in reversed(store._schema.metadata.sorted_tables):
            if table.name not in ("schema_version", "change_counters"):  # the stamp must never go back
                conn.execute(table.delete())


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL opening an empty store of the backend named by ``request.param`` (cleaned up afterwards)."""
    backend = request.param
    if backend == "memory":
        yield "memory://"
    elif backend == "sqlite-file":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    elif backend == "sqlite-memory":
        yield "sqlite://"
    elif backend in ("postgresql", "mariadb"):
        url = request.getfixturevalue("postgres_url" if backend == "postgresql" else "mysql_url")
        yield url
        cleaner = open_store(url)
        assert isinstance(cleaner, SqlStore)
        try:
            wipe_sql(cleaner)
        finally:
            cleaner.close()
    elif backend == "redis":
        base = request.getfixturevalue("redis_url")
        prefix = f"keystead-test-{_SESSION}-{next(_counter)}:"
        yield f"{base}?prefix={prefix}"
        delete_redis_prefix(base, prefix)
    else:  # pragma: no cover - a typo in a parametrize list
        raise AssertionError(backend)


@pytest.fixture
def open_test_store(store_url: str) -> Iterator[Callable[[], ObjectStore]]:
    """Opens (and at teardown closes) stores on ``store_url``; memory:// always returns the same store."""
    opened: list[ObjectStore] = []
    shared: MemoryStore | None = None

    def opener() -> ObjectStore:
        nonlocal shared
        if store_url == "memory://":
            shared = shared or MemoryStore()
            return shared
        store = open_store(store_url, redis_key=REDIS_KEY)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def store(open_test_store: Callable[[], ObjectStore]) -> ObjectStore:
    """An empty store (parametrize ``store_url`` indirectly with backend names)."""
    return open_test_store()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test asking for ``store`` or ``open_test_store`` on every backend (unless it parametrizes
    ``store_url`` itself)."""
    if "store_url" in metafunc.fixturenames and not any(
        "store_url" in m.args[0] for m in metafunc.definition.iter_markers("parametrize")
    ):
        metafunc.parametrize("store_url", BACKENDS, indirect=True)
