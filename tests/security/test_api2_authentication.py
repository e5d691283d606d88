"""OWASP API2:2023 Broken Authentication. Promise, on every backend:
- a session ends after `SEAWALL_SESSION_IDLE_MINUTES` without a request (sliding: each use extends
  it) and at its absolute `expires_at` however busy, with the session cache on; its last use is
  written at most every `SessionTiming.refresh`, not on every request;
- logout revokes the token at once in the process that served it, and in every other process within
  the session cache's TTL;
- a password change needs the current password (403 in the one error shape, counted by the login
  quotas) and a new one under the sign-up rules, and revokes every other session of the user (the
  caller's stays); a reset confirmation revokes every session;
- repeated logins are locked out per email and per client IP (429 + Retry-After);
- tokens are stored only as SHA-256 digests (no table holds a raw token).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select, text

from seawall.accounts.models import AuthSession
from seawall.accounts.service import SessionTiming
from seawall.config import Settings
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from tests.integration.accounts.test_password_reset import confirm, mailed_token
from tests.integration.accounts.wire import (
    STRONG_PASSWORD,
    assert_error,
    bearer,
    log_in,
    new_email,
    request_reset,
    sign_up,
    token_for,
)
from tests.support.apps import StartApp, asgi_client
from tests.support.workers import RunJobs

IDLE_MINUTES = 30.0
TTL_HOURS = 2.0
NEW_PASSWORD = "another long passphrase 7"
TIMING = SessionTiming(ttl=timedelta(hours=TTL_HOURS), idle=timedelta(minutes=IDLE_MINUTES))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"session_idle_minutes": IDLE_MINUTES, "session_ttl_hours": TTL_HOURS}


@pytest.fixture
def app_clock(fake_clock: FakeClock) -> FakeClock:
    return fake_clock


async def signed_in(client: httpx.AsyncClient, email: str | None = None) -> tuple[str, str]:
    address = email or new_email("api2")
    assert (await sign_up(client, address)).status_code == 201
    return address, await token_for(client, address)


async def me(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/v1/me", headers=bearer(token))).status_code


def assert_limited(response: httpx.Response, policy: str) -> None:
    error = assert_error(response, 429, "rate_limited")
    assert error["details"]["policy"] == policy, error
    assert int(response.headers["Retry-After"]) >= 1


async def last_used_at(runtime: Runtime, token: str) -> datetime | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    async with runtime.database.read_transaction() as session:
        query = select(AuthSession.last_used_at).where(AuthSession.token_digest == digest)
        return (await session.execute(query)).scalar_one()


async def change_password(client: httpx.AsyncClient, token: str, current: str = STRONG_PASSWORD,
                          new: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post("/v1/me/password", json={"current_password": current, "new_password": new},
                             headers=bearer(token))


# -- idle and absolute expiry ----------------------------------------------------------------------

async def test_a_session_left_idle_for_the_idle_window_ends_and_each_use_extends_it(
    client: httpx.AsyncClient, fake_clock: FakeClock
) -> None:
    _, token = await signed_in(client)
    almost = IDLE_MINUTES * 60 - 1
    for _ in range(2):  # twice almost the idle window: past it in total, never idle that long
        fake_clock.advance(almost)
        assert await me(client, token) == 200
    fake_clock.advance(IDLE_MINUTES * 60)
    assert_error(await client.get("/v1/me", headers=bearer(token)), 401, "invalid_session")


async def test_an_idle_session_is_not_served_from_the_session_cache(
    client: httpx.AsyncClient, fake_clock: FakeClock, runtime: Runtime
) -> None:
    _, token = await signed_in(client)
    assert await me(client, token) == 200  # cached now (for 5 real seconds)
    assert runtime.settings.session_cache_seconds > 0
    fake_clock.advance(IDLE_MINUTES * 60)
    assert_error(await client.get("/v1/me", headers=bearer(token)), 401, "invalid_session")


async def test_a_busy_session_still_ends_at_its_absolute_expiry(client: httpx.AsyncClient,
                                                                fake_clock: FakeClock) -> None:
    _, token = await signed_in(client)
    step = IDLE_MINUTES * 60 / 2
    elapsed = 0.0
    while elapsed + step < TTL_HOURS * 3600:
        fake_clock.advance(step)
        elapsed += step
        assert await me(client, token) == 200
    fake_clock.advance(TTL_HOURS * 3600 - elapsed)
    assert_error(await client.get("/v1/me", headers=bearer(token)), 401, "invalid_session")


async def test_the_last_use_is_written_at_most_once_per_refresh_interval(
    started_app: StartApp, fake_clock: FakeClock, runtime: Runtime
) -> None:
    """Without the session cache every request reads the session; still only one in `refresh` writes."""
    app = await started_app(clock=fake_clock, session_cache_seconds=0)
    async with asgi_client(app) as http:
        _, token = await signed_in(http)
        logged_in = await last_used_at(runtime, token)
        refresh = TIMING.refresh.total_seconds()
        for _ in range(5):
            fake_clock.advance(refresh / 6)
            assert await me(http, token) == 200
        assert await last_used_at(runtime, token) == logged_in
        fake_clock.advance(refresh / 6)  # now `refresh` after the login
        assert await me(http, token) == 200
        assert await last_used_at(runtime, token) == fake_clock.now()


# -- logout ----------------------------------------------------------------------------------------

async def test_logout_revokes_the_token_here_at_once_and_in_other_processes_within_the_cache_ttl(
    client: httpx.AsyncClient, started_app: StartApp, fake_clock: FakeClock, settings: Settings
) -> None:
    with pytest.raises(ValidationError):  # the bound every process keeps is capped at 5 minutes
        Settings(session_cache_seconds=301)
    other_process = await started_app(clock=fake_clock, session_cache_seconds=1.0)
    _, token = await signed_in(client)
    async with asgi_client(other_process) as other:
        assert await me(client, token) == 200 and await me(other, token) == 200  # cached in both
        assert (await client.delete("/v1/sessions/current", headers=bearer(token))).status_code == 204
        assert_error(await client.get("/v1/me", headers=bearer(token)), 401, "invalid_session")
        await asyncio.sleep(1.1)
        assert_error(await other.get("/v1/me", headers=bearer(token)), 401, "invalid_session")
    assert_error(await client.delete("/v1/sessions/current", headers=bearer(token)), 401, "invalid_session")


# -- password change and reset ---------------------------------------------------------------------

async def test_a_password_change_revokes_every_other_session_and_keeps_the_callers(
    client: httpx.AsyncClient
) -> None:
    address, caller = await signed_in(client)
    other = await token_for(client, address)
    assert await me(client, other) == 200  # cached: the change must still end it at once
    outstanding_reset = await request_reset(client, address)
    assert outstanding_reset.status_code == 202

    changed = await change_password(client, caller)
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "password_changed"

    assert await me(client, caller) == 200
    assert_error(await client.get("/v1/me", headers=bearer(other)), 401, "invalid_session")
    assert_error(await log_in(client, address), 401, "invalid_credentials")
    assert (await log_in(client, address, NEW_PASSWORD)).status_code == 201


async def test_a_wrong_current_password_is_a_403_and_changes_nothing(client: httpx.AsyncClient) -> None:
    address, caller = await signed_in(client)
    other = await token_for(client, address)
    assert_error(await change_password(client, caller, current="not my password at all"), 403,
                 "invalid_current_password")
    assert await me(client, caller) == 200 and await me(client, other) == 200
    assert (await log_in(client, address)).status_code == 201


@pytest.mark.parametrize("body", [
    {"current_password": STRONG_PASSWORD, "new_password": "short"},  # the sign-up minimum is 12
    {"current_password": STRONG_PASSWORD, "new_password": "x" * 129},
    {"current_password": STRONG_PASSWORD, "new_password": STRONG_PASSWORD},
    {"current_password": STRONG_PASSWORD},
    {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD, "user_id": "usr_x"},
])
async def test_the_new_password_follows_the_sign_up_rules(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    address, caller = await signed_in(client)
    assert_error(await client.post("/v1/me/password", json=body, headers=bearer(caller)), 422, "validation_error")
    assert (await log_in(client, address)).status_code == 201  # unchanged


async def test_a_password_change_needs_a_session(client: httpx.AsyncClient) -> None:
    body = {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD}
    assert_error(await client.post("/v1/me/password", json=body), 401)
    assert_error(await client.post("/v1/me/password", json=body, headers=bearer("forged")), 401, "invalid_session")


async def test_password_guesses_through_a_password_change_spend_the_login_quota(
    started_app: StartApp, fake_clock: FakeClock
) -> None:
    app = await started_app(clock=fake_clock, rate_limit_login_per_email="3/minute")
    async with asgi_client(app) as http:
        address, caller = await signed_in(http)  # the login spent 1 of 3
        for _ in range(2):
            assert_error(await change_password(http, caller, current="guess number one"), 403)
        assert_limited(await change_password(http, caller), "login-email-60s")  # even the right one
        assert_limited(await log_in(http, address), "login-email-60s")  # and logins for that account
        assert await me(http, caller) == 200  # the session itself is not locked


async def test_a_confirmed_reset_revokes_every_session(
    client: httpx.AsyncClient, settings: Settings, run_jobs: RunJobs
) -> None:
    address, first = await signed_in(client)
    second = await token_for(client, address)
    assert await me(client, first) == 200 and await me(client, second) == 200
    token = await mailed_token(client, settings, run_jobs, address)
    assert (await confirm(client, token, NEW_PASSWORD)).status_code == 200
    for revoked in (first, second):
        assert_error(await client.get("/v1/me", headers=bearer(revoked)), 401, "invalid_session")


# -- brute force -----------------------------------------------------------------------------------

async def test_repeated_logins_for_one_email_are_locked_out_even_with_the_right_password(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    address, _ = await signed_in(client)  # 1 login of the default 10 a minute
    for _ in range(9):
        assert_error(await log_in(client, address, "a wrong guess"), 401, "invalid_credentials")
    assert_limited(await log_in(client, address), "login-email-60s")
    assert_error(await log_in(client, new_email("other"), "a wrong guess"), 401)  # others are not locked


async def test_repeated_logins_from_one_address_are_locked_out(started_app: StartApp, fake_clock: FakeClock
                                                               ) -> None:
    app = await started_app(clock=fake_clock, rate_limit_login_per_ip="4/minute")
    async with asgi_client(app, ip="198.51.100.20") as attacker, asgi_client(app, ip="198.51.100.21") as bystander:
        for _ in range(4):
            assert_error(await log_in(attacker, new_email("spray"), "a wrong guess"), 401)
        assert_limited(await log_in(attacker, new_email("spray"), "a wrong guess"), "login-ip-60s")
        assert_error(await log_in(bystander, new_email("spray"), "a wrong guess"), 401)


# -- tokens at rest --------------------------------------------------------------------------------

async def test_no_table_holds_a_raw_session_token(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, token = await signed_in(client)
    digest = hashlib.sha256(token.encode()).hexdigest()
    async with runtime.database.read_transaction() as session:
        rows = (await session.execute(text("SELECT * FROM auth_sessions"))).mappings().all()
        users = (await session.execute(text("SELECT password_hash FROM users"))).scalars().all()
    assert [row["token_digest"] for row in rows] == [digest]
    for row in rows:
        assert not any(token in str(value) for value in row.values()), row
    assert all(value.startswith("$argon2id$") for value in users)
