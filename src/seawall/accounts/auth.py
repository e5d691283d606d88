"""Bearer-token authentication for user routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials

from seawall.accounts import service
from seawall.accounts.errors import InvalidSessionError
from seawall.accounts.models import AuthSession, User
from seawall.web.deps import BearerDep, RuntimeDep


@dataclass(frozen=True)
class Principal:
    user: User
    auth_session: AuthSession


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise InvalidSessionError("a bearer token is required")
    return credentials.credentials


async def current_principal(runtime: RuntimeDep, credentials: BearerDep) -> Principal:
    """Authenticate in a short transaction of its own, so no lock is held while the route runs
    (an idempotent route opens its own transactions)."""
    token = _bearer_token(credentials)
    async with runtime.database.read_transaction() as session:
        user, auth_session = await service.authenticate(session, clock=runtime.clock, token=token)
    return Principal(user=user, auth_session=auth_session)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def current_session(runtime: RuntimeDep, credentials: BearerDep) -> AuthSession:
    """Like `current_principal` without loading the user: for routes that read through the cache."""
    token = _bearer_token(credentials)
    async with runtime.database.read_transaction() as session:
        return await service.authenticate_session(session, clock=runtime.clock, token=token)


CurrentSession = Annotated[AuthSession, Depends(current_session)]
