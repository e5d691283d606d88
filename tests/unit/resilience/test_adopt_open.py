"""`CircuitBreaker.adopt_open`: an opening decided by another process, until the same instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from seawall.kit.clock import FakeClock
from seawall.resilience import BreakerConfig, BreakerState, CircuitBreaker, CircuitOpenError


def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker("stripe", BreakerConfig(wait_duration_in_open_seconds=30), clock=clock)


def test_a_peer_opening_refuses_calls_until_it_would_half_open() -> None:
    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    local = breaker(clock)
    assert local.adopt_open(clock.now() - timedelta(seconds=10))
    assert local.state == BreakerState.OPEN
    try:
        local.acquire()
        raise AssertionError("the call was let through")
    except CircuitOpenError as refused:
        assert refused.retry_after == 20
    clock.advance(20)
    local.acquire()
    assert local.state == BreakerState.HALF_OPEN


def test_stale_or_older_openings_are_ignored() -> None:
    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    local = breaker(clock)
    assert not local.adopt_open(clock.now() - timedelta(seconds=31))
    assert local.state == BreakerState.CLOSED
    assert local.adopt_open(clock.now())
    assert not local.adopt_open(clock.now() - timedelta(seconds=1))
