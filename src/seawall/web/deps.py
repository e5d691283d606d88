"""FastAPI dependencies as `Annotated` aliases: one per thing a route needs, never the whole runtime.

The process-wide objects (settings, database, clock, server secret, read cache, lifecycle) are
`ServiceSlot`s filled by the app factory (`seawall.app`); each domain keeps the slots of its own
objects in its `deps.py` (`accounts.deps`, `payments.deps`, `webhooks.deps`).

- `SessionDep`: the request's transaction, committed after the route returns and before the
  response is sent; `ReadSessionDep`: a read-only one on the primary for GET routes that must read the
  latest state (operator routes); a signed-in user's reads that may be stale use
  `accounts.reads.UserReadSessionDep` instead (routed to a read replica, `seawall.replicas`).
- `READ_ROUTER`: where those user reads go (`replicas.ReadRouter`).
- `AdminDep`: operator routes (`seawall.operator_keys`): 404 while no operator key is configured,
  401 for a missing or unknown key, 403 for a `read` key on a route that is not GET. Every call
  that presents a key is audited with its outcome (`audit.record_apart`): action
  `operator.<route name>`, or `operator.key_refused` for an unknown key. `OperatorDep` is the same
  dependency for a route that wants the calling key (its name and scope).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from seawall import audit
from seawall.cache import ReadCache
from seawall.config import Settings, reveal
from seawall.db import Database
from seawall.errors import ForbiddenError, NotFoundError, SeawallError, UnauthorizedError
from seawall.kit.clock import Clock
from seawall.kit.pagination import InvalidCursorError
from seawall.operator_keys import OperatorKey, key_ring
from seawall.replicas import ReadRouter
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
READ_ROUTER: ServiceSlot[ReadRouter] = ServiceSlot("read_router")

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


def _outcome(exc: BaseException) -> str:
    """The error type an exception is answered with (the audit row's outcome)."""
    if isinstance(exc, SeawallError):
        return exc.error_type
    if isinstance(exc, RequestValidationError):
        return "validation_error"
    if isinstance(exc, StarletteHTTPException):
        return f"http_{exc.status_code}"
    if isinstance(exc, InvalidCursorError):  # answered 400 bad_request (web.errors)
        return "bad_request"
    return "internal_error"


async def require_operator(request: Request, settings: SettingsDep, credentials: BearerDep,
                           database: DatabaseDep, clock: ClockDep) -> AsyncIterator[OperatorKey]:
    """Operator routes: `Authorization: Bearer <operator key>` (see `seawall.operator_keys`).

    404 while no key is configured; 401 (audited as `operator.key_refused`) for a missing or unknown
    key; 403 for a `read` key on a route that is not GET. Audits every call made with a known key,
    after its outcome is known and before the answer is sent.
    """
    ring = key_ring(reveal(settings.operator_keys), reveal(settings.admin_api_key))
    if not ring.keys:
        raise NotFoundError("admin API is disabled (neither SEAWALL_OPERATOR_KEYS nor SEAWALL_ADMIN_API_KEY is set)")
    route = request.scope.get("route")
    template = route.path if isinstance(route, APIRoute) else request.url.path
    route_text = f"{request.method} {template}"
    key = ring.find(credentials.credentials) if credentials is not None else None
    if key is None:
        if credentials is not None:  # a missing header is not worth a row; a wrong key is
            await audit.record_apart(database, audit.AuditEntry(
                action="operator.key_refused", outcome=UnauthorizedError.error_type, actor_type="operator",
                route=route_text), clock=clock)
        raise UnauthorizedError("a valid operator API key is required")
    entry = audit.AuditEntry(
        action=f"operator.{route.name if isinstance(route, APIRoute) else 'request'}", actor_type="operator",
        actor=key.name, scope=key.scope.value, route=route_text, details=dict(request.path_params))
    if not key.scope.allows(request.method):
        await audit.record_apart(database, replace(entry, outcome=ForbiddenError.error_type), clock=clock)
        needed = "read or operate" if request.method in ("GET", "HEAD") else "operate"
        raise ForbiddenError(f"the operator key {key.name!r} has scope {key.scope.value}; this route needs {needed}")
    try:
        yield key
    except Exception as exc:
        await audit.record_apart(database, replace(entry, outcome=_outcome(exc)), clock=clock)
        raise
    await audit.record_apart(database, entry, clock=clock)


OperatorDep = Annotated[OperatorKey, Depends(require_operator, scope="function")]
AdminDep = Depends(require_operator, scope="function")
