"""FastAPI dependencies as `Annotated` aliases: one per thing a route needs, never the whole runtime.

The process-wide objects (settings, database, clock, server secret, read cache, lifecycle) are
`ServiceSlot`s filled by the app factory (`seawall.app`); each domain keeps the slots of its own
objects in its `deps.py` (`accounts.deps`, `payments.deps`, `webhooks.deps`).

- `SessionDep`: the request's transaction, committed after the route returns and before the
  response is sent; `ReadSessionDep`: a read-only one for GET routes.
- `AdminDep`: operator routes; 404 when `SEAWALL_ADMIN_API_KEY` is unset, 401 for a wrong key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Protocol

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.cache import ReadCache
from seawall.config import Settings
from seawall.db import Database
from seawall.errors import NotFoundError, UnauthorizedError
from seawall.kit.clock import Clock
from seawall.kit.tokens import constant_time_equals
from seawall.web.services import ServiceSlot


class Lifecycle(Protocol):
    """Whether this process is shutting down (read live: it turns true during shutdown)."""

    @property
    def draining(self) -> bool: ...


SETTINGS: ServiceSlot[Settings] = ServiceSlot("settings")
DATABASE: ServiceSlot[Database] = ServiceSlot("database")
CLOCK: ServiceSlot[Clock] = ServiceSlot("clock")
SECRET_KEY: ServiceSlot[bytes] = ServiceSlot("secret_key")  # the server secret (fingerprints, tokens)
READ_CACHE: ServiceSlot[ReadCache] = ServiceSlot("read_cache")
LIFECYCLE: ServiceSlot[Lifecycle] = ServiceSlot("lifecycle")

SettingsDep = Annotated[Settings, Depends(SETTINGS)]
DatabaseDep = Annotated[Database, Depends(DATABASE)]
ClockDep = Annotated[Clock, Depends(CLOCK)]
SecretKeyDep = Annotated[bytes, Depends(SECRET_KEY)]
ReadCacheDep = Annotated[ReadCache, Depends(READ_CACHE)]
LifecycleDep = Annotated[Lifecycle, Depends(LIFECYCLE)]


async def transaction(database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """The request's transaction: commits after the route returns and before the response is sent."""
    async with database.transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(transaction, scope="function")]


async def read_transaction(database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """A read-only transaction for GET routes (on SQLite it never waits for the writer)."""
    async with database.read_transaction() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(read_transaction, scope="function")]

bearer_scheme = HTTPBearer(auto_error=False)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def require_admin(settings: SettingsDep, credentials: BearerDep) -> None:
    """Operator routes: `Authorization: Bearer <SEAWALL_ADMIN_API_KEY>`; absent when no key is set."""
    configured = settings.admin_api_key
    if configured is None:
        raise NotFoundError("admin API is disabled (SEAWALL_ADMIN_API_KEY is not set)")
    given = credentials.credentials if credentials is not None else ""
    if not constant_time_equals(given, configured.get_secret_value()):
        raise UnauthorizedError("a valid operator API key is required")


AdminDep = Depends(require_admin)
