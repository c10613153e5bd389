"""Latency of the object store's hot paths on every backend (one thread, ``time.perf_counter``).

Run with ``python -m bench.bench_store [backend …] [--seconds S]``; backends: ``sqlite`` (a file, WAL,
``synchronous=FULL`` as shipped), ``sqlite-nosync`` (the same with ``synchronous=OFF``: what the store costs
without the fsync of each commit; a benchmark-only setting), ``postgresql``, ``mariadb``, ``redis``, ``memory``.
Every operation is one whole transaction, as the engine runs it for one request:

* ``empty``: ``with store.transaction(): pass``
* ``get``: one ``get`` of an existing object (the Get operation's store work)
* ``insert``: one new object with a Name, two dates and the crypto fields (Create)
* ``update``: ``get`` then ``update`` with new attribute bytes (Modify/Add Attribute on a non-indexed attribute)
* ``update-index``: ``get`` then ``update`` changing state and a date (Activate)
* ``locate``: Locate by Name for a user (owner or grantee)

PostgreSQL and MariaDB get a database ``keystead_bench_<random>`` created and dropped around the run; Redis uses
database 15 under a random key prefix, deleted afterwards. The URLs of the local services can be changed with
``KEYSTEAD_BENCH_POSTGRES_URL``, ``KEYSTEAD_BENCH_MYSQL_URL`` and ``KEYSTEAD_BENCH_REDIS_URL``; an unreachable
service is reported and skipped.
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.bench_codecs import measure as measure_once
from kms_backend.store import LocateQuery, ObjectStore, StoredObject, open_store

#: Minimum wall time per measurement, seconds.
MIN_SECONDS = 1.0
#: Rounds per measurement (the best one is reported).
ROUNDS = 5
#: Objects present before measuring (the get/update/locate targets).
POPULATION = 1000

POSTGRES_URL = os.environ.get("KEYSTEAD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("KEYSTEAD_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("KEYSTEAD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_KEY = bytes(range(32))

BACKENDS = ["sqlite", "sqlite-nosync", "postgresql", "mariadb", "redis", "memory"]
OPERATIONS = ["empty", "get", "insert", "update", "update-index", "locate"]

# KMIP 2.1 values: Symmetric Key, Active / Pre-Active, AES, Encrypt|Decrypt, Initial / Activation Date, Get.
SYMMETRIC_KEY, PRE_ACTIVE, ACTIVE, AES, USAGE = 2, 1, 2, 3, 12
INITIAL_DATE, ACTIVATION_DATE, GET = 1, 2, 10

Row = tuple[str, str, float]  # (backend, operation, seconds per op)


def measure(func: Callable[[], object], min_seconds: float = MIN_SECONDS, rounds: int = ROUNDS) -> float:
    """Seconds per call of ``func``: the best of ``rounds`` rounds of ``min_seconds / rounds`` each (the fastest
    round is the one least disturbed by other processes; all calls are one thread)."""
    return min(measure_once(func, min_seconds / rounds) for _ in range(rounds))


def key_object(uid: str) -> StoredObject:
    """A 256-bit AES key record as the engine writes it (sizes of a real TTLV object and attribute list)."""
    return StoredObject(
        uid=uid,
        object_type=SYMMETRIC_KEY,
        owner="alice",
        state=PRE_ACTIVE,
        object_bytes=os.urandom(120),
        attributes_bytes=os.urandom(400),
        cryptographic_algorithm=AES,
        cryptographic_length=256,
        cryptographic_usage_mask=USAGE,
        names=[f"name-{uid}"],
        dates={INITIAL_DATE: 1_700_000_000},
    )


def operations(store: ObjectStore) -> dict[str, Callable[[], object]]:
    """The measured operations on ``store``, populated with ``POPULATION`` objects."""
    run = secrets.token_hex(4)
    uids = [f"{run}-{i}" for i in range(POPULATION)]
    with store.transaction() as tx:
        for uid in uids:
            tx.insert(key_object(uid))
            tx.grant(uid, "bob", [GET])
    cycle = itertools.cycle(uids)
    counter = itertools.count()

    def empty() -> None:
        with store.transaction():
            pass

    def get() -> object:
        with store.transaction() as tx:
            return tx.get(next(cycle))

    def insert() -> None:
        with store.transaction() as tx:
            tx.insert(key_object(f"{run}-new-{next(counter)}"))

    def update() -> None:
        with store.transaction() as tx:
            obj = tx.get(next(cycle))
            assert obj is not None
            obj.attributes_bytes = os.urandom(400)
            tx.update(obj)

    def update_index() -> None:
        with store.transaction() as tx:
            obj = tx.get(next(cycle))
            assert obj is not None
            obj.state = ACTIVE if obj.state == PRE_ACTIVE else PRE_ACTIVE
            obj.dates[ACTIVATION_DATE] = next(counter)
            tx.update(obj)

    def locate() -> list[str]:
        with store.transaction() as tx:
            return tx.locate(LocateQuery(names=[f"name-{next(cycle)}"], user="bob", operation=GET))

    return {
        "empty": empty,
        "get": get,
        "insert": insert,
        "update": update,
        "update-index": update_index,
        "locate": locate,
    }


# --- backends ---------------------------------------------------------------------------------------------------
def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@contextmanager
def _postgres() -> Iterator[str]:
    import psycopg

    database = f"keystead_bench_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield _with_database(POSTGRES_URL, database)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def _mariadb() -> Iterator[str]:
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(MYSQL_URL.replace("mysql://", "mysql+pymysql://", 1))
    database = f"keystead_bench_{secrets.token_hex(4)}"

    def admin() -> Any:
        return pymysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            connect_timeout=5,
            autocommit=True,
        )

    with admin() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    try:
        yield _with_database(MYSQL_URL, database)
    finally:
        with admin() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")


@contextmanager
def _redis() -> Iterator[str]:
    import redis

    prefix = f"keystead-bench-{secrets.token_hex(4)}:"
    try:
        yield f"{REDIS_URL}?prefix={prefix}"
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
        finally:
            client.close()


@contextmanager
def open_backend(backend: str) -> Iterator[ObjectStore]:
    """An empty store of ``backend``, removed afterwards."""
    if backend in ("sqlite", "sqlite-nosync"):
        with tempfile.TemporaryDirectory() as directory:
            store = open_store(f"sqlite:///{directory}/bench.db")
            if backend == "sqlite-nosync":
                _sqlite_without_fsync(store)
            try:
                yield store
            finally:
                store.close()
        return
    if backend == "memory":
        yield open_store("memory://")
        return
    databases = {"postgresql": _postgres, "mariadb": _mariadb, "redis": _redis}
    with databases[backend]() as url:
        store = open_store(url, redis_key=REDIS_KEY)
        try:
            yield store
        finally:
            store.close()


def _sqlite_without_fsync(store: ObjectStore) -> None:
    """``PRAGMA synchronous=OFF`` on the store's connection (benchmark only: commits are then not durable)."""
    link = getattr(getattr(store, "connections", None), "link", None)
    if link is not None:
        link.dbapi.execute("PRAGMA synchronous=OFF")
        return
    # A store without a dedicated connection (older versions): every pooled connection gets the pragma.
    from sqlalchemy import event

    engine = store._engine  # type: ignore[attr-defined]
    engine.dispose()
    event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA synchronous=OFF"))


def bench_backend(backend: str, min_seconds: float) -> list[Row]:
    """Rows for every operation on ``backend`` (none, with a note, if its service is unreachable)."""
    try:
        with open_backend(backend) as store:
            ops = operations(store)
            return [(backend, name, measure(ops[name], min_seconds)) for name in OPERATIONS]
    except Exception as exc:
        print(f"{backend}: skipped ({type(exc).__name__}: {exc})")
        return []


def print_table(rows: list[Row]) -> None:
    print(f"{'backend':<14} {'operation':<13} {'ops/s':>10} {'µs/op':>9}")
    for backend, operation, seconds in rows:
        print(f"{backend:<14} {operation:<13} {1 / seconds:>10,.0f} {seconds * 1e6:>9.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_store", description=__doc__.split("\n")[0])
    parser.add_argument("backends", nargs="*", metavar="backend", help=f"any of {', '.join(BACKENDS)} (default: all)")
    parser.add_argument("--seconds", type=float, default=MIN_SECONDS, help="minimum time per measurement")
    args = parser.parse_args(argv or [])
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(unknown)}")
    print(f"Object store, one thread, {POPULATION} objects; one transaction per operation")
    rows: list[Row] = []
    for backend in args.backends or BACKENDS:
        rows += bench_backend(backend, args.seconds)
    print_table(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
