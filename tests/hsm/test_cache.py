"""The cache of unsealed blobs: bounded by size and age, keyed by the sealed bytes, invalidated on demand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kms_backend.hsm import HsmSessions, KekSealer, UnsealCache

from .conftest import token, unique


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lru_bound() -> None:
    cache = UnsealCache(2, 60)
    cache.put("a", b"A", b"a")
    cache.put("b", b"B", b"b")
    assert cache.get("a", b"A") == b"a"  # a is now the most recent
    cache.put("c", b"C", b"c")
    assert cache.get("b", b"B") is None
    assert cache.get("a", b"A") == b"a" and cache.get("c", b"C") == b"c"
    assert len(cache) == 2


def test_entries_expire() -> None:
    clock = Clock()
    cache = UnsealCache(10, 5, clock=clock)
    cache.put("a", b"A", b"a")
    clock.now += 4.9
    assert cache.get("a", b"A") == b"a"
    clock.now += 0.2
    assert cache.get("a", b"A") is None
    assert len(cache) == 0


def test_a_changed_blob_never_matches() -> None:
    cache = UnsealCache(10, 60)
    cache.put("a", b"old blob", b"old")
    assert cache.get("a", b"new blob") is None
    assert cache.get("a", b"old blob") is None  # the stale entry was dropped


def test_invalidate_clear_and_disabled() -> None:
    cache = UnsealCache(10, 60)
    cache.put("a", b"A", b"a")
    cache.put("b", b"B", b"b")
    cache.invalidate("a")
    assert cache.get("a", b"A") is None and cache.get("b", b"B") == b"b"
    cache.clear()
    assert len(cache) == 0
    off = UnsealCache(0, 60)
    off.put("a", b"A", b"a")
    assert off.get("a", b"A") is None and len(off) == 0


@pytest.fixture
def sealer(softhsm) -> Iterator[KekSealer]:
    tok = token(softhsm, "cache")
    pool = HsmSessions(tok.module, tok.label, tok.pin)
    pool.connect()
    kek = KekSealer(pool, unique("kek"), cache=UnsealCache(100, 60))
    kek.open(create=True)
    yield kek
    pool.close()


def test_warm_unseal_does_not_use_the_hsm(sealer: KekSealer) -> None:
    sealed = sealer.seal("u1", b"\x42secret")
    sealer.cache.clear()
    calls = []
    run = sealer.sessions.run

    def counting(operation, **kwargs):
        calls.append(kwargs.get("what"))
        return run(operation, **kwargs)

    sealer.sessions.run = counting  # type: ignore[method-assign]
    assert sealer.unseal("u1", sealed) == b"\x42secret"
    assert sealer.unseal("u1", sealed) == b"\x42secret"
    assert calls == ["unseal"]
    assert sealer.cache.stats.hits == 1
    sealer.invalidate("u1")
    assert sealer.unseal("u1", sealed) == b"\x42secret"
    assert calls == ["unseal", "unseal"]
