"""OWASP API4:2023 Unrestricted Resource Consumption. Promise, on every backend:
- a body over `SEAWALL_MAX_BODY_BYTES` is a 413 in the one error shape, announced or streamed;
- every list route (found in the OpenAPI document, not listed by hand) takes a bounded `limit`: one
  above its maximum is a 422, never a bigger page;
- a user cannot make Seawall send without bound: charges, and webhook deliveries sent again (replay,
  recover), are limited per user id — logging in again does not reset them — and so is the number
  of webhook endpoints. (Refunds: `test_api6_business_flows`.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from seawall.config import WebhookSettings
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import assert_error, bearer, new_email, new_key, sign_up, token_for
from tests.support.apps import StartApp, asgi_client

ADMIN = bearer(ADMIN_KEY)
HOOK_URL = "http://127.0.0.1:9/hook"  # never called: nothing here runs the delivery jobs
SINCE = "2026-01-01T00:00:00Z"
PAYMENT = {"amount": 1500, "currency": "usd", "payment_method": "pm_card_visa"}


async def new_user(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = new_email("api4")
    assert (await sign_up(client, email)).status_code == 201
    return email, bearer(await token_for(client, email))


def assert_limited(response: httpx.Response, policy: str) -> None:
    error = assert_error(response, 429, "rate_limited")
    assert error["details"]["policy"] == policy, error
    assert int(response.headers["Retry-After"]) >= 1


# -- body size -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/signups", "/v1/sessions", "/v1/password-resets", "/v1/payments"])
async def test_a_body_over_the_limit_is_a_413_announced_or_streamed(client: httpx.AsyncClient, app: FastAPI,
                                                                    path: str) -> None:
    _, auth = await new_user(client)
    limit = app.state.runtime.settings.max_body_bytes
    body = b'{"email": "' + b"a" * limit + b'@example.com"}'
    headers = {**auth, "Idempotency-Key": new_key(), "Content-Type": "application/json"}
    assert_error(await client.post(path, content=body, headers=headers), 413, "payload_too_large")

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted while it arrives
        for start in range(0, len(body), 8192):
            yield body[start:start + 8192]

    assert_error(await client.post(path, content=streamed(), headers=headers), 413, "payload_too_large")


# -- page size -------------------------------------------------------------------------------------

def list_operations(app: FastAPI) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, limit parameter) of every GET whose 200 answer is a page (`data` + `next_cursor`)."""
    document = app.openapi()
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        answer = operation["responses"].get("200", {}).get("content", {}).get("application/json", {})
        ref = answer.get("schema", {}).get("$ref", "")
        properties = schemas[ref.rsplit("/", 1)[-1]].get("properties", {}) if ref else {}
        takes = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        if "next_cursor" in properties or "limit" in takes:
            assert "limit" in takes, f"GET {path} answers a page but takes no `limit`"
            yield path, takes["limit"]


def concrete(path: str) -> str:
    return path.replace("{", "x_").replace("}", "")  # any id: the limit is checked first


def test_every_list_route_is_found(app: FastAPI) -> None:
    found = {path for path, _ in list_operations(app)}
    assert {"/v1/payments", "/v1/notifications", "/v1/webhook-endpoints",
            "/v1/webhook-endpoints/{endpoint_id}/deliveries", "/admin/jobs"} <= found, found


async def test_every_list_route_refuses_a_page_over_its_maximum(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, auth = await new_user(client)
    for path, limit in list_operations(app):
        schema = limit["schema"]
        maximum = schema["maximum"]
        assert schema["minimum"] == 1 and maximum <= 200, (path, schema)
        headers = ADMIN if path.startswith("/admin") else auth
        for too_many in (maximum + 1, 10**6, 2**64):
            answer = await client.get(concrete(path), params={"limit": too_many}, headers=headers)
            assert_error(answer, 422, "validation_error")
        assert_error(await client.get(concrete(path), params={"limit": 0}, headers=headers), 422)
        at_most = await client.get(concrete(path), params={"limit": maximum}, headers=headers)
        assert at_most.status_code in (200, 404), (path, at_most.text)
        if at_most.status_code == 200:
            assert len(at_most.json()["data"]) <= maximum


# -- per-user send limits --------------------------------------------------------------------------

async def post_payment(client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
    return await client.post("/v1/payments", json=PAYMENT, headers={**auth, "Idempotency-Key": new_key()})


async def test_charges_are_limited_per_user_not_per_session(started_app: StartApp) -> None:
    app = await started_app(rate_limit_payments_per_user="3/minute")
    async with asgi_client(app) as http:
        email, auth = await new_user(http)
        assert [(await post_payment(http, auth)).status_code for _ in range(3)] == [202, 202, 202]
        assert_limited(await post_payment(http, auth), "payments-user-60s")
        again = bearer(await token_for(http, email))  # a fresh session is the same user
        assert_limited(await post_payment(http, again), "payments-user-60s")
        _, other = await new_user(http)
        assert (await post_payment(http, other)).status_code == 202  # nobody else is limited
        listed = await http.get("/v1/payments", headers=auth)
        assert len(listed.json()["data"]) == 3  # the refused ones created nothing


async def test_paying_for_the_plan_again_spends_the_same_charge_quota(started_app: StartApp) -> None:
    app = await started_app(rate_limit_payments_per_user="2/minute")
    async with asgi_client(app) as http:
        _, auth = await new_user(http)
        assert (await post_payment(http, auth)).status_code == 202
        retry = await http.post("/v1/me/plan-payments", json={"payment_method": "pm_card_visa"},
                                headers={**auth, "Idempotency-Key": new_key()})
        assert_error(retry, 422, "plan_payment_not_due")  # a free account: refused, but an attempt
        assert_limited(await post_payment(http, auth), "payments-user-60s")


def webhooks(**fields: Any) -> WebhookSettings:
    return WebhookSettings(allow_private=True, **fields)


async def create_endpoint(client: httpx.AsyncClient, auth: dict[str, str], n: int = 0) -> httpx.Response:
    return await client.post("/v1/webhook-endpoints",
                             json={"url": f"{HOOK_URL}/{n}", "event_types": ["payment.succeeded"]},
                             headers={**auth, "Idempotency-Key": new_key()})


async def test_webhook_replays_and_recoveries_are_limited_per_user(started_app: StartApp) -> None:
    app = await started_app(webhooks=webhooks(), rate_limit_webhook_sends_per_user="2/minute")
    async with asgi_client(app) as http:
        _, auth = await new_user(http)
        created = await create_endpoint(http, auth)
        assert created.status_code == 201, created.text
        endpoint = created.json()["id"]

        async def recover(who: dict[str, str], endpoint_id: str) -> httpx.Response:
            return await http.post(f"/v1/webhook-endpoints/{endpoint_id}/recover", json={"since": SINCE},
                                   headers={**who, "Idempotency-Key": new_key()})

        assert (await recover(auth, endpoint)).status_code == 202
        replay = await http.post(f"/v1/webhook-endpoints/{endpoint}/deliveries/whd_x/replay",
                                 headers={**auth, "Idempotency-Key": new_key()})
        assert_error(replay, 404)  # an attempt all the same
        assert_limited(await recover(auth, endpoint), "webhook-sends-60s")
        replay = await http.post(f"/v1/webhook-endpoints/{endpoint}/deliveries/whd_x/replay",
                                 headers={**auth, "Idempotency-Key": new_key()})
        assert_limited(replay, "webhook-sends-60s")

        _, other = await new_user(http)
        theirs = (await create_endpoint(http, other)).json()["id"]
        assert (await recover(other, theirs)).status_code == 202


async def test_the_number_of_webhook_endpoints_per_user_is_capped(started_app: StartApp) -> None:
    app = await started_app(webhooks=webhooks(max_endpoints_per_user=2))
    async with asgi_client(app) as http:
        _, auth = await new_user(http)
        assert [(await create_endpoint(http, auth, n)).status_code for n in range(2)] == [201, 201]
        assert_error(await create_endpoint(http, auth, 2), 422, "webhook_endpoint_limit")
        _, other = await new_user(http)
        assert (await create_endpoint(http, other)).status_code == 201
