"""Promise: webhook endpoints are managed over the JSON API — authenticated, each user sees only
their own (404 otherwise), lists page by cursor, creation is idempotent, URLs pass the SSRF guard,
and the signing secret is returned once, at creation, and never again (not even by a replay)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from seawall.idempotency.models import IdempotencyRecord
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from tests.integration.accounts.wire import assert_error, new_key
from tests.integration.webhooks.wire import (
    ALL_TYPES,
    User,
    create_endpoint,
    endpoint,
    new_user,
    replay_headers,
)
from tests.support.fakes import FakeResolver

URL = "https://hooks.customer.test/seawall"


@pytest.fixture(autouse=True)
def public_dns(resolver: FakeResolver) -> None:
    resolver.answers["hooks.customer.test"] = ["93.184.216.34"]
    resolver.answers["internal.customer.test"] = ["10.1.2.3"]


def _secret_free(response: httpx.Response) -> None:
    assert "whsec_" not in response.text, response.text


async def test_creating_an_endpoint_returns_its_secret_once(client: httpx.AsyncClient, worker_runtime: Runtime
                                                            ) -> None:
    user = await new_user(client)
    created = await create_endpoint(client, user, URL, ["refund.created", "payment.succeeded", "refund.created"])
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("we_")
    assert body["secret"].startswith("whsec_") and body["secret_note"] is None
    assert body["url"] == URL and body["status"] == "active"
    assert body["event_types"] == ["payment.succeeded", "refund.created"]
    assert (await endpoint(worker_runtime, body["id"])).secret == body["secret"]  # stored: it signs

    one = await client.get(f"/v1/webhook-endpoints/{body['id']}", headers=user.headers)
    listed = await client.get("/v1/webhook-endpoints", headers=user.headers)
    assert one.status_code == listed.status_code == 200
    assert one.json()["id"] == body["id"] and "secret" not in one.json()
    _secret_free(one)
    _secret_free(listed)


async def test_an_idempotent_replay_does_not_reveal_the_secret(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await new_user(client)
    key = new_key()
    first = await create_endpoint(client, user, URL, key=key)
    replay = await create_endpoint(client, user, URL, key=key)
    assert first.status_code == replay.status_code == 201
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["secret"] is None and "shown only" in replay.json()["secret_note"]
    _secret_free(replay)
    assert len((await client.get("/v1/webhook-endpoints", headers=user.headers)).json()["data"]) == 1

    async with app.state.runtime.database.transaction() as session:  # nor is it kept with the response
        records = (await session.execute(select(IdempotencyRecord))).scalars().all()
    assert records and all("whsec_" not in json.dumps(r.response_body) for r in records)


async def test_idempotency_key_is_required_and_bound_to_the_request(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    missing = await client.post("/v1/webhook-endpoints", json={"url": URL, "event_types": ALL_TYPES},
                                headers=user.headers)
    assert_error(missing, 400, "idempotency_key_invalid")
    key = new_key()
    assert (await create_endpoint(client, user, URL, key=key)).status_code == 201
    assert_error(await create_endpoint(client, user, URL + "/other", key=key), 422, "idempotency_key_reused")


async def test_every_route_needs_a_session(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/v1/webhook-endpoints"), ("POST", "/v1/webhook-endpoints"),
                         ("GET", "/v1/webhook-endpoints/we_x"), ("DELETE", "/v1/webhook-endpoints/we_x"),
                         ("GET", "/v1/webhook-endpoints/we_x/deliveries"),
                         ("POST", "/v1/webhook-endpoints/we_x/deliveries/msg_x/replay"),
                         ("POST", "/v1/webhook-endpoints/we_x/recover")]:
        response = await client.request(method, path, headers={"Idempotency-Key": new_key(),
                                                               "Authorization": "Bearer nope"},
                                        json={"url": URL, "event_types": ALL_TYPES})
        assert_error(response, 401)


async def test_another_users_endpoint_does_not_exist_for_you(client: httpx.AsyncClient) -> None:
    owner, stranger = await new_user(client, "owner"), await new_user(client, "stranger")
    endpoint_id = (await create_endpoint(client, owner, URL)).json()["id"]
    base = f"/v1/webhook-endpoints/{endpoint_id}"
    assert_error(await client.get(base, headers=stranger.headers), 404, "webhook_endpoint_not_found")
    assert_error(await client.get(f"{base}/deliveries", headers=stranger.headers), 404)
    assert_error(await client.post(f"{base}/deliveries/msg_x/replay", headers=replay_headers(stranger)), 404)
    assert_error(await client.post(f"{base}/recover", json={"since": "2026-01-01T00:00:00Z"},
                                   headers=replay_headers(stranger)), 404)
    assert_error(await client.delete(base, headers=stranger.headers), 404)
    listed = (await client.get("/v1/webhook-endpoints", headers=stranger.headers)).json()
    assert listed == {"data": [], "next_cursor": None}
    assert (await client.get(base, headers=owner.headers)).status_code == 200  # untouched


async def test_deleting_an_endpoint(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    endpoint_id = (await create_endpoint(client, user, URL)).json()["id"]
    assert (await client.delete(f"/v1/webhook-endpoints/{endpoint_id}", headers=user.headers)).status_code == 204
    assert_error(await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=user.headers), 404)
    assert_error(await client.delete(f"/v1/webhook-endpoints/{endpoint_id}", headers=user.headers), 404)


async def _all_pages(client: httpx.AsyncClient, user: User) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/webhook-endpoints", params=params, headers=user.headers)).json()
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


async def test_endpoints_page_by_cursor_newest_first(client: httpx.AsyncClient, fake_clock: FakeClock) -> None:
    user = await new_user(client)
    created = []
    for n in range(5):
        created.append((await create_endpoint(client, user, f"{URL}/{n}")).json()["id"])
        fake_clock.advance(0.001)
    assert await _all_pages(client, user) == list(reversed(created))
    assert_error(await client.get("/v1/webhook-endpoints", params={"cursor": "garbage"}, headers=user.headers),
                 400)
    assert_error(await client.get("/v1/webhook-endpoints", params={"limit": 0}, headers=user.headers), 422)


async def test_pages_neither_skip_nor_repeat_endpoints_created_at_the_same_instant(client: httpx.AsyncClient
                                                                                   ) -> None:
    user = await new_user(client)
    created = {(await create_endpoint(client, user, f"{URL}/{n}")).json()["id"] for n in range(5)}
    seen = await _all_pages(client, user)
    assert len(seen) == 5 and set(seen) == created


async def test_invalid_bodies_are_refused(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    for body in [
        {"url": URL, "event_types": []},
        {"url": URL, "event_types": ["payment.exploded"]},
        {"url": URL},
        {"event_types": ["refund.created"]},
        {"url": URL, "event_types": ["refund.created"], "secret": "whsec_mine"},
    ]:
        response = await client.post("/v1/webhook-endpoints", json=body, headers=replay_headers(user))
        assert_error(response, 422)


async def test_urls_to_internal_addresses_are_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Each address class is covered in tests/unit/webhooks/test_ssrf.py; here, at the API."""
    app.state.runtime.webhooks.guard.allow_private = False
    user = await new_user(client)
    for url in [
        "http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://10.0.0.1/", "http://172.16.5.4/",
        "http://192.168.0.10/", "http://169.254.169.254/latest/meta-data/", "http://100.64.1.1/",
        "http://[::ffff:10.0.0.1]/", "http://0.0.0.0/", "https://internal.customer.test/hook",
        "ftp://hooks.customer.test/", "https://unknown.customer.test/",
    ]:
        error = assert_error(await create_endpoint(client, user, url), 422, "webhook_url_not_allowed")
        assert "10.1.2.3" not in error["message"]  # what internal names resolve to is not told
    assert (await client.get("/v1/webhook-endpoints", headers=user.headers)).json()["data"] == []


async def test_allow_private_admits_internal_urls(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert app.state.runtime.webhooks.guard.allow_private  # as the tests and the sandbox run
    user = await new_user(client)
    assert (await create_endpoint(client, user, "http://127.0.0.1:9/hook")).status_code == 201
    assert (await create_endpoint(client, user, "https://internal.customer.test/hook")).status_code == 201


async def test_the_number_of_endpoints_per_user_is_capped(client: httpx.AsyncClient, app: FastAPI) -> None:
    limit = app.state.runtime.webhooks.settings.max_endpoints_per_user
    user = await new_user(client)
    for n in range(limit):
        assert (await create_endpoint(client, user, f"{URL}/{n}")).status_code == 201
    assert_error(await create_endpoint(client, user, f"{URL}/one-more"), 422, "webhook_endpoint_limit")


