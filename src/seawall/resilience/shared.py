"""Circuit-breaker openings shared across processes through Redis (server mode).

Each process keeps its own sliding window of outcomes (simplest, and a window of its own calls is
what each process can judge). What is shared is the decision to stop calling a provider:
- when a process's breaker opens (from CLOSED or from a failed HALF_OPEN trial), it writes
  `<prefix>breaker:<provider>` = `{"opened_at": ISO-8601}` with a TTL of the open wait;
- before each call, a process reads that key (one GET; a provider call costs far more) and, if
  the opening is newer than its own, opens its
  breaker until the same instant (`CircuitBreaker.adopt_open`); all processes then turn
  HALF_OPEN together and probe;
- a process whose trial calls close its breaker deletes the key.
So an opening reaches every process before its next call. With Redis down every operation here is
skipped (the memo in `seawall.redis_link` keeps that from costing a timeout per call) and breakers are per
process, as without Redis.
"""

from __future__ import annotations

import json
from datetime import datetime

import structlog

from seawall.redis_link import RedisLink, RedisUnavailableError
from seawall.resilience.breaker import BreakerState, CircuitBreaker

log = structlog.get_logger("seawall.resilience")

class SharedBreakerState:
    def __init__(self, link: RedisLink) -> None:
        self.link = link

    def _key(self, breaker: CircuitBreaker) -> str:
        return self.link.key("breaker", breaker.name)

    async def pull(self, breaker: CircuitBreaker) -> None:
        """Open `breaker` if another process has opened it."""
        try:
            raw = await self.link.run(lambda: self.link.client.get(self._key(breaker)))
        except RedisUnavailableError:
            return
        if raw is None:
            return
        try:
            opened_at = datetime.fromisoformat(json.loads(raw)["opened_at"])
        except (ValueError, KeyError, TypeError):
            return
        if breaker.adopt_open(opened_at):
            log.warning("breaker.opened_by_peer", provider=breaker.name, opened_at=opened_at.isoformat())

    async def push(self, breaker: CircuitBreaker) -> None:
        """Publish this process's transition (the caller saw the state change): an opening (SET
        with TTL) or a closing (DEL)."""
        after = breaker.state
        key = self._key(breaker)
        try:
            if after == BreakerState.OPEN and breaker.opened_at is not None:
                ttl_ms = max(1, int(breaker.seconds_until_half_open() * 1000))
                payload = json.dumps({"opened_at": breaker.opened_at.isoformat()})
                await self.link.run(lambda: self.link.client.set(key, payload, px=ttl_ms))
            elif after == BreakerState.CLOSED:
                await self.link.run(lambda: self.link.client.delete(key))
        except RedisUnavailableError:
            return
