"""Sign-up: what the API accepts, what it refuses, and what it keeps of a password."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from seawall.accounts.models import User
from seawall.config import Settings
from seawall.runtime import Runtime
from tests.integration.accounts.wire import (
    STRONG_PASSWORD,
    assert_error,
    log_in,
    new_email,
    new_key,
    sign_up,
)


async def stored_user(runtime: Runtime, email: str) -> User | None:
    async with runtime.database.transaction() as session:
        return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def test_signup_creates_an_active_user_and_never_returns_the_password_hash(
    client: httpx.AsyncClient,
) -> None:
    email = new_email()
    response = await sign_up(client, email)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"user", "payment"} and body["payment"] is None  # a free sign-up charges nothing
    assert set(body["user"]) == {"id", "email", "status", "plan", "created_at"}
    assert body["user"]["email"] == email
    assert body["user"]["status"] == "active"
    assert body["user"]["id"].startswith("usr_")
    assert "argon2" not in response.text and STRONG_PASSWORD not in response.text


async def test_duplicate_email_is_refused_with_email_taken(client: httpx.AsyncClient) -> None:
    email = new_email()
    assert (await sign_up(client, email)).status_code == 201
    assert_error(await sign_up(client, email, "another password 123"), 409, "email_taken")
    assert_error(await sign_up(client, email.upper()), 409, "email_taken")


async def test_email_is_normalized_to_lower_case(client: httpx.AsyncClient, runtime: Runtime) -> None:
    email = new_email("MixedCase").replace("example.com", "Example.COM")
    response = await sign_up(client, email)
    assert response.status_code == 201, response.text
    assert response.json()["user"]["email"] == email.lower()
    assert await stored_user(runtime, email.lower()) is not None
    # Logging in with any casing finds the account.
    assert (await log_in(client, email.upper())).status_code == 201


async def test_unknown_fields_are_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/signups",
        json={"email": new_email(), "password": STRONG_PASSWORD, "is_admin": True},
        headers={"Idempotency-Key": new_key()},
    )
    error = assert_error(response, 422, "validation_error")
    assert any(detail["loc"][-1] == "is_admin" for detail in error["details"])


async def test_invalid_email_is_rejected(client: httpx.AsyncClient) -> None:
    assert_error(await sign_up(client, "not-an-email"), 422, "validation_error")


async def test_password_shorter_than_12_or_longer_than_128_is_rejected(client: httpx.AsyncClient) -> None:
    assert_error(await sign_up(client, new_email(), "a" * 11), 422, "validation_error")
    assert_error(await sign_up(client, new_email(), "a" * 129), 422, "validation_error")
    assert (await sign_up(client, new_email(), "a" * 12)).status_code == 201


async def test_validation_errors_never_echo_the_password(client: httpx.AsyncClient) -> None:
    secret = "s3cret-but-too-long-" * 10
    response = await sign_up(client, new_email(), secret)
    assert_error(response, 422, "validation_error")
    assert "s3cret" not in response.text


async def test_128_character_password_works_and_is_not_truncated(client: httpx.AsyncClient) -> None:
    email = new_email()
    password = "".join(chr(ord("a") + i % 26) for i in range(127)) + "Z"
    assert len(password) == 128
    assert (await sign_up(client, email, password)).status_code == 201
    assert (await log_in(client, email, password)).status_code == 201
    differs_in_last_char = password[:127] + "Y"
    assert_error(await log_in(client, email, differs_in_last_char), 401, "invalid_credentials")


async def test_body_over_the_size_limit_is_refused_with_413(client: httpx.AsyncClient, runtime: Runtime) -> None:
    limit = runtime.settings.max_body_bytes
    response = await client.post(
        "/v1/signups",
        content=b'{"email": "' + b"a" * (limit + 1) + b'@example.com", "password": "x"}',
        headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    assert_error(response, 413, "payload_too_large")


async def test_streamed_body_over_the_size_limit_is_refused_with_413(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """No Content-Length to check up front: the limit applies while the body arrives."""
    limit = runtime.settings.max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "'
        for _ in range(limit // 1024 + 2):
            yield b"a" * 1024
        yield b'@example.com"}'

    response = await client.post(
        "/v1/signups",
        content=chunks(),
        headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


PRODUCTION_HASHING = {name: Settings.model_fields[name].default
                      for name in ("argon2_time_cost", "argon2_memory_kib", "argon2_parallelism")}


@pytest.mark.parametrize("settings_overrides", [PRODUCTION_HASHING])  # not the suite's cheap parameters
async def test_password_is_stored_as_argon2id_with_at_least_owasp_minimum_parameters(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = new_email()
    assert (await sign_up(client, email)).status_code == 201
    user = await stored_user(runtime, email)
    assert user is not None
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+", user.password_hash)
    assert match, user.password_hash
    memory_kib, time_cost, parallelism = (int(group) for group in match.groups())
    assert memory_kib >= 19_456
    assert time_cost >= 2
    assert parallelism >= 1
    assert STRONG_PASSWORD not in user.password_hash
