"""A circuit breaker with Resilience4j's semantics: failure rate and slow-call rate over a
count-based sliding window.

Why hand-written: pybreaker, aiobreaker, circuitbreaker and purgatory trip on *consecutive*
failures only; none has a failure-rate window, slow-call detection, a minimum number of calls or a
bounded number of half-open trial calls, which is what keeps one slow provider from being either
hammered or abandoned too eagerly.

States:
- CLOSED: calls pass; the last `sliding_window_size` outcomes are kept. Once at least
  `minimum_number_of_calls` are recorded, the breaker opens when the failure rate or the slow-call
  rate (calls slower than `slow_call_duration_seconds`) reaches its threshold (in percent).
- OPEN: calls are refused without being sent (`CircuitOpenError`) for
  `wait_duration_in_open_seconds`, then the breaker turns HALF_OPEN.
- HALF_OPEN: `permitted_calls_in_half_open` trial calls are let through; when they have all
  finished, the breaker closes if their rates are under the thresholds and opens again otherwise.

Defaults are Resilience4j's. Every transition is reported to `on_transition` (metrics, logs).
The window is per process; an opening is shared across processes by `shared.SharedBreakerState`
(server mode), which calls `adopt_open` on the other processes' breakers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from seawall.kit.clock import Clock, SystemClock
from seawall.resilience.errors import CircuitOpenError


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerConfig:
    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_seconds: float = 60.0
    sliding_window_size: int = 100
    minimum_number_of_calls: int = 100
    wait_duration_in_open_seconds: float = 60.0
    permitted_calls_in_half_open: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.failure_rate_threshold <= 100 or not 0 < self.slow_call_rate_threshold <= 100:
            raise ValueError("rate thresholds are percentages in (0, 100]")
        if self.sliding_window_size < 1 or self.minimum_number_of_calls < 1 or self.permitted_calls_in_half_open < 1:
            raise ValueError("window size, minimum calls and half-open calls must be at least 1")


@dataclass(frozen=True)
class CallRecord:
    failed: bool
    slow: bool


Transition = Callable[[str, BreakerState, BreakerState], None]


@dataclass
class CircuitBreaker:
    name: str
    config: BreakerConfig = field(default_factory=BreakerConfig)
    clock: Clock = field(default_factory=SystemClock)
    on_transition: Transition | None = None
    state: BreakerState = BreakerState.CLOSED
    opened_at: datetime | None = None
    _window: deque[CallRecord] = field(default_factory=deque)
    _window_failed: int = 0  # failed and slow calls in `_window`, kept as it slides (no sum per call)
    _window_slow: int = 0
    _half_open_started: int = 0
    _half_open_results: list[CallRecord] = field(default_factory=list)

    def acquire(self) -> None:
        """Permission to send one call; raises `CircuitOpenError` (the call is not sent)."""
        self._open_to_half_open_if_due()
        if self.state == BreakerState.OPEN:
            raise CircuitOpenError(f"circuit for {self.name} is open", retry_after=self.seconds_until_half_open())
        if self.state == BreakerState.HALF_OPEN:
            if self._half_open_started >= self.config.permitted_calls_in_half_open:
                raise CircuitOpenError(f"circuit for {self.name} is half-open and its trial calls are taken",
                                       retry_after=1.0)
            self._half_open_started += 1

    def record_success(self, duration_seconds: float) -> None:
        self._record(CallRecord(failed=False, slow=duration_seconds >= self.config.slow_call_duration_seconds))

    def record_failure(self, duration_seconds: float) -> None:
        self._record(CallRecord(failed=True, slow=duration_seconds >= self.config.slow_call_duration_seconds))

    def release_unused(self) -> None:
        """A permitted call that was not sent after all (e.g. the bulkhead refused it)."""
        if self.state == BreakerState.HALF_OPEN and self._half_open_started > len(self._half_open_results):
            self._half_open_started -= 1

    def adopt_open(self, opened_at: datetime) -> bool:
        """Another process opened this provider's breaker at `opened_at`: open here until the same time.

        Ignored when that opening has already run its course or is not newer than ours.
        """
        if opened_at + timedelta(seconds=self.config.wait_duration_in_open_seconds) <= self.clock.now():
            return False
        if self.state == BreakerState.OPEN and self.opened_at is not None and self.opened_at >= opened_at:
            return False
        if self.state == BreakerState.OPEN:
            self.opened_at = opened_at
            return True
        self._transition(BreakerState.OPEN)
        self.opened_at = opened_at
        return True

    def seconds_until_half_open(self) -> float:
        if self.state != BreakerState.OPEN or self.opened_at is None:
            return 0.0
        remaining = self.opened_at + timedelta(seconds=self.config.wait_duration_in_open_seconds) - self.clock.now()
        return max(0.0, remaining.total_seconds())

    # -- internals ---------------------------------------------------------------------------

    def _record(self, record: CallRecord) -> None:
        self._open_to_half_open_if_due()
        if self.state == BreakerState.HALF_OPEN:
            self._half_open_results.append(record)
            if len(self._half_open_results) >= self.config.permitted_calls_in_half_open:
                results = self._half_open_results
                self._transition(BreakerState.OPEN if self._over_threshold(results) else BreakerState.CLOSED)
            return
        if self.state == BreakerState.OPEN:
            return  # a call that started before the breaker opened; its outcome no longer matters
        self._window.append(record)
        self._window_failed += record.failed
        self._window_slow += record.slow
        while len(self._window) > self.config.sliding_window_size:
            dropped = self._window.popleft()
            self._window_failed -= dropped.failed
            self._window_slow -= dropped.slow
        total = len(self._window)
        if total >= self.config.minimum_number_of_calls and self._rates_over_threshold(
                total, self._window_failed, self._window_slow):
            self._transition(BreakerState.OPEN)

    def _over_threshold(self, records: list[CallRecord]) -> bool:
        return self._rates_over_threshold(len(records), sum(r.failed for r in records), sum(r.slow for r in records))

    def _rates_over_threshold(self, total: int, failed: int, slow: int) -> bool:
        if total == 0:
            return False
        return (100.0 * failed / total >= self.config.failure_rate_threshold
                or 100.0 * slow / total >= self.config.slow_call_rate_threshold)

    def _open_to_half_open_if_due(self) -> None:
        if self.state == BreakerState.OPEN and self.seconds_until_half_open() <= 0:
            self._transition(BreakerState.HALF_OPEN)

    def _transition(self, new_state: BreakerState) -> None:
        old_state = self.state
        if old_state == new_state:
            return
        self.state = new_state
        self._window.clear()
        self._window_failed = self._window_slow = 0
        self._half_open_started = 0
        self._half_open_results = []
        self.opened_at = self.clock.now() if new_state == BreakerState.OPEN else None
        if self.on_transition is not None:
            self.on_transition(self.name, old_state, new_state)
