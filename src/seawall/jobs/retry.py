"""Retry policy as data: capped exponential backoff with full jitter.

After failed attempt n (n >= 1) the next run waits a uniformly random time in
[0, min(cap, base * 2**(n-1))] ("full jitter", as in the AWS Architecture Blog's
"Exponential Backoff And Jitter"): retries from many jobs spread out instead of arriving in waves.
A `retry_after` hint (a provider's `Retry-After`) raises the wait to at least that value.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    cap_seconds: float

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not (math.isfinite(self.base_seconds) and math.isfinite(self.cap_seconds)):
            raise ValueError("base_seconds and cap_seconds must be finite numbers")
        if self.base_seconds <= 0 or self.cap_seconds < self.base_seconds:
            raise ValueError("need 0 < base_seconds <= cap_seconds")

    def ceiling(self, attempt: int) -> float:
        """The largest wait after failed attempt `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        exponent = min(attempt - 1, 62)  # 2**62 * base already exceeds any sane cap
        return min(self.cap_seconds, self.base_seconds * (2.0**exponent))

    def delay(self, attempt: int, *, rng: random.Random, retry_after: float | None = None) -> float:
        wait = rng.uniform(0.0, self.ceiling(attempt))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap_seconds))
        return wait
