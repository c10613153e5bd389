"""Fixtures every test directory shares: the database services.

PostgreSQL, MariaDB/MySQL and Redis come from the environment (defaults: the local services). A test session creates
its own database ``keystead_test_<random>`` on PostgreSQL and MariaDB and drops it at the end (defined here once, so
that every directory asking for it gets the same one); Redis is database 15, where tests use key prefixes of their
own. An unreachable service skips its tests with the reason, unless ``KEYSTEAD_REQUIRE_SERVICES=1`` (CI), where it
fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

POSTGRES_ADMIN_URL = os.environ.get("KEYSTEAD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN_URL = os.environ.get("KEYSTEAD_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("KEYSTEAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("KEYSTEAD_REQUIRE_SERVICES") == "1"

#: This test session's random name part (databases, key prefixes).
SESSION = secrets.token_hex(4)


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

    database = f"keystead_test_{SESSION}"
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

    database = f"keystead_test_{SESSION}"
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
