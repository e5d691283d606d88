"""One provider's resilience policy: total timeout → bulkhead → circuit breaker → the call.

Every remote call of a provider adapter runs through `ProviderPolicy.call()`. Refusals by the
bulkhead or the breaker raise a `CallRejectedError` *before* anything is sent, so callers may treat
them as "certainly not processed" (safe to fail over). A call that exceeds the total timeout raises
`TimeoutError`: its outcome at the provider is unknown.

`classify` tells which errors count against the provider (outages, timeouts, 5xx) and which are
ordinary answers (a card decline is the provider working correctly).

Every call is reported once, here, through the policy's `telemetry` (`resilience.telemetry`): one
`provider <name>` span and `seawall_provider_calls_total{provider, outcome}` — success (classified
SUCCESS), error or timeout (classified FAILURE; `telemetry.failure_outcome` tells which), rejected
(refused by the bulkhead or the breaker) — with the breaker's state and transitions, the bulkhead's
slots and the retry budget's tokens. `action` names what the call does (charge, refund, lookup,
send) on the span.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from opentelemetry.trace import Span, Tracer

from seawall.config import Settings
from seawall.resilience.breaker import BreakerConfig, BreakerState, CircuitBreaker, Transition
from seawall.resilience.budget import RetryBudget
from seawall.resilience.bulkhead import Bulkhead
from seawall.resilience.errors import BulkheadFullError, CircuitOpenError
from seawall.resilience.shared import SharedBreakerState
from seawall.resilience.telemetry import SUCCESS, ProviderTelemetry, failure_outcome

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
    shared: SharedBreakerState | None = None  # server mode: openings shared across processes
    tracer: Tracer | None = None  # where the call spans go; None: the global provider's "seawall.providers"
    telemetry: ProviderTelemetry = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.telemetry = ProviderTelemetry(self.name, tracer=self.tracer)
        self.telemetry.watch(self.breaker, self.budget)

    async def call(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        classify: Callable[[BaseException], CallOutcome] = count_every_error_as_failure,
        action: str = "call",
    ) -> T:
        telemetry = self.telemetry
        with telemetry.span(action) as span:
            if self.shared is not None:
                await self.shared.pull(self.breaker)
            try:
                self.bulkhead.acquire()
            except BulkheadFullError as exc:
                telemetry.rejected(span, exc, by="bulkhead")
                raise
            telemetry.slot_taken()
            try:
                return await self._send(operation, classify, span)
            finally:
                self.bulkhead.release()
                telemetry.slot_released()

    async def _send(self, operation: Callable[[], Awaitable[T]],
                    classify: Callable[[BaseException], CallOutcome], span: Span) -> T:
        try:
            self.breaker.acquire()
        except CircuitOpenError as exc:
            self.telemetry.rejected(span, exc, by="breaker")
            raise
        before = self.breaker.state
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.total_timeout_seconds):
                result = await operation()
        except Exception as exc:
            duration = time.monotonic() - started
            if classify(exc) == CallOutcome.FAILURE:
                self.breaker.record_failure(duration)
                self.telemetry.finished(span, failure_outcome(exc), duration, error=exc)
            else:
                self.breaker.record_success(duration)
                self.telemetry.finished(span, SUCCESS, duration, error=exc)
            await self._publish(before)
            raise
        except BaseException:
            self.breaker.release_unused()  # cancelled: no outcome to record
            self.telemetry.cancelled(span)
            raise
        duration = time.monotonic() - started
        self.breaker.record_success(duration)
        self.telemetry.finished(span, SUCCESS, duration)
        await self._publish(before)
        self.budget.refund()
        return result

    async def _publish(self, before: BreakerState) -> None:
        if self.shared is not None and self.breaker.state != before:
            await self.shared.push(self.breaker)


def policy_from_settings(name: str, settings: Settings, *, on_transition: Transition | None = None,
                         total_timeout_seconds: float | None = None) -> ProviderPolicy:
    """A provider's policy with the breaker, bulkhead and budget defaults from `SEAWALL_*` settings."""
    config = BreakerConfig(
        failure_rate_threshold=settings.breaker_failure_rate_threshold,
        slow_call_rate_threshold=settings.breaker_slow_call_rate_threshold,
        slow_call_duration_seconds=settings.breaker_slow_call_duration_seconds,
        sliding_window_size=settings.breaker_sliding_window_size,
        minimum_number_of_calls=settings.breaker_minimum_number_of_calls,
        wait_duration_in_open_seconds=settings.breaker_wait_duration_in_open_seconds,
        permitted_calls_in_half_open=settings.breaker_permitted_calls_in_half_open,
    )
    return ProviderPolicy(
        name=name,
        breaker=CircuitBreaker(name, config, on_transition=on_transition),
        bulkhead=Bulkhead(name, settings.resolved_provider_max_concurrent_calls),
        budget=RetryBudget(capacity=settings.retry_budget_capacity, retry_cost=settings.retry_budget_retry_cost,
                           timeout_cost=settings.retry_budget_timeout_cost),
        # adapters enforce their own deadline; this is the outer safety net
        total_timeout_seconds=total_timeout_seconds or settings.provider_total_timeout_seconds + 5.0,
    )
