"""Store fixtures: one fresh store per test for every backend.

PostgreSQL, MariaDB/MySQL and Redis are the session fixtures of ``tests/conftest.py`` (one database per test session,
shared by every directory); on Redis each test uses its own random key prefix in database 15 and deletes only those
keys.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kms_backend.store import ObjectStore, open_store
from kms_backend.store.memory import MemoryStore
from kms_backend.store.sql import SqlStore
from tests.conftest import SESSION as _SESSION

SQL_BACKENDS = ["sqlite-file", "sqlite-memory", "postgresql", "mariadb"]
BACKENDS = ["memory", *SQL_BACKENDS, "redis"]

#: The key sealing Redis records in tests.
REDIS_KEY = bytes(range(32))

_counter = itertools.count()


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
