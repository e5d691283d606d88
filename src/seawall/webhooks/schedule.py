"""The published retry schedule, and how a receiver slows an endpoint down. Policy as data.

Attempts of one delivery, measured from the failure before each (Standard Webhooks' example):

    attempt   1     2    3      4       5     6     7      8      9      10
    delay     0     5 s  5 min  30 min  2 h   5 h   10 h   14 h   20 h   24 h

Ten attempts spread over about 3 days 3 hours; after the tenth failure the delivery is `failed`.
Every delay is multiplied by `schedule_scale` (tests compress the schedule into seconds) and may
grow by up to `schedule_jitter` of itself, never shrink. A `Retry-After` from the receiver raises the
next delay to at least that (capped at `max_retry_after_seconds`).

429, 502, 503 and 504 mean "you are sending too much": besides this delivery's own retry, the whole
endpoint is slowed down for `Retry-After` (or `throttle_seconds`, scaled) and its other deliveries
wait until then without spending an attempt.
"""

from __future__ import annotations

import random

RETRY_SCHEDULE_SECONDS: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_SECONDS)
THROTTLE_STATUSES = frozenset({429, 502, 503, 504})


def delay_before_attempt(number: int, *, scale: float = 1.0, jitter: float = 0.0,
                         rng: random.Random | None = None) -> float | None:
    """Seconds to wait before attempt `number` (1-based, counted from the schedule's start) after
    the previous one failed; None when the schedule has no such attempt."""
    if number < 1:
        raise ValueError("attempt numbers start at 1")
    if number > MAX_ATTEMPTS:
        return None
    delay = RETRY_SCHEDULE_SECONDS[number - 1] * scale
    if jitter > 0 and delay > 0:
        delay += delay * jitter * (rng or random.Random()).random()
    return delay


def next_retry_delay(attempts_made: int, *, retry_after: float | None, scale: float, jitter: float,
                     max_retry_after: float, rng: random.Random | None = None) -> float | None:
    """After `attempts_made` failed attempts of this schedule: the wait before the next, or None
    when the schedule is exhausted (the delivery has failed)."""
    delay = delay_before_attempt(attempts_made + 1, scale=scale, jitter=jitter, rng=rng)
    if delay is None:
        return None
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_retry_after))
    return delay


def throttle_delay(status_code: int | None, *, retry_after: float | None, default_seconds: float, scale: float,
                   max_retry_after: float) -> float | None:
    """How long to slow the whole endpoint down after this answer; None when it asks for no slow-down."""
    if status_code not in THROTTLE_STATUSES:
        return None
    if retry_after is not None:
        return min(retry_after, max_retry_after)
    return default_seconds * scale
