"""The SQL layout of the object store (SQLAlchemy Core tables) and its versioned migrations.

One layout serves SQLite, PostgreSQL and MySQL/MariaDB. ``objects`` holds one row per managed object; the child
tables hold the multi-valued Locate fields, one row per value, each with an index so that every Locate filter is
an index lookup. ``schema_version`` records the layout version; ``migrate`` creates a fresh database at the
current version or walks an older one forward through ``MIGRATIONS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    exists,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeEngine

from ._common import MAX_TEXT_LENGTH, MAX_UID_LENGTH
from .base import StoreError

#: The layout version this code writes. Version 1 was the first layout; version 2 added ``ix_dates_tag_value``;
#: version 3 added ``change_counters``; version 4 added ``settings``; version 5 added ``seq`` to ``groups`` and
#: ``tags``.
SCHEMA_VERSION = 5
#: Rows of ``change_counters``: a writing transaction bumps one chosen at random, so concurrent writers rarely
#: wait for each other on the same row.
CHANGE_SHARDS = 64


@dataclass(frozen=True)
class Schema:
    """The tables of one store (built per store: the MySQL collation depends on the server flavour)."""

    metadata: MetaData
    objects: Table
    names: Table
    groups: Table
    tags: Table
    links: Table
    dates: Table
    grants: Table
    privileged: Table
    schema_version: Table
    dates_value_index: Index
    change_counters: Table
    settings: Table


def build_schema(mysql_collation: str | None = None) -> Schema:
    """The table definitions. ``mysql_collation`` must be a binary, no-pad collation on MySQL/MariaDB.

    MySQL's default collations are case-insensitive and ignore trailing spaces, which would make ``"Key"`` and
    ``"key "`` the same Name (and the same uid); a binary no-pad collation compares the exact characters, as
    SQLite and PostgreSQL do.
    """
    md = MetaData()
    table_kw: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
    if mysql_collation:
        table_kw["mysql_collate"] = mysql_collation

    def text_col(length: int) -> String:
        return String(length, collation=mysql_collation) if mysql_collation else String(length)

    def uid() -> String:
        return text_col(MAX_UID_LENGTH)

    def name() -> String:
        return text_col(MAX_TEXT_LENGTH)

    # MySQL's BLOB stops at 64 KiB; certificates chains and large private keys can exceed it.
    blob: TypeEngine[bytes] = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
    big_text: TypeEngine[str] = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY (the rowid).
    seq_type: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

    objects = Table(
        "objects",
        md,
        # Creation order: Locate returns uids sorted by it.
        Column("seq", seq_type, primary_key=True, autoincrement=True),
        Column("uid", uid(), nullable=False),
        Column("object_type", Integer, nullable=False),
        Column("owner", name(), nullable=False),
        Column("state", Integer, nullable=False),
        Column("cryptographic_algorithm", Integer),
        Column("cryptographic_length", Integer),
        Column("cryptographic_usage_mask", BigInteger),
        Column("storage_status", Integer, nullable=False),
        Column("revision", BigInteger, nullable=False),
        Column("object_bytes", blob, nullable=False),
        Column("attributes_bytes", blob, nullable=False),
        # The record's copy of the Locate fields (JSON), so that reading an object is one row. The child tables
        # below are the index over the same values, written in the same statements.
        Column("index_data", big_text, nullable=False),
        UniqueConstraint("uid", name="uq_objects_uid"),
        Index("ix_objects_type", "object_type"),
        Index("ix_objects_owner", "owner"),
        Index("ix_objects_state", "state"),
        Index("ix_objects_alg", "cryptographic_algorithm"),
        Index("ix_objects_len", "cryptographic_length"),
        **table_kw,
    )
    names = Table(
        "names",
        md,
        Column("uid", uid(), nullable=False),
        Column("object_type", Integer, nullable=False),
        Column("name", name(), nullable=False),
        Column("pos", Integer, nullable=False),
        # 1 while the object is not Destroyed, NULL after: unique indexes treat NULLs as distinct on all three
        # databases, so this index enforces "one live object per (type, name)" without a partial index (which
        # MySQL lacks) and lets Destroyed objects keep their Names.
        Column("live", Integer),
        PrimaryKeyConstraint("uid", "name", name="pk_names"),
        UniqueConstraint("object_type", "name", "live", name="uq_names_live"),
        Index("ix_names_name", "name"),
        **table_kw,
    )
    # Groups and tags also carry their object's ``seq`` (a copy of ``objects.seq``, which never changes), indexed
    # (value, seq). Locate walks objects in ``seq`` order: testing a value held by most objects then reads
    # neighbouring entries of that index (not one random lookup per object by uid), and a rare value's objects are
    # read from it already in creation order, each by its primary key, with no sort. A (seq, value) index would
    # serve no plan: with the value fixed, (value, seq) is walked in the same order.
    groups = Table(
        "groups",
        md,
        Column("uid", uid(), nullable=False),
        Column("grp", name(), nullable=False),
        Column("pos", Integer, nullable=False),
        Column("seq", BigInteger, nullable=False),
        PrimaryKeyConstraint("uid", "grp", name="pk_groups"),
        Index("ix_groups_grp_seq", "grp", "seq"),
        **table_kw,
    )
    tags = Table(
        "tags",
        md,
        Column("uid", uid(), nullable=False),
        Column("tag", name(), nullable=False),
        Column("pos", Integer, nullable=False),
        Column("seq", BigInteger, nullable=False),
        PrimaryKeyConstraint("uid", "tag", name="pk_tags"),
        Index("ix_tags_tag_seq", "tag", "seq"),
        **table_kw,
    )
    links = Table(
        "links",
        md,
        Column("uid", uid(), nullable=False),
        Column("link_type", Integer, nullable=False),
        Column("linked_uid", uid(), nullable=False),
        Column("pos", Integer, nullable=False),
        PrimaryKeyConstraint("uid", "link_type", "linked_uid", name="pk_links"),
        Index("ix_links_type_target", "link_type", "linked_uid"),
        **table_kw,
    )
    dates = Table(
        "dates",
        md,
        Column("uid", uid(), nullable=False),
        Column("date_tag", Integer, nullable=False),
        Column("value", BigInteger, nullable=False),
        PrimaryKeyConstraint("uid", "date_tag", name="pk_dates"),
        **table_kw,
    )
    dates_value_index = Index("ix_dates_tag_value", dates.c.date_tag, dates.c.value)
    grants = Table(
        "grants",
        md,
        Column("uid", uid(), nullable=False),
        Column("user", name(), nullable=False),
        Column("operation", Integer, nullable=False),
        PrimaryKeyConstraint("uid", "user", "operation", name="pk_grants"),
        Index("ix_grants_user", "user", "operation"),
        **table_kw,
    )
    privileged = Table(
        "privileged",
        md,
        Column("user", name(), nullable=False),
        PrimaryKeyConstraint("user", name="pk_privileged"),
        **table_kw,
    )
    schema_version = Table(
        "schema_version",
        md,
        Column("version", Integer, nullable=False),
        **table_kw,
    )
    # PostgreSQL and MySQL/MariaDB change stamps (``SqlStore``): each writing transaction adds 1 to one row just
    # before COMMIT, so the sum of ``n`` grows with every commit and becomes visible with it.
    change_counters = Table(
        "change_counters",
        md,
        Column("shard", Integer, nullable=False, autoincrement=False),
        Column("n", BigInteger, nullable=False),
        PrimaryKeyConstraint("shard", name="pk_change_counters"),
        **table_kw,
    )
    # Store-wide values every server shares (``SqlStore.setting``): the key-encryption key that seals new writes.
    settings = Table(
        "settings",
        md,
        Column("name", text_col(MAX_TEXT_LENGTH), nullable=False),
        Column("value", text_col(MAX_TEXT_LENGTH), nullable=False),
        PrimaryKeyConstraint("name", name="pk_settings"),
        **table_kw,
    )
    return Schema(
        md,
        objects,
        names,
        groups,
        tags,
        links,
        dates,
        grants,
        privileged,
        schema_version,
        dates_value_index,
        change_counters,
        settings,
    )


# --- migrations -------------------------------------------------------------------------------------------------
# MIGRATIONS[n] turns a version n-1 layout into version n. Append, never edit: deployed databases ran them.


def _v2_index_dates_by_value(conn: Connection, schema: Schema) -> None:
    """Version 2: index ``dates`` by (tag, value) so that date-range Locate filters are index range scans."""
    schema.dates_value_index.create(conn, checkfirst=True)


def _v3_change_counters(conn: Connection, schema: Schema) -> None:
    """Version 3: ``change_counters``, the rows whose sum is the PostgreSQL and MySQL/MariaDB change stamp."""
    schema.change_counters.create(conn, checkfirst=True)
    _fill_change_counters(conn, schema)


def _creation_was_interrupted(conn: Connection, schema: Schema) -> bool:
    """An empty schema_version beside an objects table that is missing or empty: a first opening that stopped
    between its CREATE TABLEs and its commit (never a store that held objects)."""
    if not inspect(conn).has_table("objects"):
        return True
    return conn.execute(select(schema.objects.c.seq).limit(1)).first() is None


def _fill_change_counters(conn: Connection, schema: Schema) -> None:
    table = schema.change_counters
    present = set(conn.execute(select(table.c.shard)).scalars())
    missing = [{"shard": shard, "n": 0} for shard in range(CHANGE_SHARDS) if shard not in present]
    if missing:
        conn.execute(insert(table), missing)


def _v4_settings(conn: Connection, schema: Schema) -> None:
    """Version 4: ``settings``, store-wide values shared by every server (the sealing key-encryption key)."""
    schema.settings.create(conn, checkfirst=True)


def _v5_seq_in_groups_and_tags(conn: Connection, schema: Schema) -> None:
    """Version 5: ``groups.seq`` and ``tags.seq`` (the object's creation sequence), indexed (value, seq) in place
    of the index on the value alone, so that Locate by a group or tag held by most objects no longer looks each
    object up by uid (seconds per page at 100,000 objects)."""
    _add_object_seq(conn, schema, schema.groups, "ix_groups_grp")
    _add_object_seq(conn, schema, schema.tags, "ix_tags_tag")


def _add_object_seq(conn: Connection, schema: Schema, table: Table, old_index: str) -> None:
    """Add ``table.seq`` filled from ``objects``, create the table's new index and drop ``old_index``.

    Idempotent (MySQL commits each DDL statement on its own). The column is added NOT NULL with a default, which
    all three databases accept on a filled table, and the default is then dropped where ALTER TABLE can (SQLite
    keeps it: every write gives ``seq``). Rows of objects that no longer exist are index entries of nothing and
    are deleted.
    """
    objects = schema.objects
    # GROUPS is a reserved word on MySQL 8: the name is quoted as the dialect quotes it.
    name = conn.dialect.identifier_preparer.format_table(table)
    if "seq" not in {column["name"] for column in inspect(conn).get_columns(table.name)}:
        column_type = table.c.seq.type.compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE {name} ADD COLUMN seq {column_type} NOT NULL DEFAULT 0"))
    conn.execute(delete(table).where(~exists().where(objects.c.uid == table.c.uid)))
    object_seq = select(objects.c.seq).where(objects.c.uid == table.c.uid).scalar_subquery()
    conn.execute(update(table).values(seq=object_seq))
    if conn.dialect.name != "sqlite":
        conn.execute(text(f"ALTER TABLE {name} ALTER COLUMN seq DROP DEFAULT"))
    for index in table.indexes:
        index.create(conn, checkfirst=True)
    # The old index, described on a stand-alone copy of the table (an Index on ``table`` would join the layout).
    stale = Table(table.name, MetaData(), Column("uid", Integer))
    Index(old_index, stale.c.uid).drop(conn, checkfirst=True)


MIGRATIONS: dict[int, Callable[[Connection, Schema], None]] = {
    2: _v2_index_dates_by_value,
    3: _v3_change_counters,
    4: _v4_settings,
    5: _v5_seq_in_groups_and_tags,
}


#: MySQL's named locks are global to the server: the name carries the database's (hashed to fit 64 characters).
_MYSQL_LOCK = "CONCAT('keystead_schema_', MD5(DATABASE()))"
#: How long an opener waits for another one's creation or migration (seconds).
SCHEMA_LOCK_SECONDS = 60


def open_schema(engine: Engine, schema: Schema) -> int:
    """Create the tables (fresh database) or migrate an older layout, serialised against every other opener of the
    database (servers starting together) and committed; returns the version found on opening.

    MySQL's lock (GET_LOCK) belongs to the session, not to a transaction, and each CREATE TABLE there commits at
    once: the lock is released only after the migration's commit, or the next opener would find the tables beside
    a schema_version row not yet committed.
    """
    with engine.connect() as conn, _schema_lock(conn), conn.begin():
        return migrate(conn, schema)


@contextmanager
def _schema_lock(conn: Connection) -> Iterator[None]:
    """MySQL: hold the database's named lock around the migration transaction (the other databases lock inside
    it: ``migrate``)."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        yield
        return
    got = conn.execute(text(f"SELECT GET_LOCK({_MYSQL_LOCK}, {SCHEMA_LOCK_SECONDS})")).scalar()
    conn.commit()
    if got != 1:
        raise StoreError(f"another server held the schema lock for {SCHEMA_LOCK_SECONDS} s (creating or migrating)")
    try:
        yield
    finally:
        # A broken connection drops the lock with its session; do not mask the original error.
        with suppress(SQLAlchemyError):
            conn.execute(text(f"SELECT RELEASE_LOCK({_MYSQL_LOCK})"))
            conn.commit()


def migrate(conn: Connection, schema: Schema) -> int:
    """Create the tables or migrate them, inside the caller's transaction (``open_schema`` gives it, with MySQL's
    lock); returns the version found on opening.

    PostgreSQL and SQLite roll DDL back with the transaction; MySQL commits each DDL statement implicitly, which is
    why every migration must be idempotent (``checkfirst``). Concurrent openers: PostgreSQL takes a transaction-level
    advisory lock here; SQLite's migration transaction is BEGIN IMMEDIATE, which already excludes other writers.
    """
    if conn.dialect.name == "postgresql":
        # Released by the commit of the migration transaction.
        conn.execute(text("SELECT pg_advisory_xact_lock(7354624331)"))
    return _create_or_migrate(conn, schema)


def _create_or_migrate(conn: Connection, schema: Schema) -> int:
    """``migrate`` once the database is locked."""
    inspector = inspect(conn)
    if not inspector.has_table("schema_version"):
        if inspector.has_table("objects"):
            raise StoreError("the database has an objects table but no schema_version: not a Keystead store")
        schema.metadata.create_all(conn)
        _fill_change_counters(conn, schema)
        conn.execute(insert(schema.schema_version).values(version=SCHEMA_VERSION))
        return 0
    found = conn.execute(select(func.max(schema.schema_version.c.version))).scalar_one_or_none()
    if found is None:
        if conn.dialect.name in ("mysql", "mariadb") and _creation_was_interrupted(conn, schema):
            # MySQL committed the tables one by one; the opener that was creating them stopped before the end.
            schema.metadata.create_all(conn)
            _fill_change_counters(conn, schema)
            conn.execute(insert(schema.schema_version).values(version=SCHEMA_VERSION))
            return 0
        raise StoreError("the schema_version table is empty")
    if found > SCHEMA_VERSION:
        raise StoreError(f"the database has schema version {found}; this Keystead supports up to {SCHEMA_VERSION}")
    for version in range(found + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](conn, schema)
        conn.execute(update(schema.schema_version).values(version=version))
    return int(found)
