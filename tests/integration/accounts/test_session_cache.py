"""Promise: bearer-token lookups are cached per process without weakening revocation. A failed
lookup is never cached; a logout or password reset in the same process takes effect at once; a
revocation committed elsewhere (another process's Runtime) takes effect within the cache's TTL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text

from seawall.accounts.session_cache import SessionCache, register
from seawall.runtime import Runtime
from tests.integration.accounts.wire import assert_error, bearer, new_email, sign_up, token_for
from tests.support.apps import StartApp, asgi_client
from tests.support.fakes import FakeTimer

TTL_SECONDS = 5.0


@dataclass
class CachedApi:
    http: httpx.AsyncClient
    sessions: SessionCache
    timer: FakeTimer


@pytest.fixture
async def session_api(started_app: StartApp) -> AsyncIterator[CachedApi]:
    """The API in process, its session cache on a timer the test moves."""
    app = await started_app()
    app_runtime: Runtime = app.state.runtime
    timer = FakeTimer()
    app_runtime.sessions = SessionCache(ttl_seconds=TTL_SECONDS, max_entries=100, timer=timer)
    register(app_runtime.database.engine.sync_engine, app_runtime.sessions)
    async with asgi_client(app) as http:
        yield CachedApi(http=http, sessions=app_runtime.sessions, timer=timer)


async def signed_in(session_api: CachedApi) -> str:
    email = new_email()
    assert (await sign_up(session_api.http, email)).status_code == 201
    return await token_for(session_api.http, email)


async def test_a_failed_lookup_is_not_cached_and_a_successful_one_is(session_api: CachedApi) -> None:
    assert_error(await session_api.http.get("/v1/me", headers=bearer("not-a-real-token")), 401, "invalid_session")
    assert len(session_api.sessions) == 0
    token = await signed_in(session_api)
    assert (await session_api.http.get("/v1/me", headers=bearer(token))).status_code == 200
    assert len(session_api.sessions) == 1


async def test_logout_in_this_process_takes_effect_at_once(session_api: CachedApi) -> None:
    token = await signed_in(session_api)
    assert (await session_api.http.get("/v1/payments", headers=bearer(token))).status_code == 200  # now cached
    assert (await session_api.http.delete("/v1/sessions/current", headers=bearer(token))).status_code == 204
    assert_error(await session_api.http.get("/v1/payments", headers=bearer(token)), 401, "invalid_session")
    assert_error(await session_api.http.get("/v1/me", headers=bearer(token)), 401, "invalid_session")


async def test_a_revocation_committed_elsewhere_takes_effect_within_the_ttl(session_api: CachedApi, runtime: Runtime
                                                                            ) -> None:
    token = await signed_in(session_api)
    assert (await session_api.http.get("/v1/me", headers=bearer(token))).status_code == 200  # now cached
    async with runtime.database.transaction() as session:  # another process revokes every session
        await session.execute(text("UPDATE auth_sessions SET revoked_at = created_at"))

    session_api.timer.seconds += TTL_SECONDS - 0.1
    assert (await session_api.http.get("/v1/me", headers=bearer(token))).status_code == 200  # inside the bound
    session_api.timer.seconds += 0.1
    assert_error(await session_api.http.get("/v1/me", headers=bearer(token)), 401, "invalid_session")
