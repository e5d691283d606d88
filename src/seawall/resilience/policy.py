"""One provider's resilience policy: total timeout → bulkhead → circuit breaker → the call.

Every remote call of a provider adapter runs through `ProviderPolicy.call()`. Refusals by the
bulkhead or the breaker raise a `CallRejectedError` *before* anything is sent, so callers may treat
them as "certainly not processed" (safe to fail over). A call that exceeds the total timeout raises
`TimeoutError`: its outcome at the provider is unknown.

`classify` tells which errors count against the provider (outages, timeouts, 5xx) and which are
ordinary answers (a card decline is the provider working correctly).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from seawall.resilience.breaker import CircuitBreaker
from seawall.resilience.budget import RetryBudget
from seawall.resilience.bulkhead import Bulkhead

T = TypeVar("T")


class CallOutcome(StrEnum):
    SUCCESS = "success"  # the provider answered as designed (including a business refusal)
    FAILURE = "failure"  # the provider failed: counts toward opening the breaker


def count_every_error_as_failure(_exc: BaseException) -> CallOutcome:
    return CallOutcome.FAILURE


@dataclass
class ProviderPolicy:
    name: str
    breaker: CircuitBreaker
    bulkhead: Bulkhead
    budget: RetryBudget
    total_timeout_seconds: float = 30.0

    async def call(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        classify: Callable[[BaseException], CallOutcome] = count_every_error_as_failure,
    ) -> T:
        async with self.bulkhead.slot():
            self.breaker.acquire()
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.total_timeout_seconds):
                    result = await operation()
            except Exception as exc:
                duration = time.monotonic() - started
                if classify(exc) == CallOutcome.FAILURE:
                    self.breaker.record_failure(duration)
                else:
                    self.breaker.record_success(duration)
                raise
            except BaseException:
                self.breaker.release_unused()  # cancelled: no outcome to record
                raise
            self.breaker.record_success(time.monotonic() - started)
            self.budget.refund()
            return result
