"""OWASP API1:2023 Broken Object Level Authorization. Promise: every route that takes an object id
answers another user's object exactly as an object that does not exist — 404, nothing changed, no
job queued — so ids can neither be used nor probed across accounts.

`ATTACKS` names one request per object route; `test_every_object_route_is_attacked` reads the routes
with a path parameter from the mounted app and fails when one has no entry, so a new object route
cannot ship without this proof."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from seawall.jobs.models import Job
from seawall.runtime import Runtime
from seawall.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.integration.accounts.wire import assert_error
from tests.security.wire import Owned, User, mounted_operations, owned_objects, refund_count, with_key

Attack = Callable[[httpx.AsyncClient, Owned, User], Awaitable[httpx.Response]]


def _get(path: str) -> Attack:
    async def attack(client: httpx.AsyncClient, victim: Owned, attacker: User) -> httpx.Response:
        return await client.get(path.format(v=victim), headers=attacker.headers)
    return attack


ATTACKS: dict[tuple[str, str], Attack] = {
    ("GET", "/v1/payments/{payment_id}"): _get("/v1/payments/{v.payment_id}"),
    ("POST", "/v1/payments/{payment_id}/refunds"):
        lambda client, v, a: client.post(f"/v1/payments/{v.payment_id}/refunds", json={"amount": 100},
                                         headers=with_key(a)),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}"): _get("/v1/webhook-endpoints/{v.endpoint_id}"),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"):
        lambda client, v, a: client.delete(f"/v1/webhook-endpoints/{v.endpoint_id}", headers=a.headers),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries"):
        _get("/v1/webhook-endpoints/{v.endpoint_id}/deliveries"),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}"):
        _get("/v1/webhook-endpoints/{v.endpoint_id}/deliveries/{v.delivery_id}"),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay"):
        lambda client, v, a: client.post(f"/v1/webhook-endpoints/{v.endpoint_id}/deliveries/{v.delivery_id}/replay",
                                         headers=with_key(a)),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/recover"):
        lambda client, v, a: client.post(f"/v1/webhook-endpoints/{v.endpoint_id}/recover",
                                         json={"since": "2020-01-01T00:00:00Z"}, headers=with_key(a)),
}

# Operator routes are authorized by the operator key, not by ownership (API5 covers them).
NOT_USER_OBJECTS = ("/admin/",)


def object_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {(method, path) for method, path in mounted_operations(app)
            if "{" in path and not path.startswith(NOT_USER_OBJECTS)}


async def test_every_object_route_is_attacked(app: FastAPI) -> None:
    routes = object_routes(app)
    assert routes, "no route with a path parameter was found: the enumeration is broken"
    assert routes - set(ATTACKS) == set(), "object routes without a cross-account test: add them to ATTACKS"
    assert set(ATTACKS) - routes == set(), "ATTACKS names routes the app no longer mounts"


async def state_of(runtime: Runtime, victim: Owned) -> tuple[object, ...]:
    """What an attack could change: the victim's endpoint and delivery rows, refunds, and queued jobs."""
    async with runtime.database.transaction() as session:
        endpoint = await session.get(WebhookEndpoint, victim.endpoint_id)
        delivery = await session.get(WebhookDelivery, victim.delivery_id)
        jobs = (await session.execute(select(func.count()).select_from(Job))).scalar_one()
        endpoint_state = None if endpoint is None else (endpoint.status, endpoint.updated_at)
        delivery_state = None if delivery is None else (delivery.status, delivery.attempts, delivery.next_attempt_at)
    return endpoint_state, delivery_state, await refund_count(runtime, victim.payment_id), jobs


@pytest.mark.parametrize("route", sorted(ATTACKS), ids=lambda route: f"{route[0]} {route[1]}")
async def test_another_users_object_is_not_found_and_untouched(
    route: tuple[str, str], client: httpx.AsyncClient, runtime: Runtime,
) -> None:
    victim = await owned_objects(client, runtime, "victim")
    attacker = await owned_objects(client, runtime, "attacker")  # has objects of its own, of every kind
    before = await state_of(runtime, victim)

    error = assert_error(await ATTACKS[route](client, victim, attacker.user), 404)

    assert error["type"].endswith("not_found"), error
    assert await state_of(runtime, victim) == before
    # the owner still reaches them: the 404 was about who asked, not about the objects
    for path in (f"/v1/payments/{victim.payment_id}", f"/v1/webhook-endpoints/{victim.endpoint_id}",
                 f"/v1/webhook-endpoints/{victim.endpoint_id}/deliveries/{victim.delivery_id}"):
        assert (await client.get(path, headers=victim.user.headers)).status_code == 200, path


async def test_another_users_object_answers_as_a_missing_one(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """No existence leak: the answer for someone else's id equals the answer for an id never issued,
    apart from the id quoted in the message."""
    victim = await owned_objects(client, runtime, "victim")
    attacker = await owned_objects(client, runtime, "attacker")
    pairs = [
        (f"/v1/payments/{victim.payment_id}", "/v1/payments/pay_doesnotexist"),
        (f"/v1/webhook-endpoints/{victim.endpoint_id}", "/v1/webhook-endpoints/we_doesnotexist"),
        (f"/v1/webhook-endpoints/{victim.endpoint_id}/deliveries/{victim.delivery_id}",
         f"/v1/webhook-endpoints/{victim.endpoint_id}/deliveries/msg_doesnotexist"),
    ]
    for theirs, missing in pairs:
        answers = [await client.get(path, headers=attacker.user.headers) for path in (theirs, missing)]
        assert [(a.status_code, a.json()["error"]["type"]) for a in answers] == [
            (404, answers[1].json()["error"]["type"])] * 2, theirs


async def test_a_delivery_is_reached_only_through_its_own_endpoint(client: httpx.AsyncClient,
                                                                    runtime: Runtime) -> None:
    """The attacker's own endpoint id with the victim's delivery id: still 404 (the pair is checked)."""
    victim = await owned_objects(client, runtime, "victim")
    attacker = await owned_objects(client, runtime, "attacker")
    mixed = f"/v1/webhook-endpoints/{attacker.endpoint_id}/deliveries/{victim.delivery_id}"
    assert_error(await client.get(mixed, headers=attacker.user.headers), 404)
    assert_error(await client.post(f"{mixed}/replay", headers=with_key(attacker.user)), 404)
    # and the victim cannot reach their own delivery through the attacker's endpoint either
    assert_error(await client.get(mixed, headers=victim.user.headers), 404)


async def test_lists_hold_only_the_callers_objects(client: httpx.AsyncClient, runtime: Runtime) -> None:
    victim = await owned_objects(client, runtime, "victim")
    attacker = await owned_objects(client, runtime, "attacker")
    for path, own in [("/v1/payments", attacker.payment_id), ("/v1/webhook-endpoints", attacker.endpoint_id)]:
        listed = await client.get(path, headers=attacker.user.headers)
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["data"]] == [own]
    assert victim.payment_id != attacker.payment_id
