"""The streaming reverse proxy to the legacy upstream. STUB (issue 16, bridge helper)."""

from __future__ import annotations

import httpx

from seawall.config import Settings
from seawall.legacy.upstream import Upstream, parse_upstream
from seawall.redis_link import RedisLink
from seawall.resilience import ProviderPolicy, SharedBreakerState
from seawall.resilience.policy import policy_from_settings


class LegacyProxy:
    """`upstream` (the fixed target), `client` (httpx, pooled, never follows redirects), `policy`
    (timeouts, breaker, bulkhead: `policy_from_settings("legacy", ...)`)."""

    def __init__(self, upstream: Upstream, client: httpx.AsyncClient, policy: ProviderPolicy) -> None:
        self.upstream = upstream
        self.client = client
        self.policy = policy

    @classmethod
    def build(cls, settings: Settings, *, redis: RedisLink | None) -> LegacyProxy:
        assert settings.legacy_upstream is not None
        policy = policy_from_settings("legacy", settings, total_timeout_seconds=settings.legacy_total_timeout_seconds)
        if redis is not None:
            policy.shared = SharedBreakerState(redis)
        client = httpx.AsyncClient(follow_redirects=False)  # STUB: timeouts, limits
        return cls(parse_upstream(settings.legacy_upstream), client, policy)

    async def aclose(self) -> None:
        await self.client.aclose()
