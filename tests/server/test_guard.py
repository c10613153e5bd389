"""Connection caps per client address and the per-client token bucket (``server.guard``), and the HTTP API's 429."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from kms_backend.server.config import DEFAULT_RATE_LIMIT, load_config
from kms_backend.server.guard import ConnectionGuard, RateLimiter

from .conftest import CREATE_AES, build_server, caller


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


def test_the_limit_is_on_by_default_and_generous() -> None:
    config = load_config({})
    assert config.rate_limit == DEFAULT_RATE_LIMIT >= 500
    assert config.burst == int(DEFAULT_RATE_LIMIT)
    server = build_server(threads=0)
    try:
        call = caller(server)
        assert server.rate_limiter.enabled
        assert all(call("GET", "/version").status_code == 200 for _ in range(50))
    finally:
        server.close()


def test_x_forwarded_for_names_the_client_only_behind_a_trusted_proxy(tmp_path: Path) -> None:
    """The in-process client's address is 127.0.0.1: trusted, each forwarded client has its own bucket and audit
    lines; not trusted, the header is ignored and every request counts against 127.0.0.1."""
    audit = tmp_path / "audit.log"
    server = build_server(rate_limit=1, rate_limit_burst=2, threads=0, trusted_proxies="127.0.0.1", audit_log=audit)
    try:
        call = caller(server)

        def status(client: str) -> int:
            return call("GET", "/version", headers={"x-forwarded-for": f"6.6.6.6, {client}"}).status_code

        assert [status("198.51.100.1") for _ in range(3)] == [200, 200, 429]
        assert [status("198.51.100.2") for _ in range(2)] == [200, 200]
        created = call("POST", "/kmip/2_1", json=CREATE_AES, headers={"x-forwarded-for": "198.51.100.3"})
        assert created.status_code == 200
        lines = [json.loads(line) for line in audit.read_text().splitlines()]
        assert [line["client"] for line in lines] == ["198.51.100.3"]
    finally:
        server.close()
    server = build_server(rate_limit=1, rate_limit_burst=2, threads=0)  # no trusted proxy
    try:
        call = caller(server)
        statuses = [
            call("GET", "/version", headers={"x-forwarded-for": f"198.51.100.{n}"}).status_code for n in range(3)
        ]
        assert statuses == [200, 200, 429]
    finally:
        server.close()
