"""Connection caps per client address and the per-client token bucket (``server.guard``), and the HTTP API's 429."""

from __future__ import annotations

import httpx
import pytest

from kms_backend.server.guard import ConnectionGuard, RateLimiter

from .conftest import build_server, caller


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_connections_per_address_are_counted_and_released() -> None:
    guard = ConnectionGuard(2)
    assert guard.admit("10.0.0.1") and guard.admit("10.0.0.1")
    assert not guard.admit("10.0.0.1")
    assert guard.admit("10.0.0.2")  # another address has its own count
    guard.release("10.0.0.1")
    assert guard.admit("10.0.0.1")
    assert guard.open_connections("10.0.0.1") == 2


def test_no_cap_when_zero() -> None:
    guard = ConnectionGuard(0)
    assert all(guard.admit("a") for _ in range(1000))


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=5, clock=clock)
    assert [limiter.allow("a") for _ in range(6)] == [True] * 5 + [False]
    assert limiter.retry_after("a") == pytest.approx(0.1)
    assert limiter.allow("b")  # per client
    clock.now += 0.25  # 2.5 tokens back
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    clock.now += 10  # refills to the burst, never beyond
    assert sum(limiter.allow("a") for _ in range(20)) == 5


def test_rate_zero_is_off() -> None:
    limiter = RateLimiter(rate=0, burst=1)
    assert not limiter.enabled
    assert all(limiter.allow("a") for _ in range(1000))


def test_http_answers_429_with_retry_after_past_the_rate() -> None:
    server = build_server(rate_limit=2, rate_limit_burst=3, threads=0)
    try:
        call = caller(server)
        statuses = [call("GET", "/version").status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200]
        assert 429 in statuses[3:]
        refused: httpx.Response = call("GET", "/version")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # Health probes are never limited: a load balancer must see the server as it is.
        assert call("GET", "/health").status_code == 200
    finally:
        server.close()
