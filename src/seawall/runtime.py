"""The objects one process role shares: settings, database, clock, the server secret, the routing of
user reads to a read replica (`reads`; inert without one), and (server mode) the Redis link behind the
read cache, the rate limits, the shared breaker state and the read-your-writes marks.

This is the composition root: it may import everything, and nothing under `web/`, `jobs/`, `kit/`,
`admin/` or a domain imports it. Routes get its objects through typed slots (`app.provide_services`);
job handlers get it as `ctx.runtime`, each seeing it through its domain's Protocol, which mypy checks
`Runtime` satisfies (`_gives_every_handler_what_it_declares` below).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from seawall.accounts.passwords import Passwords
from seawall.accounts.session_cache import SessionCache
from seawall.accounts.session_cache import register as register_session_cache
from seawall.cache import ReadCache, build_read_cache
from seawall.cache import register as register_cache
from seawall.config import SettingError, Settings, usable_var_dir
from seawall.db import Database
from seawall.kit.clock import Clock, SystemClock
from seawall.legacy.services import LegacyServices
from seawall.notifications.channels import Channel, build_channels
from seawall.observability.logging import client_hash_key, configure_logging
from seawall.payments.gateway import PaymentGateway, build_gateway
from seawall.ratelimit import RateLimits
from seawall.redis_link import RedisLink
from seawall.replicas import ReadRouter
from seawall.resilience import ProviderPolicy, SharedBreakerState
from seawall.webhooks.client import WebhookClient
from seawall.webhooks.client import build_client as build_webhook_client

if TYPE_CHECKING:
    from seawall.accounts.tasks import AccountsJobRuntime
    from seawall.maintenance.tasks import MaintenanceJobRuntime
    from seawall.notifications.tasks import NotificationsJobRuntime
    from seawall.payments.tasks import PaymentsJobRuntime
    from seawall.webhooks.tasks import WebhooksJobRuntime


@dataclass
class Runtime:
    settings: Settings
    database: Database
    secret_key: bytes
    passwords: Passwords
    payments: PaymentGateway
    webhooks: WebhookClient
    channels: dict[str, Channel]
    cache: ReadCache
    rate_limits: RateLimits
    reads: ReadRouter  # where user reads that may be stale go (`seawall.replicas`)
    redis: RedisLink | None = None
    clock: Clock = field(default_factory=SystemClock)
    sessions: SessionCache = field(default_factory=SessionCache.disabled)  # bearer-token lookups
    legacy: LegacyServices | None = None  # the legacy bridge (`seawall.legacy`); None without an upstream
    draining: bool = False

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None, in_process_cache: bool = True) -> Runtime:
        """`in_process_cache=False`: without Redis, do not cache (an API whose workers run elsewhere)."""
        redis = RedisLink.build(settings)
        secret_key = load_secret_key(settings)
        database = Database(settings)
        cache = build_read_cache(settings, redis, in_process=in_process_cache)
        register_cache(database.engine.sync_engine, cache)
        sessions = SessionCache(ttl_seconds=settings.session_cache_seconds,
                                max_entries=settings.session_cache_max_entries)
        register_session_cache(database.engine.sync_engine, sessions)
        runtime = cls(
            settings=settings,
            database=database,
            secret_key=secret_key,
            passwords=Passwords(settings),
            payments=build_gateway(settings),
            webhooks=build_webhook_client(settings.webhooks),
            channels=build_channels(settings),
            cache=cache,
            rate_limits=RateLimits.build(settings, link=redis, secret=secret_key),
            reads=ReadRouter.build(settings, database, link=redis),
            redis=redis,
            clock=clock or SystemClock(),
            sessions=sessions,
        )
        runtime.legacy = LegacyServices.build(settings, database=database, redis=redis, clock=runtime.clock,
                                              session_cache=sessions)
        if redis is not None:
            shared = SharedBreakerState(redis)
            for policy in runtime.provider_policies():
                policy.shared = shared
        return runtime

    def provider_policies(self) -> list[ProviderPolicy]:
        policies = [route.policy for route in self.payments.routes.values()]
        for channel in self.channels.values():
            policy = getattr(channel, "policy", None)
            if isinstance(policy, ProviderPolicy):
                policies.append(policy)
        return policies

    async def aclose(self) -> None:
        if self.legacy is not None:
            await self.legacy.aclose()
        await self.payments.aclose()
        await self.webhooks.aclose()
        for channel in self.channels.values():
            await channel.aclose()
        await self.rate_limits.aclose()
        await self.reads.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        self.passwords.close()
        await self.database.dispose()


if TYPE_CHECKING:
    def _gives_every_handler_what_it_declares(
        runtime: Runtime,
    ) -> tuple[PaymentsJobRuntime, WebhooksJobRuntime, NotificationsJobRuntime, AccountsJobRuntime,
               MaintenanceJobRuntime]:
        """Never called: mypy checks here that `Runtime` satisfies each domain's job Protocol."""
        return runtime, runtime, runtime, runtime, runtime


def configure_logging_for(settings: Settings) -> None:
    """Logging as the `SEAWALL_LOG_*` settings say (`observability.logging`); hashed client addresses
    are keyed by the server's secret key (`load_secret_key`), so every process hashes alike."""
    key = client_hash_key(load_secret_key(settings)) if settings.log_client == "hashed" else b""
    configure_logging(level=settings.log_level, log_format=settings.resolved_log_format,
                      client_addresses=settings.log_client, client_key=key)


def load_secret_key(settings: Settings) -> bytes:
    """`SEAWALL_SECRET_KEY`, or in embedded mode a random key kept in `<var_dir>/secret.key`.

    Server mode needs the variable: every process must share one key.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    if not settings.is_embedded_database:
        raise SettingError("SEAWALL_SECRET_KEY", "must be set when SEAWALL_DATABASE_URL is set: every process "
                           "must sign with the same key (e.g. the output of `openssl rand -base64 48`)")
    path = usable_var_dir(settings) / "secret.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode("utf-8")
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
        handle.flush()
        os.fsync(handle.fileno())
    return path.read_text().strip().encode("utf-8")
