"""The accounts objects routes need, as `Annotated` dependencies filled by the app factory.

- `PasswordsDep`: the process's password hasher (`Passwords`);
- `SessionCacheDep`: the process's bearer-token lookup cache (`SessionCache`);
- `SessionTimingDep`: the sessions' absolute and idle timeouts (`SessionTiming`), from the settings;
- `LegacySessionsDep`: the legacy session accepted during a move (`LegacySessionResolver`), or None.
  Filled by the app factory with `seawall.legacy.introspection.LegacySessions` when the legacy bridge
  is configured for it; accounts never imports `seawall.legacy`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Protocol

from fastapi import Depends, Request

from seawall.accounts.passwords import Passwords
from seawall.accounts.service import SessionTiming
from seawall.accounts.session_cache import LegacySessionPrincipal, SessionCache
from seawall.web.deps import SettingsDep
from seawall.web.services import ServiceSlot

PASSWORDS: ServiceSlot[Passwords] = ServiceSlot("passwords")
SESSION_CACHE: ServiceSlot[SessionCache] = ServiceSlot("session_cache")



class LegacySessionResolver(Protocol):
    """The legacy app's session cookie, accepted on Seawall routes during a move."""

    cookie_name: str  # the cookie that carries the legacy session

    async def principal(self, cookie_value: str) -> LegacySessionPrincipal:
        """The Seawall user of an active legacy session; `InvalidSessionError` (401) when it is not
        active or names no Seawall user; a `ServiceUnavailableError` (503) when it cannot be checked."""
        ...


LEGACY_SESSIONS: ServiceSlot[LegacySessionResolver | None] = ServiceSlot("legacy_sessions")


async def legacy_sessions(request: Request) -> LegacySessionResolver | None:
    """None when the app factory filled no resolver (the slot read with `find`: optional)."""
    return LEGACY_SESSIONS.find(request.app.state)


LegacySessionsDep = Annotated[LegacySessionResolver | None, Depends(legacy_sessions)]
PasswordsDep = Annotated[Passwords, Depends(PASSWORDS)]
SessionCacheDep = Annotated[SessionCache, Depends(SESSION_CACHE)]


async def session_timing(settings: SettingsDep) -> SessionTiming:
    return SessionTiming(ttl=timedelta(hours=settings.session_ttl_hours),
                         idle=timedelta(minutes=settings.session_idle_minutes))


SessionTimingDep = Annotated[SessionTiming, Depends(session_timing)]
