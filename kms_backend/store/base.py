"""The ``ObjectStore`` protocol: where managed objects, their attributes, owners, tags and grants live.

Implementations: ``memory`` (tests), ``sql`` (SQLite default, PostgreSQL, MySQL/MariaDB through SQLAlchemy Core)
and ``redis``. The engine never sees SQL or Redis; it sees ``StoredObject`` records and ``LocateQuery`` filters.

Contract every implementation keeps:

* ``transaction()`` is a context manager; everything done through the ``StoreTransaction`` it yields becomes
  durable together when the block exits normally and leaves no trace when it raises (a failed batch item leaves
  nothing behind). A successful return from the block means the data is durable.
* Unique Identifiers are opaque strings chosen by the engine; ``insert`` of an existing uid raises
  ``StoreConflict``.
* Names are unique per object type among objects that are not Destroyed: ``insert``/``update`` raise
  ``NameConflict`` otherwise (pg_tde relies on it).
* ``locate`` runs as one indexed query in the backend (no scan in Python of all objects), honours every filter of
  ``LocateQuery`` and returns uids in a stable order (creation order), after ``offset`` and capped by ``limit``.
* Access control data: the owner of an object, per-object grants of KMIP operations to users (or ``*``), and the
  set of users allowed to create objects (when the server restricts creation).
* Change stamps (optional): ``StoreTransaction.change_stamp`` lets the engine keep objects it read between
  requests (``engine.hot``). A store that can tell cheaply whether anything was committed since an earlier moment
  returns a stamp: equal stamps mean no process has committed a change in between, whichever server or
  connection made it. Every store here gives one: SQLite (the WAL-index header or ``PRAGMA data_version``, which
  see commits of other connections and processes; a counter, this process's own), PostgreSQL and MySQL/MariaDB
  (a sum of counters each writing transaction bumps before COMMIT), Redis (a counter each write bumps in its
  MULTI/EXEC) and memory. A store may return None (it cannot tell, or is failing): every request then reads.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

#: The user name that stands for "every user" in grants.
EVERYONE = "*"


class StoreError(Exception):
    """A storage failure (connection lost, corruption). The engine turns it into a General Failure."""


class StoreConflict(StoreError):
    """An insert with a uid that already exists, or a concurrent update that lost (retry the request)."""


class NameConflict(StoreError):
    """A Name already used by another live object of the same object type."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the name {name!r} is already used by another object of this type")
        self.name = name


@dataclass(slots=True)
class StoredObject:
    """One managed object as the store keeps it.

    ``object_bytes`` and ``attributes_bytes`` are opaque to the store (the engine writes binary TTLV, possibly
    wrapped by an HSM key); everything a Locate filters on is duplicated into the typed index fields below,
    which the engine fills from the attributes each time it writes.
    """

    uid: str
    object_type: int
    owner: str
    state: int
    object_bytes: bytes
    attributes_bytes: bytes
    # --- index fields (KMIP attribute values, for Locate) -------------------------------------------------------
    cryptographic_algorithm: int | None = None
    cryptographic_length: int | None = None
    cryptographic_usage_mask: int | None = None
    names: list[str] = field(default_factory=list)
    object_groups: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    #: (link type, linked object uid)
    links: list[tuple[int, str]] = field(default_factory=list)
    #: date attribute tag -> seconds since the epoch (Initial Date, Activation Date, Deactivation Date, ...)
    dates: dict[int, int] = field(default_factory=dict)
    #: Storage Status (KMIP 2.1 §12.3): 1 on-line, 2 archived, 4 destroyed.
    storage_status: int = 1
    #: Optimistic-concurrency counter maintained by the store (0 before the first insert).
    revision: int = 0


@dataclass(slots=True)
class LocateQuery:
    """Locate filters (KMIP 2.1 §6.1.28). ``None`` / empty means "no filter on this". All filters AND together;
    within ``names``, ``object_groups`` and ``tags`` every listed value must be present (tags) or any (names,
    groups: an object has one matching value)."""

    object_type: int | None = None
    cryptographic_algorithm: int | None = None
    cryptographic_length: int | None = None
    #: every bit set here must be set in the object's Cryptographic Usage Mask
    cryptographic_usage_mask: int | None = None
    state: int | None = None
    names: list[str] = field(default_factory=list)
    object_groups: list[str] = field(default_factory=list)
    #: every tag listed must be on the object
    tags: list[str] = field(default_factory=list)
    #: (link type, linked uid) pairs the object must have; linked uid "" matches any target
    links: list[tuple[int, str]] = field(default_factory=list)
    #: date tag -> (earliest, latest) inclusive bounds in epoch seconds; either bound may be None
    date_ranges: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)
    #: Storage Status Mask: objects whose storage_status & mask != 0 (default: on-line only)
    storage_status_mask: int = 1
    #: Only objects this user may see: the owner, or a grantee of ``operation`` (or of any operation if None)
    user: str | None = None
    operation: int | None = None
    offset: int = 0
    limit: int | None = None


class StoreTransaction(Protocol):
    """Operations inside one transaction (see the module docstring for the guarantees)."""

    def insert(self, obj: StoredObject) -> None:
        """Add a new object (StoreConflict if the uid exists, NameConflict on a duplicate live name)."""

    def get(self, uid: str, for_update: bool = False) -> StoredObject | None:
        """The object, or None. ``for_update`` locks it (SELECT … FOR UPDATE where the backend supports it)."""

    def get_many(self, uids: Sequence[str]) -> list[StoredObject]:
        """The objects that exist among ``uids``, in the order asked."""

    def update(self, obj: StoredObject) -> None:
        """Replace the object (same uid); StoreConflict if ``obj.revision`` is stale; bumps the revision."""

    def delete(self, uid: str) -> bool:
        """Remove the object and its grants entirely; True if it existed."""

    def locate(self, query: LocateQuery) -> list[str]:
        """Uids matching ``query`` (one indexed query; creation order; offset/limit applied)."""

    def count(self, query: LocateQuery) -> int:
        """How many objects match ``query`` ignoring offset/limit (Located Items)."""

    # --- access control -----------------------------------------------------------------------------------------
    def grant(self, uid: str, user: str, operations: Sequence[int]) -> None:
        """Allow ``user`` (or EVERYONE) the KMIP ``operations`` on ``uid``."""

    def revoke(self, uid: str, user: str, operations: Sequence[int]) -> None:
        """Withdraw those operations; no error if they were not granted."""

    def grants(self, uid: str) -> dict[str, set[int]]:
        """user -> granted operations for ``uid``."""

    def operations_granted(self, uid: str, user: str) -> set[int]:
        """Operations granted to ``user`` directly or through EVERYONE."""

    def owned(self, owner: str) -> list[StoredObject]:
        """Objects owned by ``owner``."""

    def obtained(self, user: str) -> list[tuple[StoredObject, set[int]]]:
        """Objects on which ``user`` holds grants (not owned), with the operations granted."""

    def privileged_users(self) -> set[str]:
        """Users allowed to create objects when creation is restricted."""

    def set_privileged(self, user: str, allowed: bool) -> None:
        """Add or remove ``user`` from the privileged users."""

    def change_stamp(self) -> Hashable | None:
        """A value that differs from every earlier one if any change was committed since it was first asked in this
        transaction; None if the store cannot tell cheaply or this transaction has written (its reads may then show
        uncommitted data). Taken before the reads it vouches for: whatever is read afterwards is at least as new."""


class ObjectStore(Protocol):
    """A store of managed objects. Thread-safe: each thread gets its own transactions."""

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """A transaction (commit on normal exit, roll back on exception)."""

    def health(self) -> None:
        """Raise StoreError unless the backend answers (used by GET /health)."""

    def close(self) -> None:
        """Release connections."""

    def all_uids(self) -> Iterator[str]:
        """Every uid (maintenance: KEK rotation, migrations)."""


@runtime_checkable
class SettingsStore(Protocol):
    """A store that keeps store-wide values every server sharing it reads (SQL and memory stores): the
    key-encryption key that seals new writes and the keys each server holds (``sealing.active``)."""

    def setting(self, name: str) -> str | None:
        """The value of ``name`` (None if unset), read now (its own short transaction)."""

    def set_setting(self, name: str, value: str, *, only_if_unset: bool = False) -> str:
        """Set ``name`` (``only_if_unset``: keep a value already there) and commit; returns the value it holds."""

    def settings(self, prefix: str) -> dict[str, str]:
        """Every setting whose name starts with ``prefix``."""

    def delete_setting(self, name: str) -> None:
        """Remove ``name`` (no error if unset)."""


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
]
