"""The one Redis connection of a process role (server mode), and `redis_health` for `seawall doctor`.

Contract:
- `RedisLink.build(settings)` makes one `redis.asyncio.Redis` from `settings.redis_url`, with short
  socket timeouts (`redis_socket_timeout_seconds`) and a single immediate retry (a pooled connection
  that died with a Redis restart is replaced once; nothing waits on backoff).
- Every key goes through `RedisLink.key(...)`, which applies `settings.redis_key_prefix`; libraries
  that name their own keys (the `limits` storage) get `link.prefix + <area>` as their key prefix.
- `RedisLink.run(operation)` is how callers talk to Redis: a connection error or timeout marks
  Redis *down* for `DOWN_MEMO_SECONDS` and raises `RedisUnavailableError`; while down, `run` raises
  at once without touching the network, so no request waits a timeout more than once per memo
  period. Callers degrade (see `seawall.ratelimit`, `seawall.cache`, `seawall.resilience.shared`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from seawall.config import Settings, reveal
from seawall.kit.urls import redacted_url

log = structlog.get_logger("seawall.redis")

T = TypeVar("T")

DOWN_MEMO_SECONDS = 1.0  # after a failure, Redis counts as down this long (no request waits meanwhile)


class RedisUnavailableError(Exception):
    """Redis did not answer (or was recently found down); the caller degrades."""


def build_client(settings: Settings) -> Redis:
    url = reveal(settings.redis_url)
    assert url is not None
    timeout = settings.redis_socket_timeout_seconds
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        decode_responses=False,
    )


class RedisLink:
    """One shared client + key prefix + the "Redis is down" memo."""

    def __init__(self, client: Redis, *, prefix: str, down_memo_seconds: float = DOWN_MEMO_SECONDS) -> None:
        self.client = client
        self.prefix = prefix
        self.down_memo_seconds = down_memo_seconds
        self._down_until = 0.0

    @classmethod
    def build(cls, settings: Settings) -> RedisLink | None:
        if not settings.redis_url:
            return None
        return cls(build_client(settings), prefix=settings.redis_key_prefix)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def is_down(self) -> bool:
        return time.monotonic() < self._down_until

    def seconds_until_retry(self) -> float:
        return max(0.0, self._down_until - time.monotonic())

    def mark_down(self, error: BaseException) -> None:
        if not self.is_down:
            log.warning("redis.unavailable", error=type(error).__name__, detail=str(error)[:200],
                        retry_in_seconds=self.down_memo_seconds)
        self._down_until = time.monotonic() + self.down_memo_seconds

    async def run(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation; `RedisUnavailableError` when Redis is (recently found) down."""
        if self.is_down:
            raise RedisUnavailableError("redis is down (memo)")
        try:
            return await operation()
        except (RedisError, OSError, TimeoutError) as exc:
            self.mark_down(exc)
            raise RedisUnavailableError(f"redis: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()


async def redis_health(settings: Settings) -> dict[str, object]:
    """What `seawall doctor` reports about Redis: configured?, reachable?, version, round trip."""
    if not settings.redis_url:
        return {"configured": False, "ok": True, "detail": "SEAWALL_REDIS_URL is not set: cache, rate limits "
                                                            "and breaker state are kept in process"}
    client = build_client(settings)
    report: dict[str, object] = {"configured": True, "url": redacted_url(reveal(settings.redis_url) or ""),
                                 "key_prefix": settings.redis_key_prefix}
    try:
        started = time.perf_counter()
        await client.ping()
        report["round_trip_ms"] = round((time.perf_counter() - started) * 1000, 2)
        info = await client.info("server")
        report["version"] = info.get("redis_version")
        report["ok"] = True
    except (RedisError, OSError, TimeoutError) as exc:
        report["ok"] = False
        report["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return report
