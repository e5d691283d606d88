"""Provider policy: the bulkhead caps concurrency and refuses the excess without sending it; an open
breaker refuses without sending; declines do not count as failures; the retry budget runs dry
during an outage and refills on success."""

from __future__ import annotations

import asyncio

import pytest

from seawall.kit.clock import FakeClock
from seawall.resilience import (
    BreakerConfig,
    BreakerState,
    Bulkhead,
    BulkheadFullError,
    CallOutcome,
    CircuitBreaker,
    CircuitOpenError,
    ProviderPolicy,
    RetryBudget,
)


def make_policy(*, max_concurrent: int = 2, timeout: float = 5.0) -> ProviderPolicy:
    config = BreakerConfig(minimum_number_of_calls=2, sliding_window_size=4, wait_duration_in_open_seconds=10,
                           permitted_calls_in_half_open=1)
    return ProviderPolicy(
        name="sandbox",
        breaker=CircuitBreaker("sandbox", config, FakeClock()),
        bulkhead=Bulkhead("sandbox", max_concurrent),
        budget=RetryBudget(capacity=10, retry_cost=5, timeout_cost=10, success_refund=1),
        total_timeout_seconds=timeout,
    )


async def test_bulkhead_refuses_calls_over_the_cap_without_sending_them() -> None:
    policy = make_policy(max_concurrent=2)
    release = asyncio.Event()
    sent = 0

    async def slow_call() -> str:
        nonlocal sent
        sent += 1
        await release.wait()
        return "ok"

    first = [asyncio.create_task(policy.call(slow_call)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFullError):
        await policy.call(slow_call)
    assert sent == 2
    release.set()
    assert await asyncio.gather(*first) == ["ok", "ok"]
    assert policy.bulkhead.peak_in_flight == 2 and policy.bulkhead.in_flight == 0


async def test_open_breaker_refuses_without_sending() -> None:
    policy = make_policy()
    sent = 0

    async def failing_call() -> None:
        nonlocal sent
        sent += 1
        raise ConnectionError("provider down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await policy.call(failing_call)
    assert policy.breaker.state == BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        await policy.call(failing_call)
    assert sent == 2


async def test_business_refusals_do_not_open_the_breaker() -> None:
    policy = make_policy()

    class Declined(Exception):
        pass

    async def declined() -> None:
        raise Declined()

    for _ in range(5):
        with pytest.raises(Declined):
            await policy.call(declined, classify=lambda exc: CallOutcome.SUCCESS if isinstance(exc, Declined)
                              else CallOutcome.FAILURE)
    assert policy.breaker.state == BreakerState.CLOSED


async def test_total_timeout_counts_as_failure() -> None:
    policy = make_policy(timeout=0.05)

    async def hang() -> None:
        await asyncio.sleep(10)

    for _ in range(2):
        with pytest.raises(TimeoutError):
            await policy.call(hang)
    assert policy.breaker.state == BreakerState.OPEN


def test_retry_budget_runs_dry_and_refills_on_success() -> None:
    budget = RetryBudget(capacity=10, retry_cost=5, timeout_cost=10, success_refund=1)
    assert budget.try_spend()
    assert budget.try_spend()
    assert not budget.try_spend()
    for _ in range(5):
        budget.refund()
    assert budget.try_spend()
    assert not budget.try_spend(after_timeout=True)
    for _ in range(100):
        budget.refund()
    assert budget.tokens == 10
