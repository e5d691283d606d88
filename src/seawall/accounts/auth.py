"""Bearer-token authentication for user routes.

`CurrentPrincipal` and `CurrentSession` resolve `Authorization: Bearer <token>` to a frozen
`Principal` snapshot (or its `auth_session`), or raise `InvalidSessionError` (401: unknown, revoked,
expired, or idle longer than `SEAWALL_SESSION_IDLE_MINUTES`). Successful
lookups are served from this process's `SessionCache` for up to `SEAWALL_SESSION_CACHE_SECONDS`
(see `session_cache` for the bound: a revocation in another process takes effect here within that
time; one in this process at once). Failures are never cached. The caller's user id is noted on the
request for read-your-writes (`replicas.middleware.note_writer`; nothing is noted without a replica).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from seawall.accounts import service
from seawall.accounts.deps import LegacySessionsDep, SessionCacheDep, SessionTimingDep
from seawall.accounts.errors import InvalidSessionError, SeawallSessionRequiredError
from seawall.accounts.session_cache import LegacySessionPrincipal, Principal, PrincipalSession
from seawall.kit.tokens import token_digest
from seawall.replicas.middleware import note_writer
from seawall.web.deps import BearerDep, ClockDep, DatabaseDep

__all__ = ["CurrentPrincipal", "CurrentSeawallPrincipal", "CurrentSession", "Principal", "current_principal",
           "current_seawall_principal", "current_session"]


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise InvalidSessionError("a bearer token is required")
    return credentials.credentials


async def current_principal(request: Request, cache: SessionCacheDep, database: DatabaseDep, clock: ClockDep,
                            timing: SessionTimingDep, credentials: BearerDep,
                            legacy: LegacySessionsDep = None) -> Principal:
    """The caller, from the cache or a short read transaction of its own (no lock is held while the
    route runs; an idempotent route opens its own transactions), plus a write when the session's
    last use is due to be recorded (`service.resolve_session`); or, without a bearer token, the
    legacy session's user (module docstring)."""
    if credentials is None and legacy is not None:
        cookie = request.cookies.get(legacy.cookie_name)
        if cookie:
            legacy_principal = await legacy.principal(cookie)
            note_writer(request.scope, legacy_principal.user.id)
            return legacy_principal
    token = _bearer_token(credentials)
    digest = token_digest(token)
    principal = cache.get(digest, now=clock.now())
    if principal is None:
        lookup = cache.begin_lookup()
        principal = await service.resolve_session(database, clock=clock, timing=timing, token=token)
        cache.put(digest, principal, lookup=lookup)
    note_writer(request.scope, principal.user.id)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def current_seawall_principal(principal: CurrentPrincipal) -> Principal:
    """The caller, who must hold a Seawall session (bearer token): 403 `seawall_session_required` for a
    legacy-session caller (a route that revokes or keeps the Seawall session has none to act on)."""
    if isinstance(principal, LegacySessionPrincipal):
        raise SeawallSessionRequiredError("this route acts on a Seawall session: log in (POST /v1/sessions) and send "
                                          "its bearer token; the legacy session cookie is not enough here")
    return principal


CurrentSeawallPrincipal = Annotated[Principal, Depends(current_seawall_principal)]


async def current_session(request: Request, cache: SessionCacheDep, database: DatabaseDep, clock: ClockDep,
                          timing: SessionTimingDep, credentials: BearerDep,
                          legacy: LegacySessionsDep = None) -> PrincipalSession:
    """The caller's session only: for routes that read through the read cache by `user_id`."""
    return (await current_principal(request, cache, database, clock, timing, credentials, legacy)).auth_session


CurrentSession = Annotated[PrincipalSession, Depends(current_session)]
