"""In-memory ``ObjectStore``: the test double, with the same semantics as the database backends.

One lock serialises transactions (a transaction holds it from start to end, so transactions are serialisable);
each transaction journals the previous value of every entry it touches and puts them back if the block raises.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from ._common import check_lengths, is_live, normalised_copy
from .base import EVERYONE, LocateQuery, NameConflict, StoreConflict, StoredObject, StoreError

#: How long a transaction waits for another thread's transaction before giving up (seconds).
_LOCK_TIMEOUT = 30.0


@dataclass
class _Entry:
    obj: StoredObject
    seq: int


@dataclass
class _State:
    objects: dict[str, _Entry] = field(default_factory=dict)
    grants: dict[str, dict[str, set[int]]] = field(default_factory=dict)
    privileged: set[str] = field(default_factory=set)
    settings: dict[str, str] = field(default_factory=dict)
    next_seq: int = 1
    #: bumped by every transaction that changed something (the change stamp)
    generation: int = 0


class MemoryStore:
    """An ``ObjectStore`` kept in a dict; thread-safe; nothing survives ``close``."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.RLock()
        self._closed = False

    @contextmanager
    def transaction(self) -> Iterator[MemoryTransaction]:
        """A serialisable transaction: holds the store lock; restores touched entries if the block raises."""
        if not self._lock.acquire(timeout=_LOCK_TIMEOUT):
            raise StoreError("timed out waiting for another transaction")
        try:
            self._check_open()
            tx = MemoryTransaction(self._state)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            finally:
                tx.finished = True
                if tx.touched():
                    self._state.generation += 1
        finally:
            self._lock.release()

    def health(self) -> None:
        """Raise StoreError once closed."""
        self._check_open()

    def change_stamp(self) -> tuple[int, int]:
        """What a transaction's ``change_stamp`` would give now."""
        state = self._state
        return id(state), state.generation

    def close(self) -> None:
        """Drop everything."""
        with self._lock:
            self._closed = True
            self._state = _State()

    def all_uids(self) -> Iterator[str]:
        """Every uid, in creation order (a snapshot)."""
        with self._lock:
            self._check_open()
            entries = sorted(self._state.objects.values(), key=lambda e: e.seq)
            uids = [e.obj.uid for e in entries]
        return iter(uids)

    def setting(self, name: str) -> str | None:
        """The value of the store-wide setting ``name`` (None if unset)."""
        with self._lock:
            self._check_open()
            return self._state.settings.get(name)

    def settings(self, prefix: str) -> dict[str, str]:
        """Every store-wide setting whose name starts with ``prefix``."""
        with self._lock:
            self._check_open()
            return {k: v for k, v in self._state.settings.items() if k.startswith(prefix)}

    def delete_setting(self, name: str) -> None:
        """Remove ``name`` (no error if unset)."""
        with self._lock:
            self._check_open()
            if self._state.settings.pop(name, None) is not None:
                self._state.generation += 1

    def set_setting(self, name: str, value: str, *, only_if_unset: bool = False) -> str:
        """Set ``name`` (``only_if_unset``: keep a value already there); returns the value held afterwards."""
        with self._lock:
            self._check_open()
            settings = self._state.settings
            if not (only_if_unset and name in settings):
                settings[name] = value
                self._state.generation += 1
            return settings[name]

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")


class MemoryTransaction:
    """``StoreTransaction`` over the shared state; the caller holds the store lock."""

    def __init__(self, state: _State) -> None:
        self._s = state
        # Previous values of touched entries, restored in reverse order on rollback.
        self._undo_objects: dict[str, _Entry | None] = {}
        self._undo_grants: dict[str, dict[str, set[int]] | None] = {}
        self._undo_privileged: set[str] | None = None
        self._undo_next_seq = state.next_seq
        self.finished = False

    # --- journal ------------------------------------------------------------------------------------------------
    def _touch_object(self, uid: str) -> None:
        if uid not in self._undo_objects:
            self._undo_objects[uid] = self._s.objects.get(uid)

    def _touch_grants(self, uid: str) -> None:
        if uid not in self._undo_grants:
            old = self._s.grants.get(uid)
            self._undo_grants[uid] = None if old is None else {u: set(ops) for u, ops in old.items()}

    def touched(self) -> bool:
        """Whether this transaction changed anything (rolled back or not)."""
        return bool(self._undo_objects or self._undo_grants or self._undo_privileged is not None)

    def change_stamp(self) -> tuple[int, int] | None:
        """(state identity, commit generation); None once this transaction changed something."""
        if self.touched():
            return None
        return id(self._s), self._s.generation

    def rollback(self) -> None:
        """Put back every entry this transaction changed."""
        for uid, entry in self._undo_objects.items():
            if entry is None:
                self._s.objects.pop(uid, None)
            else:
                self._s.objects[uid] = entry
        for uid, grants in self._undo_grants.items():
            if grants is None:
                self._s.grants.pop(uid, None)
            else:
                self._s.grants[uid] = grants
        if self._undo_privileged is not None:
            self._s.privileged = self._undo_privileged
        self._s.next_seq = self._undo_next_seq

    def _check_active(self) -> None:
        if self.finished:
            raise StoreError("the transaction is finished")

    # --- objects ------------------------------------------------------------------------------------------------
    def _check_names(self, obj: StoredObject) -> None:
        if not obj.names or not is_live(obj.state):
            return
        wanted = set(obj.names)
        for entry in self._s.objects.values():
            other = entry.obj
            if other.uid == obj.uid or other.object_type != obj.object_type or not is_live(other.state):
                continue
            for name in other.names:
                if name in wanted:
                    raise NameConflict(name)

    def insert(self, obj: StoredObject) -> None:
        """Add a new object (StoreConflict if the uid exists, NameConflict on a duplicate live name)."""
        self._check_active()
        check_lengths(obj)
        if obj.uid in self._s.objects:
            raise StoreConflict(f"an object with uid {obj.uid!r} already exists")
        self._check_names(obj)
        self._touch_object(obj.uid)
        stored = normalised_copy(obj)
        stored.revision = 1
        self._s.objects[obj.uid] = _Entry(stored, self._s.next_seq)
        self._s.next_seq += 1
        obj.revision = 1

    def get(self, uid: str, for_update: bool = False) -> StoredObject | None:
        """The object, or None (the store lock already isolates the transaction, so ``for_update`` is moot)."""
        self._check_active()
        entry = self._s.objects.get(uid)
        return None if entry is None else normalised_copy(entry.obj)

    def get_many(self, uids: Sequence[str]) -> list[StoredObject]:
        """The objects that exist among ``uids``, in the order asked."""
        self._check_active()
        return [normalised_copy(e.obj) for uid in uids if (e := self._s.objects.get(uid)) is not None]

    def update(self, obj: StoredObject) -> None:
        """Replace the object; StoreConflict if ``obj.revision`` is stale; bumps the revision."""
        self._check_active()
        check_lengths(obj)
        entry = self._s.objects.get(obj.uid)
        if entry is None or entry.obj.revision != obj.revision:
            raise StoreConflict(f"object {obj.uid!r} was changed or deleted concurrently")
        self._check_names(obj)
        self._touch_object(obj.uid)
        stored = normalised_copy(obj)
        stored.revision = obj.revision + 1
        self._s.objects[obj.uid] = _Entry(stored, entry.seq)
        obj.revision = stored.revision

    def delete(self, uid: str) -> bool:
        """Remove the object and its grants; True if it existed."""
        self._check_active()
        if uid not in self._s.objects:
            return False
        self._touch_object(uid)
        self._touch_grants(uid)
        del self._s.objects[uid]
        self._s.grants.pop(uid, None)
        return True

    # --- locate -------------------------------------------------------------------------------------------------
    def _matches(self, q: LocateQuery, obj: StoredObject) -> bool:
        checks = (
            q.object_type is None or obj.object_type == q.object_type,
            q.cryptographic_algorithm is None or obj.cryptographic_algorithm == q.cryptographic_algorithm,
            q.cryptographic_length is None or obj.cryptographic_length == q.cryptographic_length,
            q.state is None or obj.state == q.state,
            obj.storage_status & q.storage_status_mask != 0,
        )
        if not all(checks):
            return False
        if q.cryptographic_usage_mask:
            mask = obj.cryptographic_usage_mask
            if mask is None or mask & q.cryptographic_usage_mask != q.cryptographic_usage_mask:
                return False
        if q.names and not set(q.names) & set(obj.names):
            return False
        if q.object_groups and not set(q.object_groups) & set(obj.object_groups):
            return False
        if not set(q.tags) <= set(obj.tags):
            return False
        for link_type, linked in q.links:
            if not any(t == link_type and (not linked or u == linked) for t, u in obj.links):
                return False
        for tag, (earliest, latest) in q.date_ranges.items():
            value = obj.dates.get(tag)
            if value is None or (earliest is not None and value < earliest) or (latest is not None and value > latest):
                return False
        return q.user is None or self._visible(obj, q.user, q.operation)

    def _visible(self, obj: StoredObject, user: str, operation: int | None) -> bool:
        if obj.owner == user:
            return True
        grants = self._s.grants.get(obj.uid, {})
        for grantee in (user, EVERYONE):
            ops = grants.get(grantee)
            if ops and (operation is None or operation in ops):
                return True
        return False

    def _matching(self, q: LocateQuery) -> list[str]:
        entries = sorted(self._s.objects.values(), key=lambda e: e.seq)
        return [e.obj.uid for e in entries if self._matches(q, e.obj)]

    def locate(self, query: LocateQuery) -> list[str]:
        """Uids matching ``query`` in creation order, after ``offset``, capped by ``limit``.

        A scan: fine for the test double; the database backends run one indexed query.
        """
        self._check_active()
        uids = self._matching(query)[query.offset :]
        return uids if query.limit is None else uids[: query.limit]

    def count(self, query: LocateQuery) -> int:
        """How many objects match ``query`` ignoring offset/limit."""
        self._check_active()
        return len(self._matching(query))

    # --- access control -----------------------------------------------------------------------------------------
    def grant(self, uid: str, user: str, operations: Sequence[int]) -> None:
        """Allow ``user`` (or EVERYONE) the KMIP ``operations`` on ``uid``."""
        self._check_active()
        if not operations:
            return
        self._touch_grants(uid)
        self._s.grants.setdefault(uid, {}).setdefault(user, set()).update(operations)

    def revoke(self, uid: str, user: str, operations: Sequence[int]) -> None:
        """Withdraw those operations; no error if they were not granted."""
        self._check_active()
        grants = self._s.grants.get(uid)
        if grants is None or user not in grants:
            return
        self._touch_grants(uid)
        grants = self._s.grants[uid]
        grants[user].difference_update(operations)
        if not grants[user]:
            del grants[user]
        if not grants:
            del self._s.grants[uid]

    def grants(self, uid: str) -> dict[str, set[int]]:
        """user -> granted operations for ``uid``."""
        self._check_active()
        return {u: set(ops) for u, ops in self._s.grants.get(uid, {}).items()}

    def operations_granted(self, uid: str, user: str) -> set[int]:
        """Operations granted to ``user`` directly or through EVERYONE."""
        self._check_active()
        grants = self._s.grants.get(uid, {})
        return set(grants.get(user, set())) | set(grants.get(EVERYONE, set()))

    def owned(self, owner: str) -> list[StoredObject]:
        """Objects owned by ``owner``, in creation order."""
        self._check_active()
        entries = sorted(self._s.objects.values(), key=lambda e: e.seq)
        return [normalised_copy(e.obj) for e in entries if e.obj.owner == owner]

    def obtained(self, user: str) -> list[tuple[StoredObject, set[int]]]:
        """Objects not owned by ``user`` on which ``user`` holds direct grants, with those operations."""
        self._check_active()
        entries = sorted(self._s.objects.values(), key=lambda e: e.seq)
        result: list[tuple[StoredObject, set[int]]] = []
        for e in entries:
            ops = self._s.grants.get(e.obj.uid, {}).get(user)
            if ops and e.obj.owner != user:
                result.append((normalised_copy(e.obj), set(ops)))
        return result

    def privileged_users(self) -> set[str]:
        """Users allowed to create objects when creation is restricted."""
        self._check_active()
        return set(self._s.privileged)

    def set_privileged(self, user: str, allowed: bool) -> None:
        """Add or remove ``user`` from the privileged users."""
        self._check_active()
        if self._undo_privileged is None:
            self._undo_privileged = set(self._s.privileged)
        if allowed:
            self._s.privileged.add(user)
        else:
            self._s.privileged.discard(user)


__all__ = ["MemoryStore", "MemoryTransaction"]
