"""The connections ``SqlStore`` runs its transactions on: SQLite's one connection behind an in-process lock, with
the WAL-index header that gives its change stamp without a query, apart from the PostgreSQL/MySQL pool.

Both hand out a ``Link`` (a driver connection and its cursor) with ``acquire`` and take it back with ``release``.
SQLite's change stamp is read here without a query (``StoreTransaction.change_stamp``); PostgreSQL's and MySQL's
are one query on a pooled connection (``sql``).
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.pool import PoolProxiedConnection

from .base import StoreError

#: Seconds a transaction waits for SQLite's lock (this process's queue in front of SQLite's single writer).
SQLITE_BUSY_TIMEOUT = 30.0
#: Seconds a PostgreSQL/MySQL transaction waits for a connection of the pool.
CONNECT_TIMEOUT = 10
#: Connections in use at once (PostgreSQL, MySQL).
POOL_SIZE = 16
#: Bytes of the two copies of the WAL-index header at the start of ``<database>-shm``.
_WAL_HEADERS = 96


def store_error(exc: BaseException) -> StoreError:
    """A ``StoreError`` describing a driver failure without its message (which may quote parameters)."""
    orig = getattr(exc, "orig", None) or exc
    code = (
        getattr(orig, "sqlstate", None)  # psycopg
        or getattr(orig, "sqlite_errorname", None)  # sqlite3
        or (orig.args[0] if orig.args and isinstance(orig.args[0], int) else None)  # pymysql errno
    )
    suffix = f" ({code})" if code else ""
    return StoreError(f"database error: {type(orig).__name__}{suffix}")


class Link:
    """One driver connection the store holds (checked out of SQLAlchemy's pool for the store's life)."""

    __slots__ = ("cursor", "dbapi", "proxied")

    def __init__(self, proxied: PoolProxiedConnection, dialect: str) -> None:
        self.proxied = proxied
        dbapi = proxied.driver_connection
        if dbapi is None:
            raise StoreError("the pool returned a closed connection")
        self.dbapi: Any = dbapi
        if dialect == "postgresql":
            self.dbapi.autocommit = True
        elif dialect in ("mysql", "mariadb"):
            self.dbapi.autocommit(True)
        self.cursor: Any = self.dbapi.cursor()

    def close(self, invalidate: bool = False) -> None:
        """Give the connection back to SQLAlchemy's pool (``invalidate``: discard it, it is broken)."""
        try:
            if invalidate:
                self.proxied.invalidate()
            else:
                self.cursor.close()
                self.proxied.close()
        except Exception:  # noqa: S110 - a broken connection may fail to close; it is dropped anyway
            pass


class WalHeader:
    """A read-only map of the WAL-index header SQLite keeps in ``<database>-shm`` (SQLite file format, "WAL-index
    format"): two 48-byte copies of one header, rewritten by every commit of every connection (its iChange counts
    transactions; mxFrame and the salts move with the log). Reading it is what ``PRAGMA data_version`` does before
    it compares, without the read lock the pragma takes (a system call per check). A torn read — the copies differ
    while a writer rewrites them — gives None and the caller asks SQLite instead.

    The file lives as long as a connection to the database is open, so it is mapped after opening the connection
    and mapped again whenever that connection is replaced."""

    __slots__ = ("_map",)

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if os.fstat(fd).st_size < _WAL_HEADERS:
                raise OSError("WAL index not initialised")
            self._map = mmap.mmap(fd, _WAL_HEADERS, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)

    def read(self) -> bytes | None:
        both = self._map[:_WAL_HEADERS]
        first = both[:48]
        return first if first == both[48:] else None

    def close(self) -> None:
        self._map.close()


def wal_header(link: Link, database: str | None) -> WalHeader | None:
    """The WAL-index header map of a file database in WAL mode, or None (in-memory, URI names, other modes)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    try:
        mode = link.cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            return None
        link.cursor.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # the -shm exists once a read ran
        return WalHeader(database + "-shm")
    except (OSError, ValueError, sqlite3.Error):
        return None


class SqliteConnection:
    """SQLite's one connection: a process-local lock queues transactions in front of SQLite's single writer (and
    makes the shared connection of an in-memory database safe), and the WAL-index header gives change stamps."""

    def __init__(
        self, connect: Callable[[], Link], database: str | None, driver_errors: tuple[type[BaseException], ...]
    ) -> None:
        self._connect = connect
        self._database = database
        self._driver_errors = driver_errors
        self._lock = threading.Lock()
        self._closed = False
        self.link: Link | None = connect()
        self.wal: WalHeader | None = wal_header(self.link, database)
        #: Bumped by each commit of this process that wrote, and when the connection is replaced (the change
        #: stamp pairs it with the WAL-index header or ``PRAGMA data_version``, which only see other connections'
        #: commits).
        self.generation = 0

    def acquire(self) -> Link:
        """The connection, once no other transaction of this process holds it."""
        if not self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT):
            raise StoreError("timed out waiting for another SQLite transaction")
        link = self.link
        if link is None:
            self._lock.release()
            raise StoreError("the store is closed")
        return link

    def release(self, link: Link, broken: bool, wrote: bool) -> None:
        """End a transaction (``wrote``: it committed a write); a broken connection is replaced."""
        try:
            if wrote:
                self.generation += 1
            if broken or self._closed:
                link.close(invalidate=broken)
                self.generation += 1
                self.link = None if self._closed else self._reopen()
                self._remap_wal()
        finally:
            self._lock.release()

    def stamp(self, link: Link) -> tuple[int, Any]:
        """The change stamp: (this process's write generation, the WAL-index header) or, when the header cannot be
        read, (generation, ``PRAGMA data_version``) — the caller holds the lock for the latter."""
        wal = self.wal
        if wal is not None:
            header = wal.read()
            if header is not None:
                return self.generation, header
        return self.generation, int(link.cursor.execute("PRAGMA data_version").fetchone()[0])

    def change_stamp(self) -> tuple[int, Any] | None:
        """The stamp a transaction would give now, without opening one; None if SQLite is busy or failing."""
        wal = self.wal
        if wal is not None and not self._closed:
            generation = self.generation  # read before the header: a commit between them only looks newer
            try:
                header = wal.read()
            except ValueError:  # unmapped by close() or a connection replaced meanwhile
                return None
            if header is not None:
                return generation, header
        if not self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT):
            return None
        try:
            link = self.link
            if link is None or self._closed:
                return None
            return self.stamp(link)
        except self._driver_errors:
            return None
        finally:
            self._lock.release()

    def close(self) -> None:
        self._closed = True
        if self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT):
            try:
                if self.wal is not None:
                    self.wal.close()
                    self.wal = None
                if self.link is not None:
                    self.link.close()
                    self.link = None
            finally:
                self._lock.release()

    def _reopen(self) -> Link | None:
        try:
            return self._connect()
        except self._driver_errors:
            return None  # the next transaction reports the store closed; health() tells why

    def _remap_wal(self) -> None:
        """Map the WAL-index header again for the current connection (or stop using it once closed)."""
        old, self.wal = self.wal, None
        if old is not None:
            old.close()
            if self.link is not None and not self._closed:
                self.wal = wal_header(self.link, self._database)


class ConnectionPool:
    """PostgreSQL / MySQL connections: idle ones kept LIFO (so a warm one is reused), at most ``POOL_SIZE`` in use."""

    def __init__(self, connect: Callable[[], Link], driver_errors: tuple[type[BaseException], ...]) -> None:
        self._connect = connect
        self._driver_errors = driver_errors
        self._closed = False
        self.idle: list[Link] = []
        self._slots = threading.BoundedSemaphore(POOL_SIZE)

    def acquire(self) -> Link:
        if not self._slots.acquire(timeout=CONNECT_TIMEOUT):
            raise StoreError("timed out waiting for a database connection")
        try:
            return self.idle.pop()
        except IndexError:
            pass
        try:
            return self._connect()
        except BaseException as exc:
            self._slots.release()
            if isinstance(exc, self._driver_errors):
                raise store_error(exc) from None
            raise

    def release(self, link: Link, broken: bool, wrote: bool) -> None:
        try:
            if broken or self._closed:
                link.close(invalidate=broken)
            else:
                self.idle.append(link)
        finally:
            self._slots.release()

    def replace(self, link: Link) -> Link:
        """A fresh connection in place of a dead one (the slot stays taken)."""
        link.close(invalidate=True)
        return self._connect()

    def close(self) -> None:
        self._closed = True
        while self.idle:
            self.idle.pop().close()


__all__ = [
    "CONNECT_TIMEOUT",
    "POOL_SIZE",
    "SQLITE_BUSY_TIMEOUT",
    "ConnectionPool",
    "Link",
    "SqliteConnection",
    "WalHeader",
    "store_error",
    "wal_header",
]
