"""Quotas a route spends once it knows its caller: per user id (not per session token, so a user
cannot reset them by logging in again), on the routes that make Seawall send something — charges,
refunds, webhook deliveries sent again — and the login quotas on a password change.

`UserLimitsDep` gives a route a `UserLimits` for its request; each method spends the partitions of
one action and raises `TooManyRequestsError` (429 `rate_limited`, `Retry-After`, details `{policy,
retry_after}`: the middleware's answer) when one is spent, or `ServiceUnavailableError` (503) when
the shared storage cannot be asked and `SEAWALL_RATE_LIMIT_FAIL_OPEN` is false. Every attempt
spends, whatever the route then answers (a refused refund counts like an accepted one). With rate
limiting off, or before the app has started, nothing is spent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from seawall.errors import ServiceUnavailableError, TooManyRequestsError
from seawall.observability.metrics import METRICS
from seawall.ratelimit.limits import RateLimits, client_address
from seawall.ratelimit.middleware import RATE_LIMITS, UNAVAILABLE_POLICY
from seawall.ratelimit.policy import Partition


class UserLimits:
    def __init__(self, limits: RateLimits | None, *, client: str) -> None:
        self._limits = limits if limits is not None and limits.enabled else None
        self._client = client

    async def payments(self, *, user_id: str) -> None:
        """A payment (a charge): `POST /v1/payments`, `POST /v1/me/plan-payments`."""
        await self._spend(lambda limits: [
            Partition(limits.quotas.payments_user, limits.hasher("user-id", user_id))])

    async def refunds(self, *, user_id: str, payment_id: str) -> None:
        """A refund of one payment: per user, and per (user, payment) — keyed by the caller too, so
        nobody can spend the quota of another user's payment by naming its id."""
        await self._spend(lambda limits: [
            Partition(limits.quotas.refunds_user, limits.hasher("user-id", user_id)),
            Partition(limits.quotas.refunds_payment, limits.hasher("payment", f"{user_id}\0{payment_id}"))])

    async def webhook_sends(self, *, user_id: str) -> None:
        """A webhook delivery replayed, or a recovery (each sends deliveries again)."""
        await self._spend(lambda limits: [
            Partition(limits.quotas.webhook_sends_user, limits.hasher("user-id", user_id))])

    async def password_attempt(self, *, email: str) -> None:
        """A password checked outside login (a password change): the login quotas of this client IP
        and of this account's email — the very windows `POST /v1/sessions` spends — so a stolen
        session cannot guess the password faster than a login could."""
        def login_partitions(limits: RateLimits) -> list[Partition]:
            by_ip = Partition(limits.quotas.login_ip, limits.hasher("ip", self._client))
            by_email = limits.email_partition(method="POST", path="/v1/sessions", email=email)
            return [by_ip] if by_email is None else [by_ip, by_email]

        await self._spend(login_partitions)

    async def _spend(self, partitions_of: Callable[[RateLimits], list[Partition]]) -> None:
        if self._limits is None:
            return
        verdict = await self._limits.limiter.check(partitions_of(self._limits))
        if verdict.unavailable:
            METRICS.rate_limit_rejections.labels(policy=UNAVAILABLE_POLICY).inc()
            raise ServiceUnavailableError("rate limiting is unavailable; retry shortly")
        if not verdict.allowed:
            METRICS.rate_limit_rejections.labels(policy=verdict.violated or "unknown").inc()
            raise TooManyRequestsError("too many requests; retry after the given delay",
                                       retry_after=verdict.retry_after,
                                       details={"policy": verdict.violated, "retry_after": verdict.retry_after})


async def user_limits(request: Request) -> UserLimits:
    limits = RATE_LIMITS.find(request.app.state)
    trusted = limits.trusted_proxies if limits is not None else ()
    peer = request.client.host if request.client is not None else None
    return UserLimits(limits, client=client_address(peer, request.headers.get("x-forwarded-for"), trusted))


UserLimitsDep = Annotated[UserLimits, Depends(user_limits)]
