"""Circuit breaker: opens on failure rate and slow-call rate, refuses while open, half-opens after
the wait, and closes or re-opens on its trial calls (Resilience4j semantics)."""

from __future__ import annotations

import pytest

from seawall.kit.clock import FakeClock
from seawall.resilience import BreakerConfig, BreakerState, CircuitBreaker, CircuitOpenError

CONFIG = BreakerConfig(
    failure_rate_threshold=50,
    slow_call_rate_threshold=80,
    slow_call_duration_seconds=2.0,
    sliding_window_size=10,
    minimum_number_of_calls=4,
    wait_duration_in_open_seconds=30,
    permitted_calls_in_half_open=3,
)


def make_breaker(transitions: list[tuple[BreakerState, BreakerState]] | None = None) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    record = transitions if transitions is not None else []
    breaker = CircuitBreaker("sandbox", CONFIG, clock, on_transition=lambda _n, a, b: record.append((a, b)))
    return breaker, clock


def call(breaker: CircuitBreaker, *, fail: bool, duration: float = 0.01) -> None:
    breaker.acquire()
    if fail:
        breaker.record_failure(duration)
    else:
        breaker.record_success(duration)


def test_defaults_are_resilience4j_defaults() -> None:
    config = BreakerConfig()
    assert (config.failure_rate_threshold, config.sliding_window_size, config.wait_duration_in_open_seconds,
            config.permitted_calls_in_half_open, config.minimum_number_of_calls) == (50, 100, 60, 10, 100)


def test_stays_closed_below_minimum_calls_even_if_all_fail() -> None:
    breaker, _ = make_breaker()
    for _ in range(CONFIG.minimum_number_of_calls - 1):
        call(breaker, fail=True)
    assert breaker.state == BreakerState.CLOSED


def test_opens_when_failure_rate_reaches_threshold_and_refuses_calls() -> None:
    breaker, _ = make_breaker()
    call(breaker, fail=False)
    call(breaker, fail=False)
    call(breaker, fail=True)
    assert breaker.state == BreakerState.CLOSED
    call(breaker, fail=True)  # 2 of 4 = 50 %
    assert breaker.state == BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as refused:
        breaker.acquire()
    assert refused.value.retry_after == pytest.approx(30)


def test_failure_rate_is_over_a_sliding_window() -> None:
    breaker, _ = make_breaker()
    call(breaker, fail=True)
    for _ in range(12):  # 1 of 4, then the old failure leaves the 10-call window
        call(breaker, fail=False)
    assert breaker.state == BreakerState.CLOSED
    for _ in range(4):
        call(breaker, fail=True)
    assert breaker.state == BreakerState.CLOSED  # 4 of 10
    call(breaker, fail=True)  # 5 of 10
    assert breaker.state == BreakerState.OPEN


def test_opens_on_slow_call_rate() -> None:
    breaker, _ = make_breaker()
    for _ in range(4):
        call(breaker, fail=False, duration=5.0)
    assert breaker.state == BreakerState.OPEN


def test_half_open_after_wait_then_closes_when_trials_succeed() -> None:
    transitions: list[tuple[BreakerState, BreakerState]] = []
    breaker, clock = make_breaker(transitions)
    for _ in range(4):
        call(breaker, fail=True)
    clock.advance(29)
    with pytest.raises(CircuitOpenError):
        breaker.acquire()
    clock.advance(1)
    for _ in range(3):
        breaker.acquire()
    assert breaker.state == BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError):
        breaker.acquire()  # only the permitted trial calls pass
    for _ in range(3):
        breaker.record_success(0.01)
    assert breaker.state == BreakerState.CLOSED
    assert transitions == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_half_open_reopens_when_trials_fail() -> None:
    breaker, clock = make_breaker()
    for _ in range(4):
        call(breaker, fail=True)
    clock.advance(30)
    call(breaker, fail=True)
    call(breaker, fail=True)
    call(breaker, fail=False)
    assert breaker.state == BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        breaker.acquire()


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        BreakerConfig(failure_rate_threshold=0)
    with pytest.raises(ValueError):
        BreakerConfig(sliding_window_size=0)
