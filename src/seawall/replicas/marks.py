"""Read-your-writes marks: which signed-in users wrote within the window, so their reads go to the primary.

Contract:
- `WriteMarks.mark(user_id)` records that the user's request wrote; it completes before that request's
  answer is sent (`replicas.middleware`), so the user's next request, wherever it lands, sees the mark.
  `look_up(user_id)` is `marked` for `SEAWALL_DATABASE_REPLICA_READ_YOUR_WRITES_SECONDS` after it, else
  `unmarked`, or `unavailable` when Redis had to be asked and could not be.
- With `SEAWALL_REDIS_URL`, a mark is a Redis key `<redis_key_prefix>ryw:<user id>` set with `PX` = the
  window: every API process sees it, and Redis forgets it. Each process also keeps its own marks, so
  its own users' reads stay right while Redis is down; and a look-up that cannot ask Redis is
  `unavailable`, which the router treats as a mark (the read goes to the primary, counted as
  `marks_unavailable`: a Redis outage costs replica offload, never a stale read of one's own write).
- Without Redis, marks are kept in this process only (an API process says so at start-up:
  `ReadRouter.log_start`): behind a load balancer, a user's next request may land on another process that
  did not see the write.
"""

from __future__ import annotations

import time
from typing import Literal

from seawall.redis_link import RedisLink, RedisUnavailableError

MarkLookup = Literal["marked", "unmarked", "unavailable"]
MAX_LOCAL_MARKS = 100_000  # past this, expired marks are swept (the live ones are what matters)


class WriteMarks:
    """Marks in this process, and in Redis when a link is given."""

    def __init__(self, *, window_seconds: float, link: RedisLink | None) -> None:
        self.window_seconds = window_seconds
        self.link = link
        self._until: dict[str, float] = {}  # user id -> time.monotonic() the mark ends

    async def mark(self, user_id: str) -> None:
        now = time.monotonic()
        if len(self._until) >= MAX_LOCAL_MARKS:
            self._until = {user: until for user, until in self._until.items() if until > now}
        self._until[user_id] = now + self.window_seconds
        link = self.link
        if link is None:
            return
        key, window_ms = link.key("ryw", user_id), max(1, int(self.window_seconds * 1000))
        try:
            await link.run(lambda: link.client.set(key, b"1", px=window_ms))
        except RedisUnavailableError:
            pass  # logged by the link; this process's mark holds meanwhile

    async def look_up(self, user_id: str) -> MarkLookup:
        until = self._until.get(user_id)
        if until is not None:
            if until > time.monotonic():
                return "marked"
            self._until.pop(user_id, None)
        link = self.link
        if link is None:
            return "unmarked"
        key = link.key("ryw", user_id)
        try:
            found = bool(await link.run(lambda: link.client.exists(key)))
        except RedisUnavailableError:
            return "unavailable"  # cannot tell: the router reads from the primary
        return "marked" if found else "unmarked"
