"""Log-in sessions: opaque bearer tokens, stored only as digests, revocable, expiring; no enumeration."""

from __future__ import annotations

import hashlib

import httpx
from sqlalchemy import text

from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from tests.integration.accounts.wire import (
    STRONG_PASSWORD,
    assert_error,
    bearer,
    log_in,
    new_email,
    sign_up,
    token_for,
)


async def test_login_returns_an_opaque_bearer_token_that_authenticates_me(client: httpx.AsyncClient) -> None:
    email = new_email()
    user = (await sign_up(client, email)).json()["user"]
    response = await log_in(client, email)
    assert response.status_code == 201, response.text
    session = response.json()
    assert session["token_type"] == "Bearer"
    token = session["token"]
    assert len(token) >= 32 and "." not in token  # random, not a JWT carrying claims
    assert user["id"] not in token and email not in token

    me = await client.get("/v1/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json() == user


async def test_wrong_password_and_unknown_email_get_the_identical_401(client: httpx.AsyncClient) -> None:
    email = new_email()
    assert (await sign_up(client, email)).status_code == 201
    wrong_password = await log_in(client, email, "not the right password")
    unknown_email = await log_in(client, new_email("nobody"), STRONG_PASSWORD)
    assert_error(wrong_password, 401, "invalid_credentials")
    assert_error(unknown_email, 401, "invalid_credentials")
    assert wrong_password.content == unknown_email.content
    assert wrong_password.headers.get("www-authenticate") == unknown_email.headers.get("www-authenticate")


async def test_me_without_or_with_a_bad_token_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/me"), 401)
    assert_error(await client.get("/v1/me", headers=bearer("not-a-real-token")), 401, "invalid_session")
    assert_error(await client.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)


async def test_session_token_is_stored_only_as_its_sha256_digest(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = new_email()
    assert (await sign_up(client, email)).status_code == 201
    token = await token_for(client, email)
    async with runtime.database.transaction() as session:
        rows = (await session.execute(text("SELECT * FROM auth_sessions"))).mappings().all()
    assert len(rows) == 1
    stored_values = [str(value) for value in rows[0].values()]
    assert not any(token in value for value in stored_values)
    assert rows[0]["token_digest"] == hashlib.sha256(token.encode()).hexdigest()


async def test_logout_revokes_the_session(client: httpx.AsyncClient) -> None:
    email = new_email()
    assert (await sign_up(client, email)).status_code == 201
    token = await token_for(client, email)
    other_token = await token_for(client, email)

    response = await client.delete("/v1/sessions/current", headers=bearer(token))
    assert response.status_code == 204
    assert_error(await client.get("/v1/me", headers=bearer(token)), 401, "invalid_session")
    assert_error(await client.delete("/v1/sessions/current", headers=bearer(token)), 401, "invalid_session")
    # Only that session: the user's other session still works.
    assert (await client.get("/v1/me", headers=bearer(other_token))).status_code == 200


async def test_expired_session_is_401(clocked_client: httpx.AsyncClient, fake_clock: FakeClock,
                                      runtime: Runtime) -> None:
    email = new_email()
    assert (await sign_up(clocked_client, email)).status_code == 201
    token = await token_for(clocked_client, email)
    ttl_seconds = runtime.settings.session_ttl_hours * 3600
    step = runtime.settings.session_idle_minutes * 60 / 2  # used often enough never to go idle

    elapsed = 0.0
    while elapsed + step < ttl_seconds - 1:
        fake_clock.advance(step)
        elapsed += step
        assert (await clocked_client.get("/v1/me", headers=bearer(token))).status_code == 200
    fake_clock.advance(ttl_seconds - 1 - elapsed)
    assert (await clocked_client.get("/v1/me", headers=bearer(token))).status_code == 200
    fake_clock.advance(1)
    assert_error(await clocked_client.get("/v1/me", headers=bearer(token)), 401, "invalid_session")
