"""Objects kept between requests: the store records and grants the engine read, reused while the store's change
stamp shows that nothing was committed since (``StoreTransaction.change_stamp``).

A KMS mostly answers reads of a few hot keys (Get, Encrypt, Sign, the PKCS#11 provider's C_Encrypt). Reading the
object again costs a database round trip per request; checking the stamp costs one cheap query (SQLite: ``PRAGMA
data_version``; PostgreSQL, MySQL and Redis: one small query), and it sees commits of every connection, process
and server sharing the database, so a key revoked or destroyed elsewhere is never used from here. Any commit
forgets everything at once: the entries are only valid for the stamp they were read under. A transaction that
wrote gets no stamp, so nothing it read (possibly its own uncommitted writes) is kept. A store that gives no stamp
bypasses this.

Entries are replaced whole (tuples), so readers on other threads see either the old or the new one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable

from ..store.base import StoredObject

_Grants = dict[str, set[int]]


class HotObjects:
    """uid -> (stamp, record or None, grants or None), at most ``size`` entries (oldest dropped first)."""

    __slots__ = ("_entries", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[str, tuple[Hashable, StoredObject | None, _Grants | None]] = {}

    def record(self, uid: str, stamp: Hashable) -> StoredObject | None:
        """The record of ``uid`` read under ``stamp``, if kept."""
        entry = self._entries.get(uid)
        if entry is None or entry[0] != stamp:
            return None
        return entry[1]

    def grants(self, uid: str, stamp: Hashable) -> _Grants | None:
        """The grants of ``uid`` read under ``stamp``, if kept (callers must not change them)."""
        entry = self._entries.get(uid)
        if entry is None or entry[0] != stamp:
            return None
        return entry[2]

    def keep_record(self, uid: str, stamp: Hashable, record: StoredObject) -> None:
        entry = self._entries.get(uid)
        grants = entry[2] if entry is not None and entry[0] == stamp else None
        self._put(uid, (stamp, record, grants))

    def keep_grants(self, uid: str, stamp: Hashable, grants: _Grants) -> None:
        entry = self._entries.get(uid)
        record = entry[1] if entry is not None and entry[0] == stamp else None
        self._put(uid, (stamp, record, grants))

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _put(self, uid: str, entry: tuple[Hashable, StoredObject | None, _Grants | None]) -> None:
        entries = self._entries
        if uid not in entries and len(entries) >= self.size:
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):  # changed by another thread meanwhile
                del entries[next(iter(entries))]
        entries[uid] = entry


__all__ = ["HotObjects"]
