"""Where managed objects live: the ``ObjectStore`` protocol (``base``) and ``open_store``, which picks the
implementation named by a database URL.

=================================  ==========================================================================
URL                                store
=================================  ==========================================================================
``sqlite:///path/to/file.db``      SQLite file (WAL, synchronous=FULL); the default under the data directory
``sqlite://``                      SQLite in memory, one connection shared by all threads (tests, demos)
``postgresql://user@host:port/db`` PostgreSQL through psycopg 3 (``postgres://`` is accepted too)
``mysql://user@host:port/db``      MySQL or MariaDB through PyMySQL (``mariadb://`` is accepted too)
``redis://host:port/N``            Redis database N, records sealed with ``redis_key``; ``?prefix=P`` changes
                                   the key prefix (default ``keystead:``); ``rediss://`` for TLS
``memory://``                      the in-memory test double
=================================  ==========================================================================

The implementation modules import their drivers (SQLAlchemy, redis) only when a URL asks for them.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .base import (
    EVERYONE,
    LocateQuery,
    NameConflict,
    ObjectStore,
    SettingsStore,
    StoreConflict,
    StoredObject,
    StoreError,
    StoreTransaction,
)

#: Plain URL scheme -> SQLAlchemy dialect+driver.
_SQL_DRIVERS = {
    "sqlite": "sqlite+pysqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def open_store(url: str, *, redis_key: bytes | None = None, stamp_lag: float = 0.0) -> ObjectStore:
    """Open (creating or migrating the schema where needed) the store named by ``url``.

    ``redis_key``: the 32-byte AES-256-GCM key sealing records, required for ``redis://``. ``stamp_lag``: on
    PostgreSQL, MySQL and Redis, how many seconds old a change stamp polled in the background may be before a
    request reads it itself (0: every request reads it; see ``_stamps``). Raises ValueError for a URL this function
    does not understand and StoreError when the database cannot be reached or opened.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError("a store URL looks like sqlite:///path, postgresql://…, mysql://…, redis://… or memory://")
    if scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore()
    if scheme in _SQL_DRIVERS:
        from .sql import SqlStore

        return SqlStore(f"{_SQL_DRIVERS[scheme]}://{rest}", stamp_lag=stamp_lag)
    if scheme in ("redis", "rediss"):
        if redis_key is None:
            raise ValueError("a redis:// store needs redis_key (32 bytes) to seal its records")
        from .redis_store import DEFAULT_PREFIX, RedisStore

        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefix = next((v for k, v in query if k == "prefix"), DEFAULT_PREFIX)
        rest_query = urlencode([(k, v) for k, v in query if k != "prefix"])
        return RedisStore(urlunsplit(parts._replace(query=rest_query)), redis_key, prefix=prefix, stamp_lag=stamp_lag)
    raise ValueError(
        f"unsupported store URL scheme {scheme!r}: use sqlite, postgresql, mysql, mariadb, redis or memory"
    )


__all__ = [
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
