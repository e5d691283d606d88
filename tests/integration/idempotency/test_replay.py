"""Replays answer from the stored response; a reused key with another payload or a refused request runs nothing twice."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
from sqlalchemy import func, select, text

from seawall.accounts.models import User
from seawall.runtime import Runtime
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import (
    STRONG_PASSWORD,
    assert_error,
    bearer,
    new_email,
    new_key,
    request_reset,
    sign_up,
)

RESET_JOB = "accounts.send_password_reset"


async def count_users(runtime: Runtime, email: str | None = None) -> int:
    query = select(func.count()).select_from(User)
    if email is not None:
        query = query.where(User.email == email)
    async with runtime.database.transaction() as session:
        return int((await session.execute(query)).scalar_one())


async def reset_jobs(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/admin/jobs", params={"limit": 200}, headers=bearer(ADMIN_KEY))
    assert response.status_code == 200, response.text
    return [job for job in response.json()["data"] if job["kind"] == RESET_JOB]


async def test_signup_replay_returns_the_original_status_and_body(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email, key = new_email(), new_key()
    first = await sign_up(client, email, key=key)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers

    for _ in range(2):
        replay = await sign_up(client, email, key=key)
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == first.json()
    assert await count_users(runtime) == 1


async def test_signup_replay_matches_the_normalized_payload(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """The same request spelled with another email casing is the same request, not a reuse."""
    email, key = new_email(), new_key()
    first = await sign_up(client, email, key=key)
    replay = await sign_up(client, email.upper(), key=key)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert await count_users(runtime) == 1


async def test_password_reset_replay_returns_the_original_answer_and_enqueues_one_job(
    client: httpx.AsyncClient,
) -> None:
    email, key = new_email(), new_key()
    first = await request_reset(client, email, key=key)
    assert first.status_code == 202
    replay = await request_reset(client, email, key=key)
    assert replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert len(await reset_jobs(client)) == 1


async def test_same_key_with_a_different_payload_is_422_idempotency_key_reused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    key = new_key()
    first_email = new_email()
    assert (await sign_up(client, first_email, key=key)).status_code == 201

    other_email = new_email()
    assert_error(await sign_up(client, other_email, key=key), 422, "idempotency_key_reused")
    assert_error(await sign_up(client, first_email, "a different password", key=key), 422,
                 "idempotency_key_reused")
    # Same body on another route is another request too.
    assert_error(await request_reset(client, first_email, key=key), 422, "idempotency_key_reused")
    assert await count_users(runtime, other_email) == 0
    assert await count_users(runtime) == 1


async def test_validation_error_stores_nothing_and_a_corrected_retry_runs(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    key = new_key()
    assert_error(await sign_up(client, "not-an-email", key=key), 422, "validation_error")
    email = new_email()
    retry = await sign_up(client, email, key=key)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert await count_users(runtime, email) == 1


async def test_refused_request_stores_nothing_and_a_corrected_retry_runs(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A 409 email_taken from inside the operation leaves no record behind for its key."""
    taken = new_email("taken")
    assert (await sign_up(client, taken)).status_code == 201
    key = new_key()
    assert_error(await sign_up(client, taken, key=key), 409, "email_taken")
    async with runtime.database.transaction() as session:
        records = (await session.execute(
            text("SELECT count(*) FROM idempotency_records WHERE key = :key"), {"key": key}
        )).scalar_one()
    assert records == 0

    # The same request again runs again (and is refused again), it is not replayed...
    again = await sign_up(client, taken, key=key)
    assert_error(again, 409, "email_taken")
    assert "idempotent-replayed" not in again.headers
    # ...and the corrected one runs and succeeds under the same key.
    corrected = new_email("corrected")
    retry = await sign_up(client, corrected, key=key)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert await count_users(runtime, corrected) == 1


async def test_stored_record_does_not_reveal_the_password(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Neither in clear nor as a fast unkeyed hash that a database copy could test guesses against."""
    key, email = new_key(), new_email()
    assert (await sign_up(client, email, STRONG_PASSWORD, key=key)).status_code == 201
    async with runtime.database.transaction() as session:
        row = (await session.execute(
            text("SELECT * FROM idempotency_records WHERE key = :key"), {"key": key}
        )).mappings().one()
    assert not any(STRONG_PASSWORD in str(value) for value in row.values())
    canonical = json.dumps({"email": email, "password": STRONG_PASSWORD}, sort_keys=True, separators=(",", ":"))
    unkeyed = hashlib.sha256(f"POST /v1/signups\n{canonical}".encode()).hexdigest()
    assert row["fingerprint"] != unkeyed
