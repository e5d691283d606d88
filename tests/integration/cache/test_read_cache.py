"""Cache-aside for `GET /v1/me` and `GET /v1/payments/{id}`: hits after a read, invalidation after
every committed write (API or worker job), owner-only entries, one load for N concurrent misses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from seawall.accounts.service import user_view_key
from seawall.payments.service import payment_view_key
from tests.integration.accounts.wire import bearer, new_email, new_key, sign_up, token_for
from tests.integration.cache.conftest import CachedApi


async def paid_user(api: CachedApi, *, card: str = "pm_card_visa") -> tuple[str, str, str]:
    """A paid sign-up: (user id, payment id, bearer token); the charge is queued, not yet made."""
    email = new_email("cached")
    response = await api.http.post(
        "/v1/signups", json={"email": email, "password": "correct horse battery staple", "plan": "pro",
                             "payment_method": card}, headers={"Idempotency-Key": new_key()})
    assert response.status_code == 202, response.text
    body = response.json()
    return body["user"]["id"], body["payment"]["id"], await token_for(api.http, email)


def loads(api: CachedApi, key: tuple[str, ...]) -> int:
    return api.runtime.cache.stats.loads_by_key.get(key, 0)


async def get_json(api: CachedApi, path: str, token: str) -> dict[str, Any]:
    response = await api.http.get(path, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_second_read_is_served_from_the_cache(api: CachedApi) -> None:
    user_id, payment_id, token = await paid_user(api)
    first = await get_json(api, "/v1/me", token)
    second = await get_json(api, "/v1/me", token)
    assert first == second and first["id"] == user_id
    assert loads(api, user_view_key(user_id)) == 1

    payment = [await get_json(api, f"/v1/payments/{payment_id}", token) for _ in range(3)]
    assert payment[0] == payment[1] == payment[2]
    assert loads(api, payment_view_key(user_id, payment_id)) == 1


async def test_a_worker_job_write_invalidates_the_cached_views(
    api: CachedApi, run_payment_jobs: Callable[[], Awaitable[None]]
) -> None:
    """The charge job (another Runtime: a worker process) settles the payment and activates the user."""
    user_id, payment_id, token = await paid_user(api)
    assert (await get_json(api, "/v1/me", token))["status"] == "pending_payment"
    assert (await get_json(api, f"/v1/payments/{payment_id}", token))["status"] == "pending"

    await run_payment_jobs()

    assert (await get_json(api, "/v1/me", token))["status"] == "active"
    assert (await get_json(api, f"/v1/payments/{payment_id}", token))["status"] == "succeeded"
    assert loads(api, user_view_key(user_id)) == 2
    assert loads(api, payment_view_key(user_id, payment_id)) == 2


async def test_an_api_write_invalidates_the_cached_views(
    api: CachedApi, run_payment_jobs: Callable[[], Awaitable[None]]
) -> None:
    """A declined sign-up charge, then paying again through the API (`POST /v1/me/plan-payments`)."""
    _user_id, payment_id, token = await paid_user(api, card="pm_card_chargeDeclined")
    await run_payment_jobs()
    assert (await get_json(api, "/v1/me", token))["status"] == "payment_failed"
    assert (await get_json(api, f"/v1/payments/{payment_id}", token))["status"] == "failed"

    retry = await api.http.post("/v1/me/plan-payments", json={"payment_method": "pm_card_visa"},
                                headers={**bearer(token), "Idempotency-Key": new_key()})
    assert retry.status_code == 202, retry.text
    assert (await get_json(api, "/v1/me", token))["status"] == "pending_payment"

    await run_payment_jobs()
    assert (await get_json(api, "/v1/me", token))["status"] == "active"
    assert (await get_json(api, f"/v1/payments/{retry.json()['id']}", token))["status"] == "succeeded"


async def test_a_refund_invalidates_the_cached_payment(
    api: CachedApi, run_payment_jobs: Callable[[], Awaitable[None]]
) -> None:
    _user_id, payment_id, token = await paid_user(api)
    await run_payment_jobs()
    before = await get_json(api, f"/v1/payments/{payment_id}", token)
    assert (before["status"], before["amount_refunded"]) == ("succeeded", 0)

    refund = await api.http.post(f"/v1/payments/{payment_id}/refunds", json={"amount": 100},
                                 headers={**bearer(token), "Idempotency-Key": new_key()})
    assert refund.status_code == 202, refund.text
    touched = await get_json(api, f"/v1/payments/{payment_id}", token)
    assert touched["updated_at"] != before["updated_at"]  # the API's write (row touched under its lock)

    await run_payment_jobs()  # the refund job settles it
    after = await get_json(api, f"/v1/payments/{payment_id}", token)
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", 100)


async def test_a_cached_payment_is_only_returned_to_its_owner(api: CachedApi) -> None:
    owner_id, payment_id, owner_token = await paid_user(api)
    await get_json(api, f"/v1/payments/{payment_id}", owner_token)  # now cached
    email = new_email("intruder")
    assert (await sign_up(api.http, email)).status_code == 201
    intruder = await token_for(api.http, email)
    for _ in range(2):
        response = await api.http.get(f"/v1/payments/{payment_id}", headers=bearer(intruder))
        assert response.status_code == 404, response.text
        assert response.json()["error"]["type"] == "payment_not_found"
    assert loads(api, payment_view_key(owner_id, payment_id)) == 1


async def test_concurrent_misses_of_one_key_load_it_once(api: CachedApi) -> None:
    user_id, payment_id, token = await paid_user(api)
    responses = await asyncio.gather(*(api.http.get(f"/v1/payments/{payment_id}", headers=bearer(token))
                                       for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    assert loads(api, payment_view_key(user_id, payment_id)) == 1


async def test_a_revoked_session_cannot_read_a_cached_view(api: CachedApi) -> None:
    _user_id, payment_id, token = await paid_user(api)
    await get_json(api, "/v1/me", token)
    await get_json(api, f"/v1/payments/{payment_id}", token)
    assert (await api.http.delete("/v1/sessions/current", headers=bearer(token))).status_code == 204
    assert (await api.http.get("/v1/me", headers=bearer(token))).status_code == 401
    assert (await api.http.get(f"/v1/payments/{payment_id}", headers=bearer(token))).status_code == 401
