"""Several ``keystead serve`` nodes on one database (the high-availability tests and ``bench/bench_nodes``).

``scratch_database`` makes an empty database of its own on the local PostgreSQL, MariaDB or Redis (or a SQLite
file) and removes it afterwards; ``start_nodes`` starts nodes on it that share one certificate authority and
server certificate, as nodes behind one load balancer do. The services come from the same variables as the store
tests (``KEYSTEAD_TEST_POSTGRES_URL``, ``KEYSTEAD_TEST_MYSQL_URL``, ``KEYSTEAD_TEST_REDIS_URL``).
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from integration_tests._keystead_server import KeysteadProcess, free_port, keystead

POSTGRES_ADMIN_URL = os.environ.get("KEYSTEAD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN_URL = os.environ.get("KEYSTEAD_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("KEYSTEAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DATABASES = ("sqlite", "postgresql", "mariadb", "redis")


class ServiceUnavailable(Exception):
    """The database service cannot be reached (callers skip or fail with this reason)."""


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@contextmanager
def scratch_database(kind: str, workdir: Path) -> Iterator[tuple[str, list[str]]]:
    """(store URL, extra ``keystead serve`` arguments) of a new empty database of ``kind``, removed afterwards."""
    name = f"keystead_ha_{secrets.token_hex(4)}"
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'shared.db'}", []
    elif kind == "postgresql":
        import psycopg

        try:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            raise ServiceUnavailable(f"PostgreSQL unreachable: {exc}") from exc
        try:
            yield _with_database(POSTGRES_ADMIN_URL, name), []
        finally:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    elif kind == "mariadb":
        import pymysql
        from sqlalchemy.engine import make_url

        admin = make_url(MYSQL_ADMIN_URL)

        def connect() -> pymysql.Connection:
            return pymysql.connect(
                host=admin.host or "127.0.0.1",
                port=admin.port or 3306,
                user=admin.username or "root",
                password=admin.password or "",
                connect_timeout=5,
                autocommit=True,
            )

        try:
            with connect() as mysql_conn, mysql_conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        except pymysql.Error as exc:
            raise ServiceUnavailable(f"MariaDB unreachable: {exc}") from exc
        try:
            yield _with_database(MYSQL_ADMIN_URL, name), []
        finally:
            with connect() as mysql_conn, mysql_conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    elif kind == "redis":
        import redis

        key_file = workdir / "redis.key"
        key_file.write_bytes(secrets.token_bytes(32))
        key_file.chmod(0o600)
        prefix = f"{name}:"
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"Redis unreachable: {exc}") from exc
        try:
            yield f"{REDIS_URL}?prefix={prefix}", ["--redis-key-file", str(key_file)]
        finally:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
    else:
        raise ValueError(f"unknown database kind {kind!r}: one of {', '.join(DATABASES)}")


def shared_certs(workdir: Path) -> Path:
    """One ``keystead certs init`` for every node (server certificate for 127.0.0.1 and localhost)."""
    certs = workdir / "certs"
    if not (certs / "ca.pem").exists():
        result = keystead("certs", "init", str(certs), cwd=workdir)
        assert result.returncode == 0, result.stderr
    return certs


def start_node(workdir: Path, index: int, database: str, certs: Path, *extra: str) -> KeysteadProcess:
    """Node ``index``: ``keystead serve`` on ``database`` with the shared certificates, on free ports."""
    node = KeysteadProcess.start(
        workdir / f"node{index}",
        "--database", database,
        "--tls-cert", str(certs / "server.pem"),
        "--tls-key", str(certs / "server.key"),
        "--tls-ca", str(certs / "ca.pem"),
        "--kmip-port", str(free_port()),
        *extra,
        tls=False,
    )  # fmt: skip
    node.certs = certs
    return node


def shared_kek(workdir: Path) -> Path:
    """One key-encryption key file for every node (each node's own would seal keys the others cannot open)."""
    path = workdir / "keystead.kek"
    if not path.exists():
        path.write_bytes(base64.b64encode(secrets.token_bytes(32)) + b"\n")
        path.chmod(0o600)
    return path


def start_nodes(workdir: Path, count: int, database: str, *extra: str) -> list[KeysteadProcess]:
    """``count`` nodes on one database, sharing certificates and key-encryption key (stopped by the caller)."""
    certs = shared_certs(workdir)
    extra = ("--kek-file", str(shared_kek(workdir)), *extra)
    nodes: list[KeysteadProcess] = []
    try:
        for index in range(count):
            nodes.append(start_node(workdir, index, database, certs, *extra))
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


__all__ = [
    "DATABASES",
    "ServiceUnavailable",
    "scratch_database",
    "shared_certs",
    "shared_kek",
    "start_node",
    "start_nodes",
]
