"""The payments API at the HTTP boundary: authentication, Idempotency-Key, the 202 contract,
object-level authorization (another user's payment does not exist for you), keyset pagination newest
first, and validation in the one error shape (DESIGN §3, promise 7)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.accounts.wire import assert_error, bearer, new_key
from tests.integration.payments.flow import new_user, post_payment

VALID: dict[str, Any] = {"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa"}


async def test_creating_a_payment_needs_a_session(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/payments", json=VALID, headers={"Idempotency-Key": new_key()})
    assert_error(response, 401)
    bad_token = await client.post("/v1/payments", json=VALID,
                                  headers={**bearer("not-a-token"), "Idempotency-Key": new_key()})
    assert_error(bad_token, 401)


async def test_creating_a_payment_needs_an_idempotency_key(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    assert_error(await client.post("/v1/payments", json=VALID, headers=auth), 400)


async def test_a_payment_is_accepted_pending_and_a_replay_returns_the_same_one(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    key = new_key()
    first = await client.post("/v1/payments", json={**VALID, "description": "Pro plan"},
                              headers={**auth, "Idempotency-Key": key})
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["id"].startswith("pay_")
    assert (body["status"], body["amount"], body["currency"], body["amount_refunded"]) == ("pending", 2000, "usd", 0)
    assert body["description"] == "Pro plan"
    replay = await client.post("/v1/payments", json={**VALID, "description": "Pro plan"},
                               headers={**auth, "Idempotency-Key": key})
    assert (replay.status_code, replay.json()["id"]) == (202, body["id"])
    assert replay.headers.get("idempotent-replayed") == "true"
    shown = await client.get(f"/v1/payments/{body['id']}", headers=auth)
    assert shown.status_code == 200 and shown.json()["id"] == body["id"]
    listed = (await client.get("/v1/payments", headers=auth)).json()
    assert [p["id"] for p in listed["data"]] == [body["id"]]  # the replay created nothing


async def test_another_users_payment_does_not_exist_for_you(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    payment = await post_payment(client, auth)
    other = bearer(await new_user(client))

    assert_error(await client.get(f"/v1/payments/{payment['id']}", headers=other), 404, "payment_not_found")
    assert_error(await client.get("/v1/payments/pay_doesnotexist", headers=auth), 404, "payment_not_found")
    assert (await client.get("/v1/payments", headers=other)).json() == {"data": [], "next_cursor": None}
    assert_error(await client.get(f"/v1/payments/{payment['id']}"), 401)


async def test_listing_pages_newest_first_by_cursor_without_duplicates_or_gaps(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    created = [(await post_payment(client, auth, amount=100 + i))["id"] for i in range(7)]
    other = bearer(await new_user(client))
    await post_payment(client, other)  # never on our pages

    first = (await client.get("/v1/payments", params={"limit": 3}, headers=auth)).json()
    late = (await post_payment(client, auth))["id"]  # newer than the cursor: on no later page
    seen = [p["id"] for p in first["data"]]
    cursor = first["next_cursor"]
    for _ in range(10):  # bounded: the 4 left take 2 more pages
        if cursor is None:
            break
        response = await client.get("/v1/payments", params={"limit": 3, "cursor": cursor}, headers=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        assert 0 < len(page["data"]) <= 3
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]

    assert seen == list(reversed(created))  # newest first, each exactly once
    everything = (await client.get("/v1/payments", params={"limit": 100}, headers=auth)).json()
    assert [p["id"] for p in everything["data"]] == [late, *reversed(created)]
    assert everything["next_cursor"] is None


BAD_CURSORS = ["not-base64!", "bm90IGEgY3Vyc29y", "MjAyNi0wMS0wMXxub3RfYV9wYXltZW50", "x" * 201]


async def test_a_bad_cursor_is_a_400_and_a_limit_out_of_range_a_422(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    for cursor in BAD_CURSORS[:3]:
        assert_error(await client.get("/v1/payments", params={"cursor": cursor}, headers=auth), 400)
    assert_error(await client.get("/v1/payments", params={"cursor": BAD_CURSORS[3]}, headers=auth), 422)
    for limit in (0, 101):
        assert_error(await client.get("/v1/payments", params={"limit": limit}, headers=auth), 422,
                     "validation_error")


INVALID_CHANGES: list[dict[str, Any]] = [
    {"amount": 0},
    {"amount": -5},
    {"amount": 100_000_000},
    {"amount": "twenty"},
    {"currency": "dollars"},
    {"currency": "us"},
    {"currency": "u$d"},
    {"payment_method": "card_visa"},
    {"payment_method": None},
    {"unexpected": "field"},
    {"amount_refunded": 0},
]


async def test_invalid_payments_are_a_422_in_the_error_shape_and_create_nothing(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    bodies = [{**VALID, **change} for change in INVALID_CHANGES]
    bodies += [{k: v for k, v in VALID.items() if k != missing} for missing in VALID]
    for body in bodies:
        response = await client.post("/v1/payments", json=body, headers={**auth, "Idempotency-Key": new_key()})
        error = assert_error(response, 422, "validation_error")
        assert error["details"], (body, error)
    assert (await client.get("/v1/payments", headers=auth)).json()["data"] == []
