"""Limits that protect the server from its clients, shared by the HTTP and KMIP transports: connections per client
address (``ConnectionGuard``) and requests per second per client (``RateLimiter``, a token bucket per key).

Both run on event-loop threads (the HTTP loop and the KMIP loop), hence the locks; each check is one dict lookup.
Keys are client addresses (behind a load balancer, the address a trusted proxy names: ``proxies``), not identities:
a client is refused before it has authenticated, so an anonymous peer cannot use up the server by holding
connections open or by flooding it with requests it will never be allowed to make (or whose JWT it makes the server
verify), and one key covers HTTP and KMIP. Clients behind one NAT share a budget; the default is generous for that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: How many idle buckets the limiter keeps before it drops the full ones (a bucket that has refilled is the same
#: as no bucket).
_PRUNE_ABOVE = 10_000


class ConnectionGuard:
    """Counts open connections per client address; ``admit`` refuses one beyond ``per_client`` (0: no cap)."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False (and nothing counted) if it has too many already."""
        with self._lock:
            count = self._open.get(address, 0)
            if self.per_client and count >= self.per_client:
                return False
            self._open[address] = count + 1
            return True

    def release(self, address: str) -> None:
        """A connection ``admit`` counted has closed."""
        with self._lock:
            count = self._open.get(address, 0) - 1
            if count > 0:
                self._open[address] = count
            else:
                self._open.pop(address, None)

    def open_connections(self, address: str) -> int:
        with self._lock:
            return self._open.get(address, 0)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per client: ``rate`` requests per second on average, bursts of up to ``burst``.

    ``rate`` 0 turns the limiter off (``allow`` is always True). ``retry_after(key)`` says how long until the next
    request would be allowed (for HTTP's Retry-After).
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, key: str) -> bool:
        """Take one token from ``key``'s bucket; False when it is empty (the request is to be refused)."""
        if self.rate <= 0:
            return True
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) > _PRUNE_ABOVE:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            else:
                bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True
            return False

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` has a token again (0 when it has one now)."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0.0
            tokens = min(self.burst, bucket.tokens + (self.clock() - bucket.updated) * self.rate)
            return max(0.0, (1.0 - tokens) / self.rate)

    def _prune(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


__all__ = ["ConnectionGuard", "RateLimiter"]
