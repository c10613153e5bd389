"""A bounded in-memory cache of unsealed object blobs, so that hot keys are not unwrapped by the HSM on every use.

Entries are keyed by Unique Identifier and remember the sealed blob they came from: a blob that changed in the store
(re-keyed, re-sealed by a KEK rotation, destroyed) never matches a stale entry. Entries expire after ``max_age``
seconds and the least recently used one goes when ``max_entries`` is reached; ``invalidate(uid)`` drops one at
once (the engine forgets an object after Revoke, Destroy, Archive and Re-key), ``clear()`` drops all (rotation,
shutdown).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_ENTRIES = 1024
DEFAULT_MAX_AGE = 300.0


@dataclass(slots=True)
class _Entry:
    sealed: bytes
    plain: bytes
    stored_at: float


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0


class UnsealCache:
    """Thread-safe LRU of uid -> (sealed blob, plaintext), bounded in size and age. ``max_entries=0`` disables it."""

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_age: float = DEFAULT_MAX_AGE,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max(0, max_entries)
        self.max_age = max_age
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def get(self, uid: str, sealed: bytes) -> bytes | None:
        """The plaintext of ``sealed`` if cached for ``uid`` and still fresh."""
        if not self.max_entries:
            return None
        with self._lock:
            entry = self._entries.get(uid)
            if entry is None or entry.sealed != sealed or self._clock() - entry.stored_at > self.max_age:
                if entry is not None:
                    del self._entries[uid]
                self.stats.misses += 1
                return None
            self._entries.move_to_end(uid)
            self.stats.hits += 1
            return entry.plain

    def put(self, uid: str, sealed: bytes, plain: bytes) -> None:
        """Remember that ``sealed`` (the blob of ``uid``) unseals to ``plain``."""
        if not self.max_entries:
            return
        with self._lock:
            self._entries[uid] = _Entry(sealed, plain, self._clock())
            self._entries.move_to_end(uid)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, uid: str) -> None:
        """Forget ``uid`` (revoked, destroyed, re-keyed)."""
        with self._lock:
            self._entries.pop(uid, None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


__all__ = ["DEFAULT_MAX_AGE", "DEFAULT_MAX_ENTRIES", "CacheStats", "UnsealCache"]
