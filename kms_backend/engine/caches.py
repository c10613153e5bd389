"""The one owner of everything an engine keeps between requests, with one ``forget``.

=====================  =========================================================================================
cache                  what it keeps, and why it is never stale
=====================  =========================================================================================
``records``            ``RecordCodec``'s decoded records (LRU by uid), checked against the stored bytes on each hit
``hot``                store records and grants (``hot.HotObjects``), valid under the store's change stamp
``plans``              one-shot Encrypt/Decrypt/Sign and Get decisions (``plans.PlanCache``), valid under the stamp
key material           keys converted to DER (``keymaterial``) and parsed key and cipher objects of the crypto
                       layer (``crypto.clear_key_caches``), keyed by the key bytes themselves
=====================  =========================================================================================

A request's own ``RequestContext.cache`` (the objects one batch item loaded) lives and dies with the request.

``forget(uid)`` drops every copy of an object's key material and every decision about it. The engine calls it once
an operation that ends or replaces a key (Destroy, Revoke, Re-key) has committed (``RequestContext.forget``): the
stamp already makes stale entries unusable, but a destroyed key's bytes should not stay in memory. The key-byte
caches are keyed by bytes, not by object, so they are emptied whole; they refill on the next use of each key.
"""

from __future__ import annotations

from collections.abc import Callable

from ..kmip.registry import ProtocolVersion
from .hot import HotObjects
from .keymaterial import clear_caches
from .objects import RecordCodec
from .plans import Plan, PlanCache


class EngineCaches:
    """Every cache of one engine (None: that cache is off)."""

    __slots__ = ("_also", "hot", "plans", "records")

    def __init__(self, records: RecordCodec, hot: HotObjects | None, plans: PlanCache | None) -> None:
        self.records = records
        self.hot = hot
        self.plans = plans
        self._also: list[Callable[[str], None]] = []

    def also_forget(self, forget: Callable[[str], None]) -> None:
        """Have :meth:`forget` call ``forget(uid)`` too (a layer's own cache of an object, such as the HSM's
        unsealed blobs)."""
        self._also.append(forget)

    def keep_plan(self, plan: Plan, user: str, version: ProtocolVersion) -> None:
        """Keep a handler's Plan for reuse when it may be reused (``plans`` module doc)."""
        if self.plans is not None:
            self.plans.keep(plan, user, version)

    def forget(self, uid: str) -> None:
        """Drop every kept copy of ``uid``'s record and key material, and every decision about it."""
        self.records.invalidate(uid)
        if self.hot is not None:
            self.hot.forget(uid)
        if self.plans is not None:
            self.plans.forget(uid)
        clear_caches()
        for forget in self._also:
            forget(uid)

    def clear(self) -> None:
        """Drop everything (tests; a KEK rotation re-seals every record)."""
        self.records.invalidate()
        if self.hot is not None:
            self.hot.clear()
        if self.plans is not None:
            self.plans.clear()
        clear_caches()


__all__ = ["EngineCaches"]
