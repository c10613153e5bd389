"""``ObjectStore`` on SQLite, PostgreSQL and MySQL/MariaDB through SQLAlchemy Core (no ORM).

Layout and migrations: ``_sql_schema``. What this module adds:

* Transactions. SQLite runs in WAL mode with ``synchronous=FULL`` (a commit that returned is on disk) and every
  transaction starts with ``BEGIN IMMEDIATE``: a transaction that reads and then writes can otherwise fail with
  SQLITE_BUSY when another connection committed in between (busy_timeout cannot help with that upgrade), and the
  protocol does not tell read-only transactions apart. Within one process a lock queues transactions before
  they reach SQLite, so waiting threads sleep instead of polling the busy handler. PostgreSQL and MySQL run at
  READ COMMITTED; ``update`` is a compare-and-set on ``revision``, which the row lock taken by the UPDATE makes
  safe under concurrency, and ``get(for_update=True)`` is ``SELECT … FOR UPDATE``.
* Name uniqueness: checked with one SELECT before a write (clean ``NameConflict`` in the common case) and
  enforced by the ``uq_names_live`` unique index on all three databases against races; its IntegrityError is
  turned into ``NameConflict`` (on PostgreSQL that also aborts the transaction, which the caller rolls back).
* Locate: one SELECT with one EXISTS subquery per multi-valued filter, ordered by the creation sequence, OFFSET
  and LIMIT in SQL; ``count`` is the same WHERE clause under COUNT(*).
* Reads: one row per object. The row carries its Locate fields as JSON (``index_data``) beside the child tables
  that index them, so ``get``, ``get_many``, ``owned`` and ``obtained`` are one query whatever the number of
  objects (no N+1, no join fan-out). A transaction remembers the index it read so that ``update`` rewrites only
  the child tables whose values changed.
* Errors: every driver error becomes ``StoreError`` naming only the exception class and error code; the driver
  message is dropped and the exception chain cut, since both can quote SQL parameters (key material).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Insert,
    Select,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import QueuePool, StaticPool

from ._common import check_lengths, is_live, normalised_copy
from ._sql_schema import Schema, build_schema, migrate
from .base import EVERYONE, LocateQuery, NameConflict, StoreConflict, StoredObject, StoreError

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Seconds a SQLite transaction waits for the write lock (in-process queue, then SQLite's busy handler).
SQLITE_BUSY_TIMEOUT = 30.0
#: Seconds to wait for a PostgreSQL / MySQL connection before failing.
CONNECT_TIMEOUT = 10
#: Uids per IN (...) list: SQLite caps host parameters, and huge lists help no planner.
_CHUNK = 500
#: Uids per batch in ``all_uids`` (one short transaction per batch).
_ALL_UIDS_BATCH = 1000


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


def _wrap_errors(
    method: Callable[Concatenate[SqlTransaction, _P], _R],
) -> Callable[Concatenate[SqlTransaction, _P], _R]:
    """Turn driver exceptions raised by a transaction method into StoreError (chain cut: see module doc)."""

    @functools.wraps(method)
    def wrapper(self: SqlTransaction, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if self.finished:
            raise StoreError("the transaction is finished")
        try:
            return method(self, *args, **kwargs)
        except SQLAlchemyError as exc:
            self.poisoned = True
            raise store_error(exc) from None
        except OverflowError:
            self.poisoned = True
            # sqlite3 rejects integers beyond 64 bits before SQLAlchemy sees the statement.
            raise StoreError("database error: an integer is out of range") from None

    return wrapper


@dataclass(frozen=True, slots=True)
class _Index:
    """The child-table contents of one object, to rewrite only what an update changed."""

    names: tuple[str, ...]
    groups: tuple[str, ...]
    tags: tuple[str, ...]
    links: tuple[tuple[int, str], ...]
    dates: tuple[tuple[int, int], ...]
    live: bool
    object_type: int

    def encode(self) -> str:
        """The ``objects.index_data`` form (JSON)."""
        return json.dumps(
            {"n": self.names, "g": self.groups, "t": self.tags, "l": self.links, "d": self.dates},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, data: str, live: bool, object_type: int) -> _Index:
        """Parse ``objects.index_data``."""
        d = json.loads(data)
        return cls(
            tuple(d["n"]),
            tuple(d["g"]),
            tuple(d["t"]),
            tuple((int(t), u) for t, u in d["l"]),
            tuple((int(t), int(v)) for t, v in d["d"]),
            live,
            object_type,
        )

    def fill(self, obj: StoredObject) -> None:
        """Copy the index values into ``obj``."""
        obj.names = list(self.names)
        obj.object_groups = list(self.groups)
        obj.tags = list(self.tags)
        obj.links = list(self.links)
        obj.dates = dict(self.dates)

    @classmethod
    def of(cls, obj: StoredObject) -> _Index:
        """The index of a normalised object."""
        return cls(
            tuple(obj.names),
            tuple(obj.object_groups),
            tuple(obj.tags),
            tuple(obj.links),
            tuple(sorted(obj.dates.items())),
            is_live(obj.state),
            obj.object_type,
        )


class _Statements:
    """Statements built once per store so that SQLAlchemy's compiled cache always hits."""

    def __init__(self, s: Schema, dialect: str) -> None:
        o = s.objects
        self.schema = s
        self.columns = (
            o.c.uid,
            o.c.object_type,
            o.c.owner,
            o.c.state,
            o.c.object_bytes,
            o.c.attributes_bytes,
            o.c.cryptographic_algorithm,
            o.c.cryptographic_length,
            o.c.cryptographic_usage_mask,
            o.c.storage_status,
            o.c.revision,
            o.c.index_data,
        )
        self.get = select(*self.columns).where(o.c.uid == bindparam("uid"))
        # SQLite has no row locks; BEGIN IMMEDIATE already holds the database write lock.
        self.get_locked = self.get if dialect == "sqlite" else self.get.with_for_update()
        self.get_many = select(*self.columns).where(o.c.uid.in_(bindparam("uids", expanding=True)))
        self.owned = select(*self.columns).where(o.c.owner == bindparam("owner")).order_by(o.c.seq)
        granted_uids = select(s.grants.c.uid).where(s.grants.c.user == bindparam("user"))
        self.obtained = (
            select(*self.columns).where(o.c.uid.in_(granted_uids), o.c.owner != bindparam("user")).order_by(o.c.seq)
        )
        self.obtained_ops = select(s.grants.c.uid, s.grants.c.operation).where(s.grants.c.user == bindparam("user"))
        self.old_index = select(o.c.revision, o.c.state, o.c.object_type, o.c.index_data).where(
            o.c.uid == bindparam("uid")
        )

        self.insert_object = _insert_ignoring_duplicates(o, dialect, conflict_on=[o.c.uid])
        self.update_object = (
            update(o)
            .where(o.c.uid == bindparam("b_uid"), o.c.revision == bindparam("b_revision"))
            .values(
                object_type=bindparam("object_type"),
                owner=bindparam("owner"),
                state=bindparam("state"),
                cryptographic_algorithm=bindparam("cryptographic_algorithm"),
                cryptographic_length=bindparam("cryptographic_length"),
                cryptographic_usage_mask=bindparam("cryptographic_usage_mask"),
                storage_status=bindparam("storage_status"),
                revision=bindparam("revision"),
                object_bytes=bindparam("object_bytes"),
                attributes_bytes=bindparam("attributes_bytes"),
                index_data=bindparam("index_data"),
            )
        )
        self.delete_object = delete(o).where(o.c.uid == bindparam("uid"))
        self.name_taken = (
            select(s.names.c.name)
            .where(
                s.names.c.object_type == bindparam("object_type"),
                s.names.c.live == 1,
                s.names.c.name.in_(bindparam("names", expanding=True)),
                s.names.c.uid != bindparam("uid"),
            )
            .limit(1)
        )
        self.set_names_liveness = (
            update(s.names)
            .where(s.names.c.uid == bindparam("b_uid"))
            .values(live=bindparam("live"), object_type=bindparam("object_type"))
        )
        self.insert_child = {t.name: insert(t) for t in (s.names, s.groups, s.tags, s.links, s.dates)}
        self.delete_child = {
            t.name: delete(t).where(t.c.uid == bindparam("uid"))
            for t in (s.names, s.groups, s.tags, s.links, s.dates, s.grants)
        }

        g = s.grants
        self.insert_grant = _insert_ignoring_duplicates(g, dialect, conflict_on=None)
        self.revoke = delete(g).where(
            g.c.uid == bindparam("uid"),
            g.c.user == bindparam("user"),
            g.c.operation.in_(bindparam("operations", expanding=True)),
        )
        self.grants = select(g.c.user, g.c.operation).where(g.c.uid == bindparam("uid"))
        self.operations_granted = select(g.c.operation).where(
            g.c.uid == bindparam("uid"), g.c.user.in_([bindparam("user"), EVERYONE])
        )
        p = s.privileged
        self.privileged = select(p.c.user)
        self.add_privileged = _insert_ignoring_duplicates(p, dialect, conflict_on=None)
        self.remove_privileged = delete(p).where(p.c.user == bindparam("user"))
        self.uids_after = (
            select(o.c.seq, o.c.uid).where(o.c.seq > bindparam("after")).order_by(o.c.seq).limit(_ALL_UIDS_BATCH)
        )


def _insert_ignoring_duplicates(table: Any, dialect: str, conflict_on: list[Any] | None) -> Executable:
    """INSERT that skips a row whose key exists (returning no row) on SQLite/PostgreSQL; a plain INSERT on MySQL,
    whose duplicate-key error only fails the statement, or ON DUPLICATE KEY UPDATE (no-op) without a target."""
    if dialect in ("sqlite", "postgresql"):
        stmt: Insert
        if dialect == "sqlite":
            stmt = sqlite_dialect.insert(table).on_conflict_do_nothing(index_elements=conflict_on)
        else:
            stmt = pg_dialect.insert(table).on_conflict_do_nothing(index_elements=conflict_on)
        # RETURNING tells a skipped row apart reliably (rowcount is -1 once SQLAlchemy adds its own RETURNING).
        return stmt.returning(*conflict_on) if conflict_on is not None else stmt
    if conflict_on is not None:
        return insert(table)
    stmt = mysql_dialect.insert(table)
    first = next(iter(table.primary_key.columns)).name
    return stmt.on_duplicate_key_update({first: stmt.inserted[first]})


class SqlStore:
    """``ObjectStore`` on a SQLAlchemy engine. ``url`` is a SQLAlchemy URL with its driver
    (``sqlite+pysqlite://…``, ``postgresql+psycopg://…``, ``mysql+pymysql://…``); ``open_store`` maps the
    plain forms."""

    def __init__(self, url: str | URL) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError("not a database URL") from None
        self._closed = False
        self._engine = _create_engine(parsed)
        self.dialect = self._engine.dialect.name
        # A process-local queue in front of SQLite's single writer (see module doc); also makes the shared
        # connection of an in-memory database safe.
        self._sqlite_lock: threading.Lock | None = threading.Lock() if self.dialect == "sqlite" else None
        try:
            collation = self._mysql_collation() if self.dialect in ("mysql", "mariadb") else None
            self._schema = build_schema(collation)
            self._sql = _Statements(self._schema, self.dialect)
            with self._begin() as conn:
                self.opened_at_version = migrate(conn, self._schema)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise store_error(exc) from None
        except BaseException:
            self._engine.dispose()
            raise

    def _mysql_collation(self) -> str:
        with self._engine.connect() as conn:
            if getattr(conn.dialect, "is_mariadb", False):
                return "utf8mb4_nopad_bin"
            version = conn.dialect.server_version_info or (0,)
            return "utf8mb4_0900_bin" if version >= (8,) else "utf8mb4_bin"

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        lock = self._sqlite_lock
        if lock is not None and not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT):
            raise StoreError("timed out waiting for another SQLite transaction")
        try:
            with self._engine.begin() as conn:
                yield conn
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """A database transaction: commit (durable) on normal exit, roll back if the block raises."""
        self._check_open()
        try:
            with self._begin() as conn:
                tx = SqlTransaction(self._sql, conn, self.dialect)
                try:
                    yield tx
                finally:
                    tx.finished = True
                if tx.poisoned:
                    # Raising here rolls back: a write that failed half-way must not be committed.
                    raise StoreError("a write failed inside this transaction; it was rolled back")
        except SQLAlchemyError as exc:
            raise store_error(exc) from None

    def health(self) -> None:
        """Raise StoreError unless the database answers."""
        self._check_open()
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise store_error(exc) from None

    def close(self) -> None:
        """Close every pooled connection; the store is unusable afterwards."""
        self._closed = True
        self._engine.dispose()

    def all_uids(self) -> Iterator[str]:
        """Every uid in creation order, read in batches of short transactions (no lock held between them)."""
        after = 0
        while True:
            with self.transaction() as tx:
                rows = tx.execute_rows(self._sql.uids_after, {"after": after})
            if not rows:
                return
            for row in rows:
                yield row[1]
            after = rows[-1][0]

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")


def _create_engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    common: dict[str, Any] = {"hide_parameters": True}
    if backend == "sqlite":
        in_memory = url.database in (None, "", ":memory:")
        sqlite_args: dict[str, Any] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT,
            "cached_statements": 256,
        }
        engine = create_engine(
            url,
            poolclass=StaticPool if in_memory else QueuePool,
            connect_args=sqlite_args,
            **common,
            **({} if in_memory else {"pool_size": 4, "max_overflow": 4}),
        )
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
    if backend in ("mysql", "mariadb"):
        connect_args["charset"] = "utf8mb4"
    return create_engine(
        url,
        isolation_level="READ COMMITTED",
        pool_pre_ping=True,
        pool_size=8,
        max_overflow=8,
        connect_args=connect_args,
        **common,
    )


def _configure_sqlite(engine: Engine) -> None:
    """WAL, FULL durability, and explicit BEGIN IMMEDIATE (pysqlite's implicit BEGIN is turned off)."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        # Straight to the driver: this runs once per transaction and the SQLAlchemy statement path costs more.
        driver = conn.connection.driver_connection
        if driver is None:
            raise StoreError("the SQLite connection is closed")
        driver.execute("BEGIN IMMEDIATE")


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class SqlTransaction:
    """``StoreTransaction`` on one connection inside ``SqlStore.transaction``."""

    def __init__(self, sql: _Statements, conn: Connection, dialect: str) -> None:
        self._sql = sql
        self._conn = conn
        self._dialect = dialect
        #: uid -> (revision, index) of objects this transaction read or wrote
        self._known: dict[str, tuple[int, _Index]] = {}
        self.finished = False
        #: set when a statement failed after others of the same operation had run (commit is then refused)
        self.poisoned = False

    def execute_rows(self, stmt: Executable, params: dict[str, Any]) -> list[Any]:
        """Rows of one statement (``SqlStore.all_uids`` reuses the transaction's connection)."""
        return list(self._conn.execute(stmt, params).all())

    # --- reading ------------------------------------------------------------------------------------------------
    def _build(self, rows: Iterable[Any]) -> dict[str, StoredObject]:
        objects: dict[str, StoredObject] = {}
        for r in rows:
            obj = StoredObject(
                uid=r[0],
                object_type=r[1],
                owner=r[2],
                state=r[3],
                object_bytes=bytes(r[4]),
                attributes_bytes=bytes(r[5]),
                cryptographic_algorithm=r[6],
                cryptographic_length=r[7],
                cryptographic_usage_mask=r[8],
                storage_status=r[9],
                revision=r[10],
            )
            index = _Index.decode(r[11], is_live(obj.state), obj.object_type)
            index.fill(obj)
            objects[obj.uid] = obj
            self._known[obj.uid] = (obj.revision, index)
        return objects

    @_wrap_errors
    def get(self, uid: str, for_update: bool = False) -> StoredObject | None:
        """The object, or None; ``for_update`` takes its row lock (SELECT … FOR UPDATE) on PostgreSQL/MySQL."""
        row = self._conn.execute(self._sql.get_locked if for_update else self._sql.get, {"uid": uid}).first()
        return None if row is None else self._build([row])[uid]

    @_wrap_errors
    def get_many(self, uids: Sequence[str]) -> list[StoredObject]:
        """The objects that exist among ``uids``, in the order asked (one query per 500 uids)."""
        found: dict[str, StoredObject] = {}
        wanted = list(dict.fromkeys(uids))
        for chunk in _chunks(wanted):
            found.update(self._build(self._conn.execute(self._sql.get_many, {"uids": chunk})))
        result: list[StoredObject] = []
        seen: set[str] = set()
        for uid in uids:
            obj = found.get(uid)
            if obj is not None:
                # A uid asked twice gets two independent objects, as from two calls to get.
                result.append(normalised_copy(obj) if uid in seen else obj)
                seen.add(uid)
        return result

    def _old_index(self, uid: str, revision: int) -> _Index:
        """The index of ``uid`` at ``revision`` (StoreConflict if the object moved on or is gone)."""
        known = self._known.get(uid)
        if known is not None and known[0] == revision:
            return known[1]
        row = self._conn.execute(self._sql.old_index, {"uid": uid}).first()
        if row is None or row[0] != revision:
            raise StoreConflict(f"object {uid!r} was changed or deleted concurrently")
        return _Index.decode(row[3], is_live(row[1]), row[2])

    # --- writing ------------------------------------------------------------------------------------------------
    def _check_names(self, obj: StoredObject) -> None:
        if not obj.names or not is_live(obj.state):
            return
        params = {"object_type": obj.object_type, "names": obj.names, "uid": obj.uid}
        taken = self._conn.execute(self._sql.name_taken, params).scalar()
        if taken is not None:
            raise NameConflict(taken)

    def _write_children(self, obj: StoredObject, old: _Index | None, new: _Index) -> None:
        uid = obj.uid
        live = 1 if new.live else None
        tables: list[tuple[str, bool, list[dict[str, Any]]]] = [
            (
                "names",
                old is None or old.names != new.names,
                [
                    {"uid": uid, "object_type": obj.object_type, "name": n, "pos": i, "live": live}
                    for i, n in enumerate(new.names)
                ],
            ),
            (
                "groups",
                old is None or old.groups != new.groups,
                [{"uid": uid, "grp": g, "pos": i} for i, g in enumerate(new.groups)],
            ),
            (
                "tags",
                old is None or old.tags != new.tags,
                [{"uid": uid, "tag": t, "pos": i} for i, t in enumerate(new.tags)],
            ),
            (
                "links",
                old is None or old.links != new.links,
                [{"uid": uid, "link_type": lt, "linked_uid": lu, "pos": i} for i, (lt, lu) in enumerate(new.links)],
            ),
            (
                "dates",
                old is None or old.dates != new.dates,
                [{"uid": uid, "date_tag": tag, "value": value} for tag, value in new.dates],
            ),
        ]
        for table, changed, rows in tables:
            if not changed:
                continue
            if old is not None:
                self._conn.execute(self._sql.delete_child[table], {"uid": uid})
            if rows:
                self._conn.execute(self._sql.insert_child[table], rows)
        if (
            old is not None
            and old.names == new.names
            and new.names
            and (old.live != new.live or old.object_type != new.object_type)
        ):
            self._conn.execute(
                self._sql.set_names_liveness, {"b_uid": uid, "live": live, "object_type": obj.object_type}
            )

    def _integrity_error(self, exc: IntegrityError, obj: StoredObject) -> StoreError:
        # Constraint names (PostgreSQL, MySQL) or column lists (SQLite) identify what was violated.
        message = str(exc.orig)
        if "uq_names_live" in message or "names.object_type" in message:
            return NameConflict(obj.names[0] if len(obj.names) == 1 else ", ".join(obj.names))
        if "uq_objects_uid" in message or "objects.uid" in message:
            return StoreConflict(f"an object with uid {obj.uid!r} already exists")
        return store_error(exc)

    @staticmethod
    def _row(obj: StoredObject, revision: int, index: _Index) -> dict[str, Any]:
        return {
            "object_type": obj.object_type,
            "owner": obj.owner,
            "state": obj.state,
            "cryptographic_algorithm": obj.cryptographic_algorithm,
            "cryptographic_length": obj.cryptographic_length,
            "cryptographic_usage_mask": obj.cryptographic_usage_mask,
            "storage_status": obj.storage_status,
            "revision": revision,
            "object_bytes": obj.object_bytes,
            "attributes_bytes": obj.attributes_bytes,
            "index_data": index.encode(),
        }

    @_wrap_errors
    def insert(self, obj: StoredObject) -> None:
        """Add a new object (StoreConflict if the uid exists, NameConflict on a duplicate live name)."""
        check_lengths(obj)
        new = normalised_copy(obj)
        self._check_names(new)
        index = _Index.of(new)
        try:
            result = self._conn.execute(self._sql.insert_object, {"uid": obj.uid, **self._row(new, 1, index)})
        except IntegrityError as exc:
            # MySQL's duplicate uid: only this first statement failed, the transaction stays usable.
            raise self._integrity_error(exc, new) from None
        if result.returns_rows and result.first() is None:
            raise StoreConflict(f"an object with uid {obj.uid!r} already exists")
        try:
            self._write_children(new, None, index)
        except IntegrityError as exc:
            self.poisoned = True
            raise self._integrity_error(exc, new) from None
        obj.revision = 1
        self._known[obj.uid] = (1, index)

    @_wrap_errors
    def update(self, obj: StoredObject) -> None:
        """Replace the object; StoreConflict if ``obj.revision`` is stale (or the object is gone); bumps it."""
        check_lengths(obj)
        new = normalised_copy(obj)
        self._check_names(new)
        revision = obj.revision + 1
        # Read before the UPDATE overwrites index_data; the revision check below makes the pair consistent.
        old = self._old_index(obj.uid, obj.revision)
        index = _Index.of(new)
        try:
            params = {"b_uid": obj.uid, "b_revision": obj.revision, **self._row(new, revision, index)}
            if self._conn.execute(self._sql.update_object, params).rowcount != 1:
                raise StoreConflict(f"object {obj.uid!r} was changed or deleted concurrently")
            self._write_children(new, old, index)
        except IntegrityError as exc:
            self.poisoned = True
            raise self._integrity_error(exc, new) from None
        obj.revision = revision
        self._known[obj.uid] = (revision, index)

    @_wrap_errors
    def delete(self, uid: str) -> bool:
        """Remove the object, its index rows and its grants; True if it existed."""
        existed = self._conn.execute(self._sql.delete_object, {"uid": uid}).rowcount > 0
        tables = self._sql.delete_child if existed else {"grants": self._sql.delete_child["grants"]}
        for stmt in tables.values():
            self._conn.execute(stmt, {"uid": uid})
        self._known.pop(uid, None)
        return existed

    # --- locate -------------------------------------------------------------------------------------------------
    def _where(self, q: LocateQuery) -> list[ColumnElement[bool]]:
        schema = self._sql.schema
        o = schema.objects.c
        names, groups, tags, links, dates, grants = (
            schema.names,
            schema.groups,
            schema.tags,
            schema.links,
            schema.dates,
            schema.grants,
        )
        conds: list[ColumnElement[bool]] = []
        for column, value in (
            (o.object_type, q.object_type),
            (o.cryptographic_algorithm, q.cryptographic_algorithm),
            (o.cryptographic_length, q.cryptographic_length),
            (o.state, q.state),
        ):
            if value is not None:
                conds.append(column == value)
        # Bit-mask tests cannot use a B-tree; they are evaluated on the rows the indexed filters selected.
        if q.cryptographic_usage_mask:
            conds.append(
                o.cryptographic_usage_mask.bitwise_and(q.cryptographic_usage_mask) == q.cryptographic_usage_mask
            )
        conds.append(o.storage_status.bitwise_and(q.storage_status_mask) != 0)
        if q.names:
            conds.append(exists().where(names.c.uid == o.uid, names.c.name.in_(list(q.names))))
        if q.object_groups:
            conds.append(exists().where(groups.c.uid == o.uid, groups.c.grp.in_(list(q.object_groups))))
        for tag in dict.fromkeys(q.tags):
            conds.append(exists().where(tags.c.uid == o.uid, tags.c.tag == tag))
        for link_type, linked in q.links:
            link_conds = [links.c.uid == o.uid, links.c.link_type == link_type]
            if linked:
                link_conds.append(links.c.linked_uid == linked)
            conds.append(exists().where(*link_conds))
        for date_tag, (earliest, latest) in q.date_ranges.items():
            date_conds = [dates.c.uid == o.uid, dates.c.date_tag == date_tag]
            if earliest is not None:
                date_conds.append(dates.c.value >= earliest)
            if latest is not None:
                date_conds.append(dates.c.value <= latest)
            conds.append(exists().where(*date_conds))
        if q.user is not None:
            grant_conds = [grants.c.uid == o.uid, grants.c.user.in_([q.user, EVERYONE])]
            if q.operation is not None:
                grant_conds.append(grants.c.operation == q.operation)
            conds.append(or_(o.owner == q.user, exists().where(*grant_conds)))
        return conds

    @_wrap_errors
    def locate(self, query: LocateQuery) -> list[str]:
        """Uids matching ``query``: one SELECT, creation order, OFFSET/LIMIT in SQL."""
        o = self._sql.schema.objects
        stmt: Select[Any] = select(o.c.uid).where(and_(*self._where(query))).order_by(o.c.seq)
        if query.offset:
            stmt = stmt.offset(query.offset)
        if query.limit is not None:
            stmt = stmt.limit(query.limit)
        return list(self._conn.execute(stmt).scalars())

    @_wrap_errors
    def count(self, query: LocateQuery) -> int:
        """How many objects match ``query`` (the Locate WHERE clause under COUNT(*))."""
        o = self._sql.schema.objects
        stmt = select(func.count()).select_from(o).where(and_(*self._where(query)))
        return int(self._conn.execute(stmt).scalar_one())

    # --- access control -----------------------------------------------------------------------------------------
    @_wrap_errors
    def grant(self, uid: str, user: str, operations: Sequence[int]) -> None:
        """Allow ``user`` (or EVERYONE) the KMIP ``operations`` on ``uid`` (already granted: no change)."""
        rows = [{"uid": uid, "user": user, "operation": op} for op in dict.fromkeys(operations)]
        if rows:
            self._conn.execute(self._sql.insert_grant, rows)

    @_wrap_errors
    def revoke(self, uid: str, user: str, operations: Sequence[int]) -> None:
        """Withdraw those operations; no error if they were not granted."""
        if operations:
            self._conn.execute(self._sql.revoke, {"uid": uid, "user": user, "operations": list(operations)})

    @_wrap_errors
    def grants(self, uid: str) -> dict[str, set[int]]:
        """user -> granted operations for ``uid``."""
        result: dict[str, set[int]] = {}
        for user, op in self._conn.execute(self._sql.grants, {"uid": uid}):
            result.setdefault(user, set()).add(op)
        return result

    @_wrap_errors
    def operations_granted(self, uid: str, user: str) -> set[int]:
        """Operations granted to ``user`` directly or through EVERYONE."""
        return set(self._conn.execute(self._sql.operations_granted, {"uid": uid, "user": user}).scalars())

    @_wrap_errors
    def owned(self, owner: str) -> list[StoredObject]:
        """Objects owned by ``owner``, in creation order (one query)."""
        return list(self._build(self._conn.execute(self._sql.owned, {"owner": owner})).values())

    @_wrap_errors
    def obtained(self, user: str) -> list[tuple[StoredObject, set[int]]]:
        """Objects not owned by ``user`` on which ``user`` holds direct grants, with those operations."""
        objects = self._build(self._conn.execute(self._sql.obtained, {"user": user}))
        if not objects:
            return []
        ops: dict[str, set[int]] = {}
        for uid, op in self._conn.execute(self._sql.obtained_ops, {"user": user}):
            ops.setdefault(uid, set()).add(op)
        return [(obj, ops.get(uid, set())) for uid, obj in objects.items()]

    @_wrap_errors
    def privileged_users(self) -> set[str]:
        """Users allowed to create objects when creation is restricted."""
        return set(self._conn.execute(self._sql.privileged).scalars())

    @_wrap_errors
    def set_privileged(self, user: str, allowed: bool) -> None:
        """Add or remove ``user`` from the privileged users."""
        if allowed:
            self._conn.execute(self._sql.add_privileged, {"user": user})
        else:
            self._conn.execute(self._sql.remove_privileged, {"user": user})


__all__ = ["SqlStore", "SqlTransaction", "store_error"]
