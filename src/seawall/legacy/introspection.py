"""The legacy session accepted during the move: a request to a Seawall route with no bearer token but
the legacy app's session cookie is introspected at the upstream (RFC 7662 shape), cached briefly, and
served as the Seawall user with the session's email.

Contract (`LegacySessions.principal(cookie_value)`, the `accounts.deps.LegacySessionResolver` that
`accounts.auth` calls):
- The call: `POST <upstream><SEAWALL_LEGACY_SESSION_INTROSPECTION_PATH>`, form body `token=<cookie
  value>` (RFC 7662 §2.1), through the legacy proxy's client and resilience policy (the same breaker
  and bulkhead as forwarded traffic), connect/read timeouts `SEAWALL_LEGACY_CONNECT_TIMEOUT_SECONDS` /
  `SEAWALL_LEGACY_READ_TIMEOUT_SECONDS`. The answer must be 200 with a JSON object (RFC 7662 §2.2):
  `active` (bool, required); when active, `email` (string, required) and `exp` (unix seconds,
  optional: a session past it is inactive).
- Active, and a Seawall user has exactly that email: a `LegacySessionPrincipal` of that user.
  Inactive, expired, or no such user: `InvalidSessionError` (401, as any bad credential).
- Cached in this process, keyed by the SHA-256 of the cookie (never the value), at most
  `MAX_ENTRIES`: an active answer for `SEAWALL_LEGACY_SESSION_CACHE_SECONDS` (never past its `exp`),
  a refusal for at most `REFUSAL_CACHE_SECONDS`; 0 turns the cache off. A session ended at the legacy
  app is therefore still accepted here for up to the cache time. Concurrent lookups of one cookie
  share one call.
- Errors are never cached: breaker open / bulkhead full → the policy's `CallRejectedError` (503
  `circuit_open` / `bulkhead_full`); connection error, timeout, a non-200 answer or a malformed one →
  `ServiceUnavailableError` (503 `unavailable`). Never 401 for those: the session may be fine. 5xx,
  connection errors and timeouts count as failures for the breaker; a 4xx does not (the upstream
  answered).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from cachetools import TLRUCache

from seawall.accounts import service
from seawall.accounts.errors import InvalidSessionError
from seawall.accounts.session_cache import LegacySessionPrincipal, PrincipalSession
from seawall.config import Settings
from seawall.db import Database
from seawall.errors import ServiceUnavailableError
from seawall.kit.clock import Clock
from seawall.kit.tokens import token_digest
from seawall.observability.label_cache import Children
from seawall.observability.metrics import METRICS
from seawall.resilience.policy import CallOutcome

if TYPE_CHECKING:
    from seawall.legacy.proxy import LegacyProxy

_LOOKUPS = Children(lambda: METRICS.cache_requests)  # (cache, result)
MAX_ENTRIES = 10_000
REFUSAL_CACHE_SECONDS = 5.0  # inactive / unknown answers: briefly, so a new log-in is seen soon
LEGACY_SESSION_ID = "legacy"  # the `auth_session.id` of a legacy-session principal (no Seawall row)


class IntrospectionFailed(Exception):  # noqa: N818 - an upstream answer we cannot use
    def __init__(self, message: str, *, counts_as_failure: bool) -> None:
        super().__init__(message)
        self.counts_as_failure = counts_as_failure


def _classify(exc: BaseException) -> CallOutcome:
    if isinstance(exc, IntrospectionFailed) and not exc.counts_as_failure:
        return CallOutcome.SUCCESS
    return CallOutcome.FAILURE


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: LegacySessionPrincipal | None  # None: refused (inactive, expired, unknown email)
    fresh_until: float  # on the cache's monotonic timer


def _fresh_until(_key: str, entry: _Entry, _now: float) -> float:
    return entry.fresh_until


@dataclass(frozen=True)
class Introspection:
    """An RFC 7662 answer, reduced to what Seawall uses."""

    active: bool
    email: str | None = None
    exp: float | None = None

    @classmethod
    def parse(cls, document: Any) -> Introspection:
        """`ValueError` for anything but an object with a boolean `active` (and, when active, a string
        `email` and an optional numeric `exp`)."""
        if not isinstance(document, dict) or not isinstance(document.get("active"), bool):
            raise ValueError("not an object with a boolean `active`")
        if not document["active"]:
            return cls(active=False)
        email, exp = document.get("email"), document.get("exp")
        if not isinstance(email, str) or not email:
            raise ValueError("an active answer without a string `email`")
        if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float)):
            raise ValueError("`exp` is not a number")
        return cls(active=True, email=email, exp=None if exp is None else float(exp))


class LegacySessions:
    """The legacy session cookie's name (`cookie_name`) and its cached introspection."""

    def __init__(self, *, cookie_name: str, url: str, proxy: LegacyProxy, database: Database, clock: Clock,
                 cache_seconds: float, timeout: httpx.Timeout, timer: Callable[[], float] = time.monotonic) -> None:
        self.cookie_name = cookie_name
        self.url = url
        self.proxy = proxy
        self.database = database
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._timer = timer
        self._entries: TLRUCache[str, _Entry] = TLRUCache(maxsize=MAX_ENTRIES, ttu=_fresh_until, timer=timer)
        self._in_flight: dict[str, asyncio.Task[_Entry]] = {}

    @classmethod
    def build(cls, settings: Settings, *, proxy: LegacyProxy, database: Database,
              clock: Clock) -> LegacySessions | None:
        """None unless both `SEAWALL_LEGACY_SESSION_COOKIE` and `..._INTROSPECTION_PATH` are set."""
        if not settings.legacy_session_cookie or not settings.legacy_session_introspection_path:
            return None
        url = proxy.upstream.target(settings.legacy_session_introspection_path.encode("utf-8"), b"")
        timeout = httpx.Timeout(settings.legacy_read_timeout_seconds, connect=settings.legacy_connect_timeout_seconds)
        return cls(cookie_name=settings.legacy_session_cookie, url=url, proxy=proxy, database=database, clock=clock,
                   cache_seconds=settings.legacy_session_cache_seconds, timeout=timeout)

    async def principal(self, cookie_value: str) -> LegacySessionPrincipal:
        """The Seawall user of an active legacy session; `InvalidSessionError` (401) when it is not
        active or names no Seawall user; 503 errors when the upstream cannot say (module docstring)."""
        digest = token_digest(cookie_value)
        entry = None
        if self.cache_seconds > 0:
            entry = self._entries.get(digest)
            _LOOKUPS("legacy_session", "miss" if entry is None else "hit").inc()
        if entry is None:
            task = self._in_flight.get(digest)
            if task is None:
                task = asyncio.ensure_future(self._look_up(digest, cookie_value))
                self._in_flight[digest] = task
                task.add_done_callback(lambda done: self._lookup_done(digest, done))
            entry = await asyncio.shield(task)
        if entry.principal is None or entry.principal.auth_session.expires_at <= self.clock.now():
            raise InvalidSessionError("the legacy session is not active, or names no Seawall user")
        return entry.principal

    def _lookup_done(self, digest: str, task: asyncio.Task[_Entry]) -> None:
        self._in_flight.pop(digest, None)
        if not task.cancelled():
            task.exception()  # retrieved: a lookup whose waiters all left logs nothing

    async def _look_up(self, digest: str, cookie_value: str) -> _Entry:
        started = self._timer()
        answer = await self._introspect(cookie_value)
        now = self.clock.now()
        principal: LegacySessionPrincipal | None = None
        keep = min(self.cache_seconds, REFUSAL_CACHE_SECONDS)
        if answer.active and answer.email is not None and (answer.exp is None or answer.exp > now.timestamp()):
            user = await service.find_principal_user(self.database, email=answer.email)
            if user is not None:
                expires_at = (datetime.fromtimestamp(answer.exp, UTC) if answer.exp is not None
                              else now + timedelta(seconds=self.cache_seconds))
                principal = LegacySessionPrincipal(
                    user=user, auth_session=PrincipalSession(id=LEGACY_SESSION_ID, user_id=user.id, token_digest=digest,
                                                             expires_at=expires_at))
                keep = min(self.cache_seconds, (expires_at - now).total_seconds())
        entry = _Entry(principal=principal, fresh_until=started + keep)
        if self.cache_seconds > 0 and keep > 0:
            self._entries[digest] = entry
        return entry

    async def _introspect(self, cookie_value: str) -> Introspection:
        async def send() -> Introspection:
            try:
                response = await self.proxy.client.post(self.url, data={"token": cookie_value},
                                                        headers={"accept": "application/json"}, timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise IntrospectionFailed(f"{type(exc).__name__}", counts_as_failure=True) from exc
            if response.status_code != 200:
                raise IntrospectionFailed(f"answered {response.status_code}",
                                          counts_as_failure=response.status_code >= 500)
            try:
                return Introspection.parse(response.json())
            except ValueError as exc:
                raise IntrospectionFailed(f"answered malformed JSON ({exc})", counts_as_failure=False) from exc

        try:
            return await self.proxy.policy.call(send, classify=_classify, action="introspect")
        except (IntrospectionFailed, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            raise ServiceUnavailableError(f"the legacy session could not be checked: the upstream {reason}") from exc

    async def aclose(self) -> None:
        """Cancel the lookups in flight (bounded: they are awaited once cancelled)."""
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
