"""``ObjectStore`` on SQLite, PostgreSQL and MySQL/MariaDB through SQLAlchemy Core (no ORM).

Layout and migrations: ``_sql_schema``; connections: ``_sql_connections`` (SQLite's one connection behind an
in-process lock and its WAL-index header, apart from the PostgreSQL/MySQL pool). What this module adds:

* SQL. Every statement is a SQLAlchemy Core construct (``_Statements``, ``SqlTransaction._filter``), compiled once
  per store for its dialect into the driver's SQL string and parameter order (``_Compiled``) and run on the
  driver's cursor. SQLAlchemy's per-execution work (cache-key generation, result wrapping, connection and
  transaction events) costs several times a SQLite read, and a KMS mostly answers Get. Locate statements are
  compiled once per *shape* (which filters, how many values), all values being bound parameters.
* Transactions. SQLite runs in WAL mode with ``synchronous=FULL`` (a commit that returned is on disk) and every
  transaction starts with ``BEGIN IMMEDIATE`` (sent with its first statement; an empty block sends nothing): a
  transaction that reads and then writes can otherwise fail with SQLITE_BUSY when another connection committed in
  between (busy_timeout cannot help with that upgrade), and the protocol does not tell read-only transactions
  apart. Within one process a lock queues transactions before they reach SQLite, so waiting threads sleep instead
  of polling the busy handler; since it admits one transaction at a time, the store uses one connection.
  PostgreSQL and MySQL run at READ COMMITTED on connections in autocommit mode from the store's own pool: the
  transaction opens (``BEGIN``) with the first write or ``get(for_update=True)``. Reads before that run as
  single statements, which at READ COMMITTED see exactly what they would see inside the transaction (each
  statement reads the data committed before it starts), and a read-only block costs one round trip per query
  instead of three. ``update`` is a compare-and-set on ``revision``, which the row lock taken by the UPDATE makes
  safe under concurrency, and ``get(for_update=True)`` is ``SELECT … FOR UPDATE``. A pooled connection found
  dead (server restarted) before the transaction opened is replaced and the statement retried, which is what
  SQLAlchemy's pre-ping gave without its round trip per checkout.
* Name uniqueness: checked with one SELECT before a write (clean ``NameConflict`` in the common case) and
  enforced by the ``uq_names_live`` unique index on all three databases against races; its IntegrityError is
  turned into ``NameConflict`` (on PostgreSQL that also aborts the transaction, which the caller rolls back).
* Locate: one SELECT with one ``uid IN (SELECT uid FROM <child table> WHERE …)`` per multi-valued filter, so the
  planner can start from the most selective child-table index instead of scanning ``objects`` (SQLite runs a
  correlated EXISTS once per object row); ordered by the creation sequence, OFFSET and LIMIT in SQL; ``count`` is
  the same WHERE clause under COUNT(*). Groups and tags carry the object's creation sequence and are matched on
  it (``seq IN …``: read in order, each object by its primary key), and a tag on most objects is tested object
  by object on SQLite (``_tag_drives``). Access (owner or grantee) stays an EXISTS on the rows selected.
* Reads: one row per object. The row carries its Locate fields as JSON (``index_data``) beside the child tables
  that index them, so ``get``, ``get_many``, ``owned`` and ``obtained`` are one query whatever the number of
  objects (no N+1, no join fan-out). A transaction remembers the index it read so that ``update`` rewrites only
  the child tables whose values changed (none, without parsing anything, when the index is unchanged).
* Change stamps (``StoreTransaction.change_stamp``), so that the engine keeps objects and decisions between
  requests on every database and several servers can share one: SQLite reads its WAL-index header
  (``_sql_connections``); PostgreSQL and MySQL/MariaDB sum ``change_counters``, one of whose rows every writing
  transaction bumps as its last statement before COMMIT, so the sum moves exactly when the commit becomes
  visible. (PostgreSQL's ``pg_current_snapshot()`` would cost no write, but it moves with every transaction of the
  whole cluster, other applications' included, which would empty the caches of a server on a busy shared
  cluster at every request.) Changes made by hand in SQL do not bump the counters: restart the servers after
  one. On MySQL a stamp is one query; taken before the reads it vouches for, it makes a kept object exactly as
  fresh as reading it again (a Revoke committed by another server is seen by the next request here). On
  PostgreSQL the writer, after COMMIT, notifies every other server listening on the database and waits until each
  acknowledged (``_pg_notices``): their strict stamps then move without a query per request, with the same
  guarantee. With ``stamp_lag`` a thread polls the sum instead and requests use a value at most
  that old (``_stamps``: the bound, and this server's own commits seen at once).
* Errors: every driver error becomes ``StoreError`` naming only the exception class and error code; the driver
  message is dropped and the exception chain cut, since both can quote SQL parameters (key material).
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Engine,
    Insert,
    LargeBinary,
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
    update,
)
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.sql.compiler import SQLCompiler

from ._common import check_lengths, is_live, normalised_copy
from ._pg_notices import ChangeNotices
from ._sql_connections import (
    CONNECT_TIMEOUT,
    POOL_SIZE,
    SQLITE_BUSY_TIMEOUT,
    ConnectionPool,
    Link,
    SqliteConnection,
    store_error,
)
from ._sql_schema import CHANGE_SHARDS, Schema, build_schema, open_schema
from ._stamps import PolledStamp
from .base import EVERYONE, LocateQuery, NameConflict, StoreConflict, StoredObject, StoreError

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Uids per IN (...) list: SQLite caps host parameters, and huge lists help no planner.
_CHUNK = 500
#: Uids per batch in ``all_uids`` (one short transaction per batch).
_ALL_UIDS_BATCH = 1000
#: Locate/count statement shapes kept compiled per store (the cache is emptied when it fills).
_SHAPES = 512

_Params = dict[str, Any]


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
        except self._driver_errors as exc:
            self.poisoned = True
            if isinstance(exc, OverflowError):
                # sqlite3 rejects integers beyond 64 bits before the statement runs.
                raise StoreError("database error: an integer is out of range") from None
            raise store_error(exc) from None

    return wrapper


# --- compiled statements ----------------------------------------------------------------------------------------
class _Compiled:
    """One statement compiled for one dialect: the driver's SQL and how to lay out its parameters.

    ``args(params)`` turns a dict keyed by bind-parameter name into what the DBAPI cursor takes: a tuple in
    placeholder order for positional paramstyles (SQLite's ``?``), the dict itself for named ones (``%(name)s``),
    with the literal values the statement embeds (``IN (…, '*')``, ``LIMIT 1``) merged in.
    """

    __slots__ = ("_consts", "_getter", "_single", "args", "sql")

    def __init__(self, stmt: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        if "__[POSTCOMPILE" in self.sql:
            raise ValueError("expanding parameters are not supported: build the IN list from single parameters")
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        values = compiled.params
        for name, bind in binds.items():
            # The drivers take bytes as they are; SQLite's LargeBinary processor only wraps them in a memoryview.
            if not isinstance(bind.type, LargeBinary) and bind.type.dialect_impl(dialect).bind_processor(dialect):
                raise ValueError(f"parameter {name!r} needs a bind processor, which _Compiled does not apply")
        self._consts: _Params = {name: values[name] for name, bind in binds.items() if not bind.required}
        names: tuple[str, ...] | None = tuple(compiled.positiontup or ()) if dialect.positional else None
        self._getter = itemgetter(*names) if names else None
        self._single = names is not None and len(names) == 1
        if names is None:
            self.args: Callable[[_Params], Any] = self._merged if self._consts else _identity
        elif not names:
            self.args = _no_args
        elif self._single:
            self.args = self._one_positional
        else:
            self.args = self._positional

    def _merged(self, params: _Params) -> _Params:
        return {**self._consts, **params}

    def _one_positional(self, params: _Params) -> tuple[Any, ...]:
        return (self._getter({**self._consts, **params}) if self._consts else self._getter(params),)  # type: ignore[misc]

    def _positional(self, params: _Params) -> tuple[Any, ...]:
        return self._getter({**self._consts, **params} if self._consts else params)  # type: ignore[misc,no-any-return]


def _identity(params: _Params) -> _Params:
    return params


def _no_args(_params: _Params) -> tuple[Any, ...]:
    return ()


def _padded(n: int) -> int:
    """The IN-list length compiled for ``n`` values: powers of two keep the number of compiled variants small
    (the list is padded by repeating its last value, which changes no IN result)."""
    size = 1
    while size < n:
        size *= 2
    return size


def _in_params(prefix: str, values: Sequence[Any]) -> tuple[int, _Params]:
    size = _padded(len(values))
    last = values[-1]
    return size, {f"{prefix}{i}": values[i] if i < len(values) else last for i in range(size)}


def _in_list(prefix: str, size: int) -> list[Any]:
    return [bindparam(f"{prefix}{i}") for i in range(size)]


@dataclass(frozen=True, slots=True)
class _Index:
    """The child-table contents of one object, to rewrite only what an update changed."""

    names: tuple[str, ...]
    groups: tuple[str, ...]
    tags: tuple[str, ...]
    links: tuple[tuple[int, str], ...]
    dates: tuple[tuple[int, int], ...]

    def encode(self) -> str:
        """The ``objects.index_data`` form (compact JSON)."""
        return _encode_json({"n": self.names, "g": self.groups, "t": self.tags, "l": self.links, "d": self.dates})

    @classmethod
    def decode(cls, data: str) -> _Index:
        """Parse ``objects.index_data``."""
        d = json.loads(data)
        return cls(
            tuple(d["n"]),
            tuple(d["g"]),
            tuple(d["t"]),
            tuple((int(t), u) for t, u in d["l"]),
            tuple((int(t), int(v)) for t, v in d["d"]),
        )

    @classmethod
    def of(cls, obj: StoredObject) -> _Index:
        """The index of a normalised object."""
        return cls(
            tuple(obj.names),
            tuple(obj.object_groups),
            tuple(obj.tags),
            tuple(obj.links),
            tuple(sorted(obj.dates.items())),
        )


_encode_json = json.JSONEncoder(separators=(",", ":")).encode
#: ``index_data`` of an object without names, groups, tags, links or dates (read without parsing).
_EMPTY_INDEX = _Index((), (), (), (), ()).encode()


#: Columns of ``objects`` with an index of their own, as ``_Known.indexed`` lists them.
_INDEXED = ("object_type", "owner", "state", "cryptographic_algorithm", "cryptographic_length")
#: The other columns an update writes.
_UNINDEXED = (
    "cryptographic_usage_mask",
    "storage_status",
    "revision",
    "object_bytes",
    "attributes_bytes",
    "index_data",
)


@dataclass(frozen=True, slots=True)
class _Known:
    """What a transaction knows of an object it read or wrote: enough for ``update`` to write only what changed."""

    revision: int
    index_data: str
    live: bool
    object_type: int
    #: the values of the ``_INDEXED`` columns
    indexed: tuple[Any, ...]
    #: ``objects.seq``, which the groups and tags rows copy
    seq: int


def _indexed(obj: StoredObject) -> tuple[Any, ...]:
    return (obj.object_type, obj.owner, obj.state, obj.cryptographic_algorithm, obj.cryptographic_length)


class _Statements:
    """The store's statements, built once with SQLAlchemy Core and compiled once for its dialect."""

    def __init__(self, s: Schema, dialect: Dialect) -> None:
        name = dialect.name
        self.schema = s
        self.dialect = dialect
        o = s.objects
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
            o.c.seq,
        )
        c = self._compile
        get = select(*self.columns).where(o.c.uid == bindparam("uid"))
        self.get = c(get)
        # SQLite has no row locks; BEGIN IMMEDIATE already holds the database write lock.
        self.get_locked = self.get if name == "sqlite" else c(get.with_for_update())
        self.owned = c(select(*self.columns).where(o.c.owner == bindparam("owner")).order_by(o.c.seq))
        granted_uids = select(s.grants.c.uid).where(s.grants.c.user == bindparam("user"))
        self.obtained = c(
            select(*self.columns).where(o.c.uid.in_(granted_uids), o.c.owner != bindparam("user")).order_by(o.c.seq)
        )
        self.obtained_ops = c(select(s.grants.c.uid, s.grants.c.operation).where(s.grants.c.user == bindparam("user")))
        self.old_index = c(
            select(
                o.c.revision,
                o.c.index_data,
                o.c.object_type,
                o.c.owner,
                o.c.state,
                o.c.cryptographic_algorithm,
                o.c.cryptographic_length,
                o.c.seq,
            ).where(o.c.uid == bindparam("uid"))
        )
        self.object_keys = (
            "uid",
            "object_type",
            "owner",
            "state",
            "cryptographic_algorithm",
            "cryptographic_length",
            "cryptographic_usage_mask",
            "storage_status",
            "revision",
            "object_bytes",
            "attributes_bytes",
            "index_data",
        )
        # Returns the new row's seq (SQLite, PostgreSQL; MySQL gives it as the cursor's lastrowid).
        self.insert_object = c(
            _insert_ignoring_duplicates(o, name, conflict_on=[o.c.uid], returning=[o.c.seq]), self.object_keys
        )
        self.delete_object = c(delete(o).where(o.c.uid == bindparam("uid")))
        self.set_names_liveness = c(
            update(s.names)
            .where(s.names.c.uid == bindparam("b_uid"))
            .values(live=bindparam("live"), object_type=bindparam("object_type"))
        )
        self.child_keys = {
            "names": ("uid", "object_type", "name", "pos", "live"),
            "groups": ("uid", "grp", "pos", "seq"),
            "tags": ("uid", "tag", "pos", "seq"),
            "links": ("uid", "link_type", "linked_uid", "pos"),
            "dates": ("uid", "date_tag", "value"),
        }
        self.insert_child = {
            t.name: c(insert(t), self.child_keys[t.name]) for t in (s.names, s.groups, s.tags, s.links, s.dates)
        }
        self.delete_child = {
            t.name: c(delete(t).where(t.c.uid == bindparam("uid")))
            for t in (s.names, s.groups, s.tags, s.links, s.dates, s.grants)
        }

        g = s.grants
        self.insert_grant = c(_insert_ignoring_duplicates(g, name, conflict_on=None), ("uid", "user", "operation"))
        self.grants = c(select(g.c.user, g.c.operation).where(g.c.uid == bindparam("uid")))
        self.operations_granted = c(
            select(g.c.operation).where(g.c.uid == bindparam("uid"), g.c.user.in_([bindparam("user"), EVERYONE]))
        )
        p = s.privileged
        self.privileged = c(select(p.c.user))
        self.add_privileged = c(_insert_ignoring_duplicates(p, name, conflict_on=None), ("user",))
        self.remove_privileged = c(delete(p).where(p.c.user == bindparam("user")))
        self.uids_after = c(
            select(o.c.seq, o.c.uid).where(o.c.seq > bindparam("after")).order_by(o.c.seq).limit(_ALL_UIDS_BATCH)
        )
        self.ping = c(select(1))
        st = s.settings
        self.setting = c(select(st.c.value).where(st.c.name == bindparam("name")))
        self.add_setting = c(_insert_ignoring_duplicates(st, name, conflict_on=None), ("name", "value"))
        self.put_setting = c(_upsert(st, name, key=st.c.name, value=st.c.value), ("name", "value"))
        self.all_settings = c(select(st.c.name, st.c.value))
        self.delete_setting = c(delete(st).where(st.c.name == bindparam("name")))
        t = s.tags
        # Objects carrying ``tag``, counted up to ``cap`` (``SqlTransaction._tag_drives`` needs no more).
        tagged = select(t.c.seq).where(t.c.tag == bindparam("tag")).limit(bindparam("cap")).subquery()
        self.tag_count = c(select(func.count()).select_from(tagged))
        self.object_span = c(select(func.max(o.c.seq)))

    def _compile(self, stmt: ClauseElement, column_keys: Sequence[str] | None = None) -> _Compiled:
        return _Compiled(stmt, self.dialect, column_keys)

    # Statements with IN lists: one compiled variant per padded list length (see ``_padded``).
    @functools.cache  # noqa: B019 - one _Statements per store, kept for the store's life
    def get_many(self, size: int) -> _Compiled:
        """SELECT the objects whose uid is among ``u0``…``u{size-1}``."""
        return self._compile(select(*self.columns).where(self.schema.objects.c.uid.in_(_in_list("u", size))))

    @functools.cache  # noqa: B019
    def name_taken(self, size: int) -> _Compiled:
        """One live name among ``n0``… held by another object of ``object_type`` (or no row)."""
        names = self.schema.names
        return self._compile(
            select(names.c.name)
            .where(
                names.c.object_type == bindparam("object_type"),
                names.c.live == 1,
                names.c.name.in_(_in_list("n", size)),
                names.c.uid != bindparam("uid"),
            )
            .limit(1)
        )

    @functools.cache  # noqa: B019
    def update_object(self, indexed: tuple[str, ...]) -> _Compiled:
        """UPDATE of one object at revision ``b_revision``, setting the ``indexed`` columns and the unindexed ones.

        Indexed columns a write leaves unchanged are left out: SQLite rewrites the index entries of every column
        an UPDATE sets (equal value or not) and PostgreSQL can keep a HOT update only when no indexed column is set.
        """
        o = self.schema.objects
        return self._compile(
            update(o)
            .where(o.c.uid == bindparam("b_uid"), o.c.revision == bindparam("b_revision"))
            .values({name: bindparam(name) for name in (*indexed, *_UNINDEXED)})
        )

    @functools.cache  # noqa: B019
    def revoke(self, size: int) -> _Compiled:
        """DELETE the grants of ``user`` on ``uid`` for operations ``op0``…."""
        g = self.schema.grants
        return self._compile(
            delete(g).where(
                g.c.uid == bindparam("uid"), g.c.user == bindparam("user"), g.c.operation.in_(_in_list("op", size))
            )
        )


def _insert_ignoring_duplicates(
    table: Any, dialect: str, conflict_on: list[Any] | None, returning: list[Any] | None = None
) -> ClauseElement:
    """INSERT that skips a row whose key exists (returning no row) on SQLite/PostgreSQL; a plain INSERT on MySQL,
    whose duplicate-key error only fails the statement, or ON DUPLICATE KEY UPDATE (no-op) without a target.
    With ``conflict_on``, SQLite and PostgreSQL return the ``returning`` columns (default: ``conflict_on``) of
    the inserted row."""
    if dialect in ("sqlite", "postgresql"):
        stmt: Insert
        if dialect == "sqlite":
            stmt = sqlite_dialect.insert(table).on_conflict_do_nothing(index_elements=conflict_on)
        else:
            stmt = pg_dialect.insert(table).on_conflict_do_nothing(index_elements=conflict_on)
        # RETURNING tells a skipped row apart reliably.
        return stmt.returning(*(returning or conflict_on)) if conflict_on is not None else stmt
    if conflict_on is not None:
        return insert(table)
    stmt = mysql_dialect.insert(table)
    first = next(iter(table.primary_key.columns)).name
    return stmt.on_duplicate_key_update({first: stmt.inserted[first]})


def _upsert(table: Any, dialect: str, key: Any, value: Any) -> ClauseElement:
    """INSERT that replaces ``value`` in the row whose ``key`` exists, in one statement on every dialect."""
    if dialect in ("sqlite", "postgresql"):
        module: Any = sqlite_dialect if dialect == "sqlite" else pg_dialect
        stmt = module.insert(table)
        upsert: ClauseElement = stmt.on_conflict_do_update(
            index_elements=[key], set_={value.name: stmt.excluded[value.name]}
        )
        return upsert
    stmt = mysql_dialect.insert(table)
    return stmt.on_duplicate_key_update({value.name: stmt.inserted[value.name]})


#: BEGIN per dialect: PostgreSQL names the level (its session default may differ); SQLAlchemy sets MySQL's session
#: level on connect; SQLite's IMMEDIATE takes the write lock up front (see module doc).
_BEGIN = {"sqlite": "BEGIN IMMEDIATE", "postgresql": "BEGIN ISOLATION LEVEL READ COMMITTED"}


class SqlStore:
    """``ObjectStore`` on a SQLAlchemy engine. ``url`` is a SQLAlchemy URL with its driver
    (``sqlite+pysqlite://…``, ``postgresql+psycopg://…``, ``mysql+pymysql://…``); ``open_store`` maps the
    plain forms."""

    def __init__(self, url: str | URL, *, stamp_lag: float = 0.0) -> None:
        """``stamp_lag``: on PostgreSQL and MySQL, how old (seconds) a polled change stamp may be (``_stamps``); 0
        reads it on every request."""
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError("not a database URL") from None
        self._closed = False
        self._engine = _create_engine(parsed)
        self.dialect = self._engine.dialect.name
        dbapi = self._engine.dialect.loaded_dbapi
        # SQLAlchemyError: raised when the pool opens a connection.
        self._driver_errors: tuple[type[BaseException], ...] = (dbapi.Error, OverflowError, SQLAlchemyError)
        self._integrity_errors: type[BaseException] = dbapi.IntegrityError
        self._begin_sql = _BEGIN.get(self.dialect, "START TRANSACTION")
        #: SQLite's one locked connection, or the PostgreSQL/MySQL pool (``_sql_connections``).
        self.connections: SqliteConnection | ConnectionPool
        try:
            collation = self._mysql_collation() if self.dialect in ("mysql", "mariadb") else None
            self._schema = build_schema(collation)
            self.opened_at_version = open_schema(self._engine, self._schema)
            # Compiled after the first connection: the dialect then knows the server version.
            self._sql = _Statements(self._schema, self._engine.dialect)
            #: The query that reads a change stamp (PostgreSQL, MySQL), and the statement that moves it (MySQL).
            self._stamp_sql, self._bump_sql = _stamp_statements(self.dialect)
            #: PostgreSQL: the listening connection that makes strict stamps cost no query (``_pg_notices``); every
            #: server notifies its commits, so that the others' stamps move at once whatever their own lag.
            self.notices = (
                ChangeNotices(self._listening_connection, self._stamp_sql, listen=stamp_lag == 0)
                if self.dialect == "postgresql" and self._stamp_sql is not None
                else None
            )
            pushed = self.notices.stamp if self.notices is not None and self.notices.listen else None
            self.stamps = (
                PolledStamp(self._read_stamp, stamp_lag, pushed=pushed) if self._stamp_sql is not None else None
            )
            self._shapes: dict[tuple[Any, ...], _Compiled] = {}
            if self.dialect == "sqlite":
                self.connections = SqliteConnection(self._new_link, parsed.database, self._driver_errors)
            else:
                self.connections = ConnectionPool(self._new_link, self._driver_errors)
        except self._driver_errors as exc:
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

    # --- connections ----------------------------------------------------------------------------------------
    def _new_link(self) -> Link:
        return Link(self._engine.raw_connection(), self.dialect)

    def _listening_connection(self) -> Any:
        """A psycopg connection of its own (outside every pool) in autocommit mode, for ``_pg_notices``."""
        proxied = self._engine.raw_connection()
        conn = proxied.driver_connection
        if conn is None:
            raise StoreError("the pool returned a closed connection")
        proxied.detach()
        conn.autocommit = True
        return conn

    def _is_disconnect(self, exc: BaseException, link: Link) -> bool:
        return bool(self._engine.dialect.is_disconnect(exc, link.dbapi, link.cursor))  # type: ignore[arg-type]

    # --- ObjectStore ----------------------------------------------------------------------------------------
    def transaction(self) -> SqlTransaction:
        """A database transaction: commit (durable) on normal exit, roll back if the block raises."""
        self._check_open()
        return SqlTransaction(self, self.connections.acquire())

    def health(self) -> None:
        """Raise StoreError unless the database answers."""
        with self.transaction() as tx:
            tx.ping()

    def change_stamp(self) -> Hashable | None:
        """The change stamp a transaction would give now (``SqlTransaction.change_stamp``); None if the database
        is busy or failing (the caller then takes the ordinary path)."""
        if self._closed:
            return None
        if isinstance(self.connections, SqliteConnection):
            return self.connections.change_stamp()
        if self.stamps is None:
            return None
        try:
            return self.stamps.stamp(self._read_stamp)
        except StoreError:
            return None

    def _read_stamp(self) -> Hashable:
        """The database's change stamp, read on a pooled connection (PostgreSQL, MySQL)."""
        with self.transaction() as tx:
            return tx.read_stamp()

    def close(self) -> None:
        """Close every connection; the store is unusable afterwards."""
        if self.notices is not None:
            if self.notices.running and not self._closed:
                with contextlib.suppress(StoreError), self.transaction() as tx:
                    tx.execute_sql(*self.notices.wake_sql())
            self.notices.close()
        self._closed = True
        if self.stamps is not None:
            self.stamps.close()
        self.connections.close()
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

    # --- store-wide settings (``SettingsStore``) -----------------------------------------------------------------
    def setting(self, name: str) -> str | None:
        """The value of the store-wide setting ``name`` (None if unset), read now."""
        with self.transaction() as tx:
            rows = tx.execute_rows(self._sql.setting, {"name": name})
        return str(rows[0][0]) if rows else None

    def settings(self, prefix: str) -> dict[str, str]:
        """Every store-wide setting whose name starts with ``prefix``."""
        # The table holds a handful of rows: filtered here, free of LIKE's wildcards and each database's collation.
        with self.transaction() as tx:
            rows = tx.execute_rows(self._sql.all_settings, {})
        return {str(name): str(value) for name, value in rows if str(name).startswith(prefix)}

    def delete_setting(self, name: str) -> None:
        """Remove ``name`` (no error if unset)."""
        with self.transaction() as tx:
            tx.delete_setting(name)

    def set_setting(self, name: str, value: str, *, only_if_unset: bool = False) -> str:
        """Set ``name`` to ``value`` in one transaction (``only_if_unset``: keep a value already there); returns the
        value the store holds afterwards. A commit, so other servers' kept objects are checked again once."""
        with self.transaction() as tx:
            return tx.set_setting(name, value, only_if_unset=only_if_unset)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    def _compiled_shape(self, key: tuple[Any, ...], build: Callable[[], ClauseElement]) -> _Compiled:
        compiled = self._shapes.get(key)
        if compiled is None:
            if len(self._shapes) >= _SHAPES:
                self._shapes.clear()
            compiled = self._shapes[key] = _Compiled(build(), self._engine.dialect)
        return compiled


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
            **({} if in_memory else {"pool_size": 2, "max_overflow": 4}),
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
        # The store's own pool holds up to POOL_SIZE connections; the rest serve migrations and maintenance.
        pool_size=4,
        max_overflow=POOL_SIZE,
        connect_args=connect_args,
        **common,
    )


def _stamp_statements(dialect: str) -> tuple[str | None, str | None]:
    """(stamp query, bump statement) of a dialect (see the module doc); SQLite needs neither."""
    if dialect == "postgresql":
        return (
            "SELECT COALESCE(SUM(n), 0)::bigint FROM change_counters",
            # An upsert, so that a row deleted by hand is created again instead of the stamp standing still.
            "INSERT INTO change_counters (shard, n) VALUES (%s, 1) "
            "ON CONFLICT (shard) DO UPDATE SET n = change_counters.n + 1",
        )
    if dialect in ("mysql", "mariadb"):
        return (
            "SELECT CAST(COALESCE(SUM(n), 0) AS SIGNED) FROM change_counters",
            # An upsert, so that a row deleted by hand is created again instead of the stamp standing still.
            "INSERT INTO change_counters (shard, n) VALUES (%s, 1) ON DUPLICATE KEY UPDATE n = n + 1",
        )
    return None, None


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
        # Migrations (and tests) use SQLAlchemy transactions; give them the same BEGIN IMMEDIATE.
        driver = conn.connection.driver_connection
        if driver is None:
            raise StoreError("the SQLite connection is closed")
        driver.execute("BEGIN IMMEDIATE")


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class SqlTransaction:
    """``StoreTransaction`` on one connection; it is also the context manager ``SqlStore.transaction`` returns."""

    def __init__(self, store: SqlStore, link: Link) -> None:
        self._store = store
        self._sql = store._sql
        self._link = link
        self._cursor = link.cursor
        self._driver_errors = store._driver_errors
        #: whether BEGIN was sent (SQLite: with the first statement; others: with the first write)
        self._open = False
        self._broken = False
        self._begin_on_read = store.dialect == "sqlite"
        #: uid -> what this transaction read or wrote of it
        self._known: dict[str, _Known] = {}
        #: whether a write statement ran (the change stamp is then withheld, and committing bumps the generation)
        self.wrote = False
        self._stamp: Hashable | None = None
        self.finished = False
        #: set when a statement failed after others of the same operation had run (commit is then refused)
        self.poisoned = False
        #: tag -> whether Locate starts from the tags index (``_tag_drives``), decided once per transaction
        self._tag_plans: dict[str, bool] = {}

    # --- transaction boundaries -----------------------------------------------------------------------------
    def __enter__(self) -> SqlTransaction:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finished = True
        broken = committed = False
        notices = self._store.notices
        sequence = 0
        #: the servers listening for change notices when this commit returned (``_pg_notices``)
        listeners: list[str] | None = None
        try:
            if exc_type is not None:
                broken = not self._end("ROLLBACK", quiet=True)
                return
            if self.poisoned:
                # Rolling back: a write that failed half-way must not be committed.
                broken = not self._end("ROLLBACK", quiet=True)
                raise StoreError("a write failed inside this transaction; it was rolled back")
            try:
                if self.wrote and self._store._bump_sql is not None:
                    # Last, so that the row stays locked only for the COMMIT (and no lock is taken after it).
                    self._cursor.execute(self._store._bump_sql, (random.randrange(CHANGE_SHARDS),))  # noqa: S311
                self._end("COMMIT", quiet=False)
                committed = self.wrote
            except self._driver_errors as error:
                broken = not self._end("ROLLBACK", quiet=True)
                raise store_error(error) from None
            if committed and notices is not None:
                sequence, listeners, broken = self._notify(notices)
        finally:
            self._store.connections.release(self._link, broken or self._broken, committed)
            if committed and self._store.stamps is not None:
                self._store.stamps.note_commit()
            if sequence:
                assert notices is not None
                notices.confirm(sequence, listeners)

    def _notify(self, notices: ChangeNotices) -> tuple[int, list[str] | None, bool]:
        """After COMMIT returned: notify the other servers listening for change notices (``_pg_notices``); (the
        commit's sequence, their ids or None if the statement failed, whether the connection broke). The commit
        stands either way: without the list, ``confirm`` waits out their leases."""
        sequence, sql, args = notices.notify_sql()
        try:
            return sequence, [row[0] for row in self._cursor.execute(sql, args).fetchall()], False
        except self._driver_errors:
            return sequence, None, True

    def _end(self, command: str, quiet: bool) -> bool:
        """Send COMMIT or ROLLBACK if a transaction is open; False if ``quiet`` and that failed."""
        if not self._open:
            return True
        if not quiet:
            self._cursor.execute(command)
            self._open = False
            return True
        try:
            self._cursor.execute(command)
        except Exception:  # the block's own exception is the one to report
            return False
        self._open = False
        return True

    def _begin(self) -> None:
        self._execute_raw(self._store._begin_sql, None)
        self._open = True

    def _execute_raw(self, sql: str, args: Any) -> Any:
        """Run one statement; while no transaction is open, a dead connection is replaced and the statement
        retried once (nothing of this transaction can be lost with it)."""
        try:
            if args is None:
                self._cursor.execute(sql)
            else:
                self._cursor.execute(sql, args)
        except self._driver_errors as exc:
            if self._open or self._begin_on_read or not self._store._is_disconnect(exc, self._link):
                raise
            self._broken = True  # until the replacement is in place
            connections = self._store.connections
            assert isinstance(connections, ConnectionPool)  # SQLite transactions begin on their first read
            self._link = connections.replace(self._link)
            self._cursor = self._link.cursor
            self._broken = False
            if args is None:
                self._cursor.execute(sql)
            else:
                self._cursor.execute(sql, args)
        return self._cursor

    def _read(self, c: _Compiled, params: _Params) -> list[Any]:
        if not self._open and self._begin_on_read:
            self._begin()
        return self._execute_raw(c.sql, c.args(params)).fetchall()  # type: ignore[no-any-return]

    def _write(self, c: _Compiled, params: _Params) -> Any:
        self.wrote = True
        if not self._open:
            self._begin()
        cursor = self._cursor
        cursor.execute(c.sql, c.args(params))
        return cursor

    def _write_many(self, c: _Compiled, rows: list[_Params]) -> None:
        self.wrote = True
        if not self._open:
            self._begin()
        args = c.args
        self._cursor.executemany(c.sql, [args(row) for row in rows])

    def change_stamp(self) -> Hashable | None:
        """Read once per transaction, before the reads it vouches for. SQLite: (this process's write generation, the
        WAL-index header or ``PRAGMA data_version``); the transaction holds the process's SQLite lock, so no commit
        of this process falls between. PostgreSQL and MySQL: the sum of the change counters."""
        if self.wrote:
            return None
        stamp = self._stamp
        if stamp is None:
            try:
                connections = self._store.connections
                if isinstance(connections, SqliteConnection):
                    stamp = connections.stamp(self._link)
                else:
                    stamps = self._store.stamps
                    if stamps is None:
                        return None
                    stamp = stamps.stamp(self._query_stamp)
            except self._driver_errors as exc:
                self.poisoned = True
                raise store_error(exc) from None
            self._stamp = stamp
        return stamp

    def _query_stamp(self) -> Hashable:
        stamp_sql = self._store._stamp_sql
        assert stamp_sql is not None
        return self._execute_raw(stamp_sql, None).fetchone()[0]  # type: ignore[no-any-return]

    def read_stamp(self) -> Hashable:
        """The database's own change stamp, queried now (``SqlStore``'s polling thread)."""
        try:
            return self._query_stamp()
        except self._driver_errors as exc:
            self.poisoned = True
            raise store_error(exc) from None

    @_wrap_errors
    def execute_sql(self, sql: str, args: Any) -> None:
        """Run one statement outside any transaction block (``SqlStore.close`` wakes its listening thread)."""
        self._execute_raw(sql, args)

    def ping(self) -> None:
        """One trivial query (``SqlStore.health``)."""
        self._read_checked(self._sql.ping, {})

    @_wrap_errors
    def _read_checked(self, c: _Compiled, params: _Params) -> list[Any]:
        return self._read(c, params)

    def execute_rows(self, c: _Compiled, params: _Params) -> list[Any]:
        """Rows of one statement (``SqlStore.all_uids`` reuses the transaction's connection)."""
        return self._read_checked(c, params)

    @_wrap_errors
    def set_setting(self, name: str, value: str, *, only_if_unset: bool = False) -> str:
        """``SqlStore.set_setting`` inside this transaction (one statement: two servers setting it at once do not
        conflict; with ``only_if_unset`` the first one's value stays)."""
        statement = self._sql.add_setting if only_if_unset else self._sql.put_setting
        self._write(statement, {"name": name, "value": value})
        return str(self._read(self._sql.setting, {"name": name})[0][0])

    @_wrap_errors
    def delete_setting(self, name: str) -> None:
        """``SqlStore.delete_setting`` inside this transaction."""
        self._write(self._sql.delete_setting, {"name": name})

    # --- reading ------------------------------------------------------------------------------------------------
    def _build(self, rows: Iterable[Any]) -> dict[str, StoredObject]:
        objects: dict[str, StoredObject] = {}
        known = self._known
        loads = json.loads
        for r in rows:
            uid, object_type, state, revision, index_data = r[0], r[1], r[3], r[10], r[11]
            if index_data == _EMPTY_INDEX:
                names: list[str] = []
                groups: list[str] = []
                tags: list[str] = []
                links: list[tuple[int, str]] = []
                dates: dict[int, int] = {}
            else:
                d = loads(index_data)
                names, groups, tags = d["n"], d["g"], d["t"]
                links = [(t, u) for t, u in d["l"]]
                dates = dict(d["d"])
            objects[uid] = StoredObject(
                uid=uid,
                object_type=object_type,
                owner=r[2],
                state=state,
                object_bytes=bytes(r[4]),
                attributes_bytes=bytes(r[5]),
                cryptographic_algorithm=r[6],
                cryptographic_length=r[7],
                cryptographic_usage_mask=r[8],
                names=names,
                object_groups=groups,
                tags=tags,
                links=links,
                dates=dates,
                storage_status=r[9],
                revision=revision,
            )
            known[uid] = _Known(
                revision, index_data, is_live(state), object_type, (object_type, *r[2:4], *r[6:8]), r[12]
            )
        return objects

    @_wrap_errors
    def get(self, uid: str, for_update: bool = False) -> StoredObject | None:
        """The object, or None; ``for_update`` takes its row lock (SELECT … FOR UPDATE) on PostgreSQL/MySQL."""
        if for_update:
            rows = self._write(self._sql.get_locked, {"uid": uid}).fetchall()
        else:
            rows = self._read(self._sql.get, {"uid": uid})
        return self._build(rows)[uid] if rows else None

    @_wrap_errors
    def get_many(self, uids: Sequence[str]) -> list[StoredObject]:
        """The objects that exist among ``uids``, in the order asked (one query per 500 uids)."""
        found: dict[str, StoredObject] = {}
        wanted = list(dict.fromkeys(uids))
        for chunk in _chunks(wanted):
            size, params = _in_params("u", chunk)
            found.update(self._build(self._read(self._sql.get_many(size), params)))
        result: list[StoredObject] = []
        seen: set[str] = set()
        for uid in uids:
            obj = found.get(uid)
            if obj is not None:
                # A uid asked twice gets two independent objects, as from two calls to get.
                result.append(normalised_copy(obj) if uid in seen else obj)
                seen.add(uid)
        return result

    def _old_index(self, uid: str, revision: int) -> _Known:
        """What ``uid`` held at ``revision`` (StoreConflict if the object moved on or is gone)."""
        known = self._known.get(uid)
        if known is not None and known.revision == revision:
            return known
        rows = self._read(self._sql.old_index, {"uid": uid})
        if not rows or rows[0][0] != revision:
            raise StoreConflict(f"object {uid!r} was changed or deleted concurrently")
        row = rows[0]
        return _Known(row[0], row[1], is_live(row[4]), row[2], tuple(row[2:7]), row[7])

    # --- writing ------------------------------------------------------------------------------------------------
    def _check_names(self, obj: StoredObject) -> None:
        if not obj.names or not is_live(obj.state):
            return
        size, params = _in_params("n", obj.names)
        params["object_type"] = obj.object_type
        params["uid"] = obj.uid
        rows = self._read(self._sql.name_taken(size), params)
        if rows:
            raise NameConflict(rows[0][0])

    def _write_children(self, obj: StoredObject, seq: int, new: _Index, old: _Index | None, was: _Known | None) -> None:
        """Rewrite the child tables whose values differ from ``old`` (None: a new object, write them all);
        ``seq`` is the object's ``objects.seq``."""
        uid = obj.uid
        existing = old is not None
        live = 1 if is_live(obj.state) else None
        if old is None or old.names != new.names:
            names = [
                {"uid": uid, "object_type": obj.object_type, "name": n, "pos": i, "live": live}
                for i, n in enumerate(new.names)
            ]
            self._replace_rows("names", uid, existing, names)
        elif new.names and was is not None and (was.live != (live == 1) or was.object_type != obj.object_type):
            params = {"b_uid": uid, "live": live, "object_type": obj.object_type}
            self._write(self._sql.set_names_liveness, params)
        if old is None or old.groups != new.groups:
            groups = [{"uid": uid, "grp": g, "pos": i, "seq": seq} for i, g in enumerate(new.groups)]
            self._replace_rows("groups", uid, existing, groups)
        if old is None or old.tags != new.tags:
            tags = [{"uid": uid, "tag": t, "pos": i, "seq": seq} for i, t in enumerate(new.tags)]
            self._replace_rows("tags", uid, existing, tags)
        if old is None or old.links != new.links:
            links = [{"uid": uid, "link_type": lt, "linked_uid": lu, "pos": i} for i, (lt, lu) in enumerate(new.links)]
            self._replace_rows("links", uid, existing, links)
        if old is None or old.dates != new.dates:
            dates = [{"uid": uid, "date_tag": tag, "value": value} for tag, value in new.dates]
            self._replace_rows("dates", uid, existing, dates)

    def _replace_rows(self, table: str, uid: str, existing: bool, rows: list[_Params]) -> None:
        if existing:
            self._write(self._sql.delete_child[table], {"uid": uid})
        if rows:
            self._write_many(self._sql.insert_child[table], rows)

    def _integrity_error(self, exc: BaseException, obj: StoredObject) -> StoreError:
        # Constraint names (PostgreSQL, MySQL) or column lists (SQLite) identify what was violated.
        message = str(exc)
        if "uq_names_live" in message or "names.object_type" in message:
            return NameConflict(obj.names[0] if len(obj.names) == 1 else ", ".join(obj.names))
        if "uq_objects_uid" in message or "objects.uid" in message:
            return StoreConflict(f"an object with uid {obj.uid!r} already exists")
        return store_error(exc)

    @staticmethod
    def _row(obj: StoredObject, revision: int, index_data: str) -> _Params:
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
            "index_data": index_data,
        }

    @_wrap_errors
    def insert(self, obj: StoredObject) -> None:
        """Add a new object (StoreConflict if the uid exists, NameConflict on a duplicate live name)."""
        check_lengths(obj)
        new = normalised_copy(obj)
        self._check_names(new)
        index = _Index.of(new)
        index_data = index.encode()
        params = self._row(new, 1, index_data)
        params["uid"] = obj.uid
        try:
            cursor = self._write(self._sql.insert_object, params)
        except self._store._integrity_errors as exc:
            # MySQL's duplicate uid: only this first statement failed, the transaction stays usable.
            raise self._integrity_error(exc, new) from None
        if cursor.description is None:
            seq = int(cursor.lastrowid)
        else:
            inserted = cursor.fetchall()
            if not inserted:
                raise StoreConflict(f"an object with uid {obj.uid!r} already exists")
            seq = int(inserted[0][0])
        try:
            self._write_children(new, seq, index, None, None)
        except self._store._integrity_errors as exc:
            self.poisoned = True
            raise self._integrity_error(exc, new) from None
        obj.revision = 1
        self._known[obj.uid] = _Known(1, index_data, is_live(new.state), new.object_type, _indexed(new), seq)

    @_wrap_errors
    def update(self, obj: StoredObject) -> None:
        """Replace the object; StoreConflict if ``obj.revision`` is stale (or the object is gone); bumps it."""
        check_lengths(obj)
        new = normalised_copy(obj)
        index = _Index.of(new)
        index_data = index.encode()
        known = self._known.get(obj.uid)
        if known is not None and known.revision == obj.revision:
            old = known
            old_index = None if index_data == old.index_data else _Index.decode(old.index_data)
            # An object that was live with these names and type holds them (uq_names_live): nothing to check.
            if not (
                old.live
                and old.object_type == new.object_type
                and (old_index is None or old_index.names == index.names)
            ):
                self._check_names(new)
        else:
            self._check_names(new)
            # Read before the UPDATE overwrites index_data; the revision check below makes the pair consistent.
            old = self._old_index(obj.uid, obj.revision)
            old_index = None if index_data == old.index_data else _Index.decode(old.index_data)
        revision = obj.revision + 1
        live = is_live(new.state)
        indexed = _indexed(new)
        try:
            params = self._row(new, revision, index_data)
            params["b_uid"] = obj.uid
            params["b_revision"] = obj.revision
            changed = tuple(name for name, a, b in zip(_INDEXED, indexed, old.indexed, strict=True) if a != b)
            if self._write(self._sql.update_object(changed), params).rowcount != 1:
                raise StoreConflict(f"object {obj.uid!r} was changed or deleted concurrently")
            if old_index is not None or (new.names and (live != old.live or new.object_type != old.object_type)):
                self._write_children(new, old.seq, index, old_index or index, old)
        except self._store._integrity_errors as exc:
            self.poisoned = True
            raise self._integrity_error(exc, new) from None
        obj.revision = revision
        self._known[obj.uid] = _Known(revision, index_data, live, new.object_type, indexed, old.seq)

    @_wrap_errors
    def delete(self, uid: str) -> bool:
        """Remove the object, its index rows and its grants; True if it existed."""
        existed: bool = self._write(self._sql.delete_object, {"uid": uid}).rowcount > 0
        tables = self._sql.delete_child.values() if existed else [self._sql.delete_child["grants"]]
        for c in tables:
            self._write(c, {"uid": uid})
        self._known.pop(uid, None)
        return existed

    # --- locate -------------------------------------------------------------------------------------------------
    def _filter(self, q: LocateQuery, build: bool) -> tuple[list[Any], _Params, list[ColumnElement[bool]]]:
        """The Locate WHERE clause of ``q``: its shape (what decides the SQL text), its parameter values and,
        when ``build``, its SQLAlchemy conditions. One walk yields all three, so they cannot disagree."""
        shape: list[Any] = []
        params: _Params = {}
        conds: list[ColumnElement[bool]] = []

        def bind(value: Any) -> Any:
            name = f"p{len(params)}"
            params[name] = value
            return bindparam(name) if build else None

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
        # A name, group, rare tag or link picks a few objects through its own index; beside one, a column test must not
        # drive the plan (SQLite, without statistics, would scan every key of the type through ix_objects_type).
        # ``column + 0`` is the same test on a value no index covers.
        unique_tags = list(dict.fromkeys(q.tags))
        drives = [self._tag_drives(tag) for tag in unique_tags]
        selective = bool(q.names or q.object_groups or any(drives) or any(linked for _, linked in q.links))
        shape.append(selective)
        for column, value in (
            (o.object_type, q.object_type),
            (o.cryptographic_algorithm, q.cryptographic_algorithm),
            (o.cryptographic_length, q.cryptographic_length),
            (o.state, q.state),
        ):
            shape.append(value is not None)
            if value is not None:
                b = bind(value)
                if build:
                    conds.append((column + 0 if selective else column) == b)
        # Bit-mask tests cannot use a B-tree; they are evaluated on the rows the indexed filters selected.
        shape.append(bool(q.cryptographic_usage_mask))
        if q.cryptographic_usage_mask:
            b1, b2 = bind(q.cryptographic_usage_mask), bind(q.cryptographic_usage_mask)
            if build:
                conds.append(o.cryptographic_usage_mask.bitwise_and(b1) == b2)
        b = bind(q.storage_status_mask)
        if build:
            conds.append(o.storage_status.bitwise_and(b) != 0)
        shape.append(len(q.names))
        if q.names:
            bs = [bind(n) for n in q.names]
            if build:
                conds.append(o.uid.in_(select(names.c.uid).where(names.c.name.in_(bs))))
        shape.append(len(q.object_groups))
        if q.object_groups:
            bs = [bind(g) for g in q.object_groups]
            if build:
                conds.append(o.seq.in_(select(groups.c.seq).where(groups.c.grp.in_(bs))))
        shape.append(tuple(drives))
        for tag, drive in zip(unique_tags, drives, strict=True):
            b = bind(tag)
            if build:
                if drive:
                    conds.append(o.seq.in_(select(tags.c.seq).where(tags.c.tag == b)))
                else:
                    conds.append(exists().where(tags.c.seq == o.seq, tags.c.tag == b))
        shape.append(tuple(bool(linked) for _, linked in q.links))
        for link_type, linked in q.links:
            b = bind(link_type)
            b_linked = bind(linked) if linked else None
            if build:
                link_conds = [links.c.link_type == b]
                if linked:
                    link_conds.append(links.c.linked_uid == b_linked)
                conds.append(o.uid.in_(select(links.c.uid).where(*link_conds)))
        shape.append(tuple((earliest is not None, latest is not None) for earliest, latest in q.date_ranges.values()))
        for date_tag, (earliest, latest) in q.date_ranges.items():
            b = bind(date_tag)
            b_earliest = bind(earliest) if earliest is not None else None
            b_latest = bind(latest) if latest is not None else None
            if build:
                date_conds = [dates.c.date_tag == b]
                if earliest is not None:
                    date_conds.append(dates.c.value >= b_earliest)
                if latest is not None:
                    date_conds.append(dates.c.value <= b_latest)
                conds.append(o.uid.in_(select(dates.c.uid).where(*date_conds)))
        shape.append((q.user is not None, q.operation is not None))
        if q.user is not None:
            b_user, b_user2, b_everyone = bind(q.user), bind(q.user), bind(EVERYONE)
            b_op = bind(q.operation) if q.operation is not None else None
            if build:
                grant_conds = [grants.c.uid == o.uid, grants.c.user.in_([b_user2, b_everyone])]
                if q.operation is not None:
                    grant_conds.append(grants.c.operation == b_op)
                conds.append(or_(o.owner == b_user, exists().where(*grant_conds)))
        return shape, params, conds

    def _tag_drives(self, tag: str) -> bool:
        """Whether a Locate filter on ``tag`` should start from the tags index (``seq IN (…)``) rather than test
        each object in creation order (``EXISTS``, a lookup of (tag, seq) per object). Given ``seq IN (…)``,
        SQLite's planner always reads the tag's whole index range into a list before the first row (17 ms for a
        tag on 100,000 objects, even for the first page of the web UI), where the test per object stops with the
        page and leaves other indexes free to drive; so it starts from the index only for tags on at most an
        eighth of the objects, which the count decides (stopping at that eighth). Other databases plan with
        statistics of their own."""
        if self._store.dialect != "sqlite":
            return True
        plan = self._tag_plans.get(tag)
        if plan is None:
            span = int(self._read(self._sql.object_span, {})[0][0] or 0)
            tagged = int(self._read(self._sql.tag_count, {"tag": tag, "cap": span // 8 + 1})[0][0])
            plan = self._tag_plans[tag] = tagged * 8 <= span
        return plan

    @_wrap_errors
    def locate(self, query: LocateQuery) -> list[str]:
        """Uids matching ``query``: one SELECT, creation order, OFFSET/LIMIT in SQL."""
        shape, params, _ = self._filter(query, build=False)
        shape.append(("locate", bool(query.offset), query.limit is not None))
        if query.offset:
            params["offset"] = query.offset
        if query.limit is not None:
            params["limit"] = query.limit

        def build() -> ClauseElement:
            o = self._sql.schema.objects
            stmt: Select[Any] = select(o.c.uid).where(and_(*self._filter(query, True)[2])).order_by(o.c.seq)
            if query.offset:
                stmt = stmt.offset(bindparam("offset"))
            if query.limit is not None:
                stmt = stmt.limit(bindparam("limit"))
            return stmt

        c = self._store._compiled_shape(tuple(shape), build)
        return [row[0] for row in self._read(c, params)]

    @_wrap_errors
    def count(self, query: LocateQuery) -> int:
        """How many objects match ``query`` (the Locate WHERE clause under COUNT(*))."""
        shape, params, _ = self._filter(query, build=False)
        shape.append("count")

        def build() -> ClauseElement:
            o = self._sql.schema.objects
            return select(func.count()).select_from(o).where(and_(*self._filter(query, True)[2]))

        c = self._store._compiled_shape(tuple(shape), build)
        return int(self._read(c, params)[0][0])

    # --- access control -----------------------------------------------------------------------------------------
    @_wrap_errors
    def grant(self, uid: str, user: str, operations: Sequence[int]) -> None:
        """Allow ``user`` (or EVERYONE) the KMIP ``operations`` on ``uid`` (already granted: no change)."""
        rows = [{"uid": uid, "user": user, "operation": op} for op in dict.fromkeys(operations)]
        if rows:
            self._write_many(self._sql.insert_grant, rows)

    @_wrap_errors
    def revoke(self, uid: str, user: str, operations: Sequence[int]) -> None:
        """Withdraw those operations; no error if they were not granted."""
        if operations:
            size, params = _in_params("op", list(operations))
            params["uid"] = uid
            params["user"] = user
            self._write(self._sql.revoke(size), params)

    @_wrap_errors
    def grants(self, uid: str) -> dict[str, set[int]]:
        """user -> granted operations for ``uid``."""
        result: dict[str, set[int]] = {}
        for user, op in self._read(self._sql.grants, {"uid": uid}):
            result.setdefault(user, set()).add(op)
        return result

    @_wrap_errors
    def operations_granted(self, uid: str, user: str) -> set[int]:
        """Operations granted to ``user`` directly or through EVERYONE."""
        return {row[0] for row in self._read(self._sql.operations_granted, {"uid": uid, "user": user})}

    @_wrap_errors
    def owned(self, owner: str) -> list[StoredObject]:
        """Objects owned by ``owner``, in creation order (one query)."""
        return list(self._build(self._read(self._sql.owned, {"owner": owner})).values())

    @_wrap_errors
    def obtained(self, user: str) -> list[tuple[StoredObject, set[int]]]:
        """Objects not owned by ``user`` on which ``user`` holds direct grants, with those operations."""
        objects = self._build(self._read(self._sql.obtained, {"user": user}))
        if not objects:
            return []
        ops: dict[str, set[int]] = {}
        for uid, op in self._read(self._sql.obtained_ops, {"user": user}):
            ops.setdefault(uid, set()).add(op)
        return [(obj, ops.get(uid, set())) for uid, obj in objects.items()]

    @_wrap_errors
    def privileged_users(self) -> set[str]:
        """Users allowed to create objects when creation is restricted."""
        return {row[0] for row in self._read(self._sql.privileged, {})}

    @_wrap_errors
    def set_privileged(self, user: str, allowed: bool) -> None:
        """Add or remove ``user`` from the privileged users."""
        if allowed:
            self._write(self._sql.add_privileged, {"user": user})
        else:
            self._write(self._sql.remove_privileged, {"user": user})


__all__ = ["SqlStore", "SqlTransaction", "store_error"]
