"""The accounts objects routes need, as `Annotated` dependencies filled by the app factory.

- `PasswordsDep`: the process's password hasher (`Passwords`);
- `SessionCacheDep`: the process's bearer-token lookup cache (`SessionCache`);
- `SessionTimingDep`: the sessions' absolute and idle timeouts (`SessionTiming`), from the settings.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends

from seawall.accounts.passwords import Passwords
from seawall.accounts.service import SessionTiming
from seawall.accounts.session_cache import SessionCache
from seawall.web.deps import SettingsDep
from seawall.web.services import ServiceSlot

PASSWORDS: ServiceSlot[Passwords] = ServiceSlot("passwords")
SESSION_CACHE: ServiceSlot[SessionCache] = ServiceSlot("session_cache")

PasswordsDep = Annotated[Passwords, Depends(PASSWORDS)]
SessionCacheDep = Annotated[SessionCache, Depends(SESSION_CACHE)]


async def session_timing(settings: SettingsDep) -> SessionTiming:
    return SessionTiming(ttl=timedelta(hours=settings.session_ttl_hours),
                         idle=timedelta(minutes=settings.session_idle_minutes))


SessionTimingDep = Annotated[SessionTiming, Depends(session_timing)]
