"""A retry budget: a token bucket in the manner of the AWS SDKs' standard retry mode.

Each retry spends `retry_cost` tokens (`timeout_cost` after a timeout), each success refunds
`success_refund`, up to `capacity`. When the bucket cannot pay, the retry is not made now: during
an outage the retries stop multiplying the load, and they resume as successes refill the bucket.
Why hand-written: it is a dozen lines, and rate limiters (aiolimiter, limits) refill with time,
not with successes, which is the point of a retry budget.

`on_change`, when set, is told the tokens left after every spend and refund (the
`seawall_retry_budget_tokens` gauge, wired by `ProviderPolicy`).
"""

from __future__ import annotations

from collections.abc import Callable


class RetryBudget:
    def __init__(self, *, capacity: float = 500, retry_cost: float = 5, timeout_cost: float = 10,
                 success_refund: float = 1) -> None:
        self.capacity = capacity
        self.tokens = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self.success_refund = success_refund
        self.on_change: Callable[[float], None] | None = None

    def try_spend(self, *, after_timeout: bool = False) -> bool:
        cost = self.timeout_cost if after_timeout else self.retry_cost
        if self.tokens < cost:
            return False
        self.tokens -= cost
        if self.on_change is not None:
            self.on_change(self.tokens)
        return True

    def refund(self) -> None:
        self.tokens = min(self.capacity, self.tokens + self.success_refund)
        if self.on_change is not None:
            self.on_change(self.tokens)
