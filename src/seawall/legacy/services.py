"""The legacy bridge's objects one process holds (`Runtime.legacy`; None without an upstream)."""

from __future__ import annotations

from dataclasses import dataclass

from seawall.accounts.session_cache import SessionCache
from seawall.config import Settings
from seawall.db import Database
from seawall.kit.clock import Clock
from seawall.legacy.identity import ForwardedIdentity
from seawall.legacy.introspection import LegacySessions
from seawall.legacy.proxy import LegacyProxy
from seawall.legacy.routes import RouteTableHolder
from seawall.legacy.shadow import ShadowRunner
from seawall.redis_link import RedisLink


@dataclass
class LegacyServices:
    routes: RouteTableHolder  # the table in use, and its reload
    proxy: LegacyProxy  # the upstream: client, pool, resilience policy
    shadow: ShadowRunner  # shadow calls and their recording
    identity: ForwardedIdentity | None  # the signed Seawall-User header; None without SEAWALL_LEGACY_AUTH_KEYS
    sessions: LegacySessions | None  # legacy session introspection; None unless cookie and path are set

    @classmethod
    def build(cls, settings: Settings, *, database: Database, redis: RedisLink | None, clock: Clock,
              session_cache: SessionCache) -> LegacyServices | None:
        if settings.legacy_upstream is None:
            return None
        proxy = LegacyProxy.build(settings, redis=redis)
        return cls(
            routes=RouteTableHolder.build(settings),
            proxy=proxy,
            shadow=ShadowRunner.build(settings, database=database, clock=clock),
            identity=ForwardedIdentity.build(settings, database=database, clock=clock, session_cache=session_cache),
            sessions=LegacySessions.build(settings, proxy=proxy, database=database, clock=clock),
        )

    async def aclose(self) -> None:
        await self.shadow.aclose()
        if self.sessions is not None:
            await self.sessions.aclose()
        await self.proxy.aclose()
