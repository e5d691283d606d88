"""FastAPI dependencies as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.errors import NotFoundError, UnauthorizedError
from seawall.kit.tokens import constant_time_equals
from seawall.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """Async, so FastAPI calls it on the event loop rather than in its thread pool."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def transaction(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """The request's transaction: commits after the route returns and before the response is sent."""
    async with runtime.database.transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(transaction, scope="function")]


async def read_transaction(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A read-only transaction for GET routes (on SQLite it never waits for the writer)."""
    async with runtime.database.read_transaction() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(read_transaction, scope="function")]

bearer_scheme = HTTPBearer(auto_error=False)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def require_admin(runtime: RuntimeDep, credentials: BearerDep) -> None:
    """Operator routes: `Authorization: Bearer <SEAWALL_ADMIN_API_KEY>`; absent when no key is set."""
    configured = runtime.settings.admin_api_key
    if configured is None:
        raise NotFoundError("admin API is disabled (SEAWALL_ADMIN_API_KEY is not set)")
    given = credentials.credentials if credentials is not None else ""
    if not constant_time_equals(given, configured.get_secret_value()):
        raise UnauthorizedError("a valid operator API key is required")


AdminDep = Depends(require_admin)
