"""The accounts objects routes need, as `Annotated` dependencies filled by the app factory.

- `PasswordsDep`: the process's password hasher (`Passwords`);
- `SessionCacheDep`: the process's bearer-token lookup cache (`SessionCache`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from seawall.accounts.passwords import Passwords
from seawall.accounts.session_cache import SessionCache
from seawall.web.services import ServiceSlot

PASSWORDS: ServiceSlot[Passwords] = ServiceSlot("passwords")
SESSION_CACHE: ServiceSlot[SessionCache] = ServiceSlot("session_cache")

PasswordsDep = Annotated[Passwords, Depends(PASSWORDS)]
SessionCacheDep = Annotated[SessionCache, Depends(SESSION_CACHE)]
