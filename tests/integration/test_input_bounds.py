"""Promise (issue 12, items 3 and 4): an integer or datetime no column can hold is bad input — a 4xx
in the one error shape — never a 500 from the database or from `datetime` arithmetic. On every
backend, through every place such a value enters: a job id in the path, the dead-letter cursor, a
keyset cursor, and a time in a body."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import assert_error, bearer, new_email, new_key, sign_up, token_for

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
BEYOND_INT64 = "99999999999999999999"


def cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def a_user(client: httpx.AsyncClient) -> dict[str, str]:
    email = new_email("bounds")
    assert (await sign_up(client, email)).status_code == 201
    return bearer(await token_for(client, email))


@pytest.mark.parametrize("job_id", [BEYOND_INT64, "9223372036854775808", "0", "-1"])
async def test_a_job_id_outside_bigint_is_a_422(client: httpx.AsyncClient, job_id: str) -> None:
    assert_error(await client.get(f"/admin/jobs/{job_id}", headers=ADMIN), 422)
    assert_error(await client.post(f"/admin/jobs/{job_id}/replay", headers=ADMIN), 422)


async def test_the_largest_bigint_job_id_is_simply_not_found(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/admin/jobs/9223372036854775807", headers=ADMIN), 404)


@pytest.mark.parametrize("cursor", [BEYOND_INT64, "0", "12a"])
async def test_a_dead_letter_cursor_outside_bigint_is_a_400(client: httpx.AsyncClient, cursor: str) -> None:
    assert_error(await client.get("/admin/jobs", params={"cursor": cursor}, headers=ADMIN), 400, "bad_request")


@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                                        "1969-12-31T23:59:59+00:00"])
async def test_a_keyset_cursor_with_an_extreme_time_is_a_400(client: httpx.AsyncClient, created_at: str) -> None:
    auth = await a_user(client)
    for path, prefix in (("/v1/payments", "pay_"), ("/v1/notifications", "ntf_"), ("/v1/webhook-endpoints", "we_")):
        answer = await client.get(path, params={"cursor": cursor_of(f"{created_at}|{prefix}x")}, headers=auth)
        assert_error(answer, 400, "bad_request")


async def test_a_recover_time_beyond_what_utc_can_hold_is_a_422(client: httpx.AsyncClient) -> None:
    auth = await a_user(client)
    answer = await client.post("/v1/webhook-endpoints/we_x/recover", json={"since": "0001-01-01T00:00:00+05:00"},
                               headers={**auth, "Idempotency-Key": new_key()})
    assert_error(answer, 422)
