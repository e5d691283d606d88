"""Promise 4 across processes: a provider's breaker opened in one process (Runtime) is open in the
others through Redis; with Redis down each process decides alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from seawall.resilience import BreakerState, CircuitOpenError, ProviderPolicy
from seawall.runtime import Runtime
from tests.support.server import free_port

BREAKER = {"breaker_sliding_window_size": 2, "breaker_minimum_number_of_calls": 2,
           "breaker_wait_duration_in_open_seconds": 60.0}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return BREAKER


async def fail() -> None:
    raise ConnectionError("provider down")


async def open_breaker(policy: ProviderPolicy) -> None:
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await policy.call(fail)
    assert policy.breaker.state == BreakerState.OPEN


def stripe(runtime: Runtime) -> ProviderPolicy:
    return runtime.payments.route("stripe").policy


async def test_an_open_breaker_is_seen_by_another_process(make_runtime: Callable[..., Runtime], backend: str) -> None:
    if backend != "full":
        pytest.skip("breaker state is shared through Redis (the `full` backend)")
    first, second = make_runtime(), make_runtime()
    calls = 0

    async def succeed() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    assert await stripe(second).call(succeed) == "ok"
    await open_breaker(stripe(first))
    with pytest.raises(CircuitOpenError):
        await stripe(second).call(succeed)
    assert calls == 1
    assert stripe(second).breaker.state == BreakerState.OPEN
    assert stripe(second).breaker.opened_at == stripe(first).breaker.opened_at


async def test_with_redis_down_breakers_are_per_process(make_runtime: Callable[..., Runtime]) -> None:
    down = {"redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    first, second = make_runtime(**down), make_runtime(**down)
    await open_breaker(stripe(first))

    async def succeed() -> str:
        return "ok"

    assert await stripe(second).call(succeed) == "ok"
    assert stripe(second).breaker.state == BreakerState.CLOSED
