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

from typing import Annotated

from fastapi import Depends, Request

from seawall.errors import ServiceUnavailableError, TooManyRequestsError
from seawall.ratelimit.limits import RateLimits, client_address
from seawall.ratelimit.middleware import RATE_LIMITS
from seawall.ratelimit.policy import Partition


class UserLimits:
    def __init__(self, limits: RateLimits | None, *, client: str) -> None:
        self._limits = limits if limits is not None and limits.enabled else None
        self._client = client

    async def payments(self, *, user_id: str) -> None:
        """A payment (a charge): `POST /v1/payments`, `POST /v1/me/plan-payments`."""
        if self._limits is not None:
            await self._spend([Partition(self._limits.quotas.payments_user, self._key("user-id", user_id))])

    async def refunds(self, *, user_id: str, payment_id: str) -> None:
        """A refund of one payment: per user, and per (user, payment) — keyed by the caller too, so
        nobody can spend the quota of another user's payment by naming its id."""
        if self._limits is not None:
            quotas = self._limits.quotas
            await self._spend([Partition(quotas.refunds_user, self._key("user-id", user_id)),
                               Partition(quotas.refunds_payment, self._key("payment", f"{user_id}\0{payment_id}"))])

    async def webhook_sends(self, *, user_id: str) -> None:
        """A webhook delivery replayed, or a recovery (each sends deliveries again)."""
        if self._limits is not None:
            await self._spend([Partition(self._limits.quotas.webhook_sends_user, self._key("user-id", user_id))])

    async def password_attempt(self, *, email: str) -> None:
        """A password checked outside login (a password change): the login quotas of this client IP
        and this account's email, so a stolen session cannot guess the password faster than login."""
        if self._limits is not None:
            limits = self._limits
            by_email = limits.email_partition(method="POST", path="/v1/sessions", email=email)
            partitions = [Partition(limits.quotas.login_ip, self._key("ip", self._client))]
            await self._spend(partitions if by_email is None else [*partitions, by_email])

    def _key(self, kind: str, value: str) -> str:
        assert self._limits is not None
        return self._limits.hasher(kind, value)

    async def _spend(self, partitions: list[Partition]) -> None:
        assert self._limits is not None
        verdict = await self._limits.limiter.check(partitions)
        if verdict.unavailable:
            raise ServiceUnavailableError("rate limiting is unavailable; retry shortly")
        if not verdict.allowed:
            raise TooManyRequestsError("too many requests; retry after the given delay",
                                       retry_after=verdict.retry_after,
                                       details={"policy": verdict.violated, "retry_after": verdict.retry_after})


async def user_limits(request: Request) -> UserLimits:
    limits = RATE_LIMITS.find(request.app.state)
    trusted = limits.trusted_proxies if limits is not None else ()
    peer = request.client.host if request.client is not None else None
    return UserLimits(limits, client=client_address(peer, request.headers.get("x-forwarded-for"), trusted))


UserLimitsDep = Annotated[UserLimits, Depends(user_limits)]
