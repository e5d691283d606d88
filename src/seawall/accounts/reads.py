"""The signed-in user's reads that may be stale, routed to a read replica or the primary (`seawall.replicas`).

- `CurrentUserReads`: the caller's `replicas.UserReads` (for services that read through the read cache,
  `UserReads.cached`, or run their reads themselves, `UserReads.run`).
- `UserReadSessionDep`: a read-only transaction for a GET route, on the database the router chooses for
  the caller (`UserReads.read_transaction`). Without a replica, exactly `web.deps.ReadSessionDep`.

Authentication itself (`accounts.auth`) always reads the primary: see `replicas.routing`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts.auth import CurrentSession
from seawall.replicas import UserReads
from seawall.web.deps import READ_ROUTER


async def current_user_reads(request: Request, auth_session: CurrentSession) -> UserReads:
    return READ_ROUTER.get(request.app.state).for_user(auth_session.user_id)


CurrentUserReads = Annotated[UserReads, Depends(current_user_reads)]


async def user_read_transaction(reads: CurrentUserReads) -> AsyncIterator[AsyncSession]:
    async with reads.read_transaction() as session:
        yield session


UserReadSessionDep = Annotated[AsyncSession, Depends(user_read_transaction, scope="function")]
