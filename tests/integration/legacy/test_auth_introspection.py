"""Legacy → Seawall: a legacy session cookie reaches Seawall routes as that user, through RFC 7662
introspection at the real legacy app process (cached; one call for concurrent requests); refusals are
401, a legacy app that cannot answer is 503 for cookie-only requests while bearer tokens keep working,
and routes acting on the Seawall session refuse a legacy caller with 403."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from seawall.kit.tokens import token_digest
from tests.integration.accounts.wire import assert_error, bearer, new_email
from tests.integration.legacy.auth_rig import (
    COOKIE,
    INTROSPECTION_PATH,
    bridge_settings,
    legacy,
    legacy_log_in,
    seawall_user,
)
from tests.support.apps import StartApp, asgi_client
from tests.support.legacy_app.process import LegacyApp

__all__ = ["legacy"]  # the fixture


async def start(started_app: StartApp, legacy: LegacyApp, var_dir: Path, **overrides: Any) -> FastAPI:
    return await started_app(**bridge_settings(legacy, var_dir, legacy_session_cookie=COOKIE,
                                               legacy_session_introspection_path=INTROSPECTION_PATH,
                                               **overrides))


def cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={value}"}


def introspections(legacy: LegacyApp) -> int:
    return legacy.effects().get("session.introspected", 0)


async def test_a_legacy_session_reaches_a_seawall_route_as_that_user_and_is_cached(
        started_app: StartApp, legacy: LegacyApp, var_dir: Path) -> None:
    app = await start(started_app, legacy, var_dir, legacy_session_cache_seconds=30)
    async with asgi_client(app) as client:
        user_id, email, _token = await seawall_user(client)
        session = legacy_log_in(legacy, email)
        for _ in range(3):
            me = await client.get("/v1/me", headers=cookie(session))
            assert me.status_code == 200, me.text
            assert me.json()["id"] == user_id and me.json()["email"] == email
        assert introspections(legacy) == 1
        kept = app.state.runtime.legacy.sessions._entries
        assert token_digest(session) in kept and session not in kept  # keyed by the digest, never the value

        fresh = legacy_log_in(legacy, email)  # concurrent requests with one new cookie: one call
        answers = await asyncio.gather(*(client.get("/v1/me", headers=cookie(fresh)) for _ in range(10)))
        assert [answer.status_code for answer in answers] == [200] * 10
        assert introspections(legacy) == 2


async def test_inactive_unknown_and_expired_sessions_are_401_and_refusals_are_cached_briefly(
        started_app: StartApp, legacy: LegacyApp, var_dir: Path) -> None:
    app = await start(started_app, legacy, var_dir)
    async with asgi_client(app) as client:
        _user_id, email, _token = await seawall_user(client)
        made_up = uuid.uuid4().hex
        assert_error(await client.get("/v1/me", headers=cookie(made_up)), 401, "invalid_session")
        assert_error(await client.get("/v1/me", headers=cookie(made_up)), 401, "invalid_session")
        assert introspections(legacy) == 1  # the refusal was cached
        stranger = legacy_log_in(legacy, new_email("legacy-only"))  # active, but no such Seawall user
        assert_error(await client.get("/v1/me", headers=cookie(stranger)), 401, "invalid_session")
        ending = legacy_log_in(legacy, email, ttl_seconds=1.5)
        assert (await client.get("/v1/me", headers=cookie(ending))).status_code == 200
        time.sleep(1.6)  # past the session's `exp`: never served from the cache beyond it
        assert_error(await client.get("/v1/me", headers=cookie(ending)), 401, "invalid_session")


async def test_a_bearer_token_decides_alone(started_app: StartApp, legacy: LegacyApp, var_dir: Path) -> None:
    app = await start(started_app, legacy, var_dir)
    async with asgi_client(app) as client:
        _user_id, email, _token = await seawall_user(client)
        session = legacy_log_in(legacy, email)
        assert_error(await client.get("/v1/me", headers={**cookie(session), **bearer("not-a-real-token")}), 401,
                     "invalid_session")
        assert introspections(legacy) == 0


async def test_routes_acting_on_the_seawall_session_refuse_a_legacy_caller_with_403(
        started_app: StartApp, legacy: LegacyApp, var_dir: Path) -> None:
    app = await start(started_app, legacy, var_dir)
    async with asgi_client(app) as client:
        _user_id, email, token = await seawall_user(client)
        session = legacy_log_in(legacy, email)
        assert_error(await client.delete("/v1/sessions/current", headers=cookie(session)), 403,
                     "seawall_session_required")
        assert_error(await client.post("/v1/me/password", headers=cookie(session),
                                       json={"current_password": "x" * 12, "new_password": "y" * 16}),
                     403, "seawall_session_required")
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200  # untouched


async def test_legacy_down_cookie_requests_503_while_bearer_requests_work(
        started_app: StartApp, legacy: LegacyApp, var_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = await start(started_app, legacy, var_dir)
    async with asgi_client(app) as client:
        _user_id, email, token = await seawall_user(client)
        session = legacy_log_in(legacy, email)
        legacy.kill()
        started = time.monotonic()
        down = await client.get("/v1/me", headers=cookie(session))
        took = time.monotonic() - started
        assert_error(down, 503)
        assert down.headers["retry-after"]
        assert took < 2.0, took
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200
        # Errors are never cached: once legacy is back, the same cookie works.
        legacy.restart()
        legacy_log_in_again = legacy_log_in(legacy, email)
        assert (await client.get("/v1/me", headers=cookie(legacy_log_in_again))).status_code == 200
    logged = capsys.readouterr()
    assert "legacy session could not be checked" in logged.out + logged.err  # the 503 was logged...
    assert session not in logged.out + logged.err  # ...without the cookie


async def test_the_cookie_is_not_accepted_unless_configured(started_app: StartApp, legacy: LegacyApp,
                                                            var_dir: Path) -> None:
    app = await started_app(**bridge_settings(legacy, var_dir))
    async with asgi_client(app) as client:
        _user_id, email, _token = await seawall_user(client)
        assert_error(await client.get("/v1/me", headers=cookie(legacy_log_in(legacy, email))), 401)
        assert introspections(legacy) == 0
